//! STUB until the real parsers land.
use serde::Serialize;
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    Failed,
    Error,
    Timeout,
}
#[derive(Debug, Clone, Serialize, Default)]
pub struct Failure {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    pub message: String,
}
#[derive(Debug, Clone, Serialize)]
pub struct BuildError {
    pub file: Option<String>,
    pub line: Option<u32>,
    pub column: Option<u32>,
    pub message: String,
}
#[derive(Debug, Clone, Serialize, Default)]
pub struct Counts {
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
    pub errors: u64,
}
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub counts: Counts,
    pub failures: Vec<Failure>,
    pub build_errors: Vec<BuildError>,
    pub recognised: bool,
}
pub fn parse_libtest(_o: &str) -> Parsed {
    Parsed::default()
}
pub fn parse_cargo_messages(_o: &str) -> Vec<BuildError> {
    vec![]
}
pub fn parse_nextest(_o: &str) -> Parsed {
    Parsed::default()
}
pub fn parse_junit(_o: &str) -> Parsed {
    Parsed::default()
}
pub fn parse_pytest_text(_o: &str) -> Parsed {
    Parsed::default()
}
pub fn parse_go_json(_o: &str, _e: &str) -> Parsed {
    Parsed::default()
}
pub fn parse_tap(_o: &str) -> Parsed {
    Parsed::default()
}
pub fn parse_generic(_o: &str) -> Parsed {
    Parsed::default()
}
