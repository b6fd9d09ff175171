//! STUB: replaced by the real output module.
#[derive(Debug, Clone)]
pub struct OutputConfig {
    pub max_chars: usize,
    pub max_line_chars: usize,
    pub error_patterns: Vec<String>,
}
impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig { max_chars: 20_000, max_line_chars: 1000, error_patterns: vec![] }
    }
}
#[derive(Debug, Clone)]
pub struct OutputPolicy {
    pub cfg: OutputConfig,
}
impl OutputPolicy {
    pub fn new(cfg: &OutputConfig) -> Result<Self, String> {
        Ok(OutputPolicy { cfg: cfg.clone() })
    }
}
