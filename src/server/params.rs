//! Tool parameters as the model sends them. Doc comments become the schema's descriptions: keep them short,
//! every character here is paid for in every session's tools/list. Bounds the tools check are stated with
//! `#[schemars(range(..))]` from the tools' own constants, so models see them; `schema::input` makes the rest
//! portable.

use schemars::JsonSchema;
use serde::Deserialize;

use crate::search::{Case, Output};
use crate::tools::MIN_OUTPUT_CHARS;
use crate::tools::search::{MAX_CONTEXT, MAX_RESULTS};
use crate::tools::symbols::Position;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReadFileParams {
    pub path: String,
    /// First line, 1-based.
    #[schemars(range(min = 1))]
    pub offset: Option<u64>,
    /// Lines (default 2000).
    #[schemars(range(min = 1, max = crate::tools::read::MAX_LIMIT))]
    pub limit: Option<u64>,
}

// read_file's structuredContent (mirrors `tools::read::ReadInfo`); plain comments keep tools/list short.
#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
pub(crate) struct ReadFileOutput {
    pub path: String,
    pub version: String,
    pub start_line: u64,
    pub end_line: u64,
    pub total_lines: u64,
    pub next_offset: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListDirectoryParams {
    pub path: Option<String>,
    /// Default 2.
    #[schemars(range(min = 1, max = crate::tools::list::MAX_DEPTH))]
    pub depth: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FindFilesParams {
    /// Glob (`src/**/*.rs`); without `/`, names at any depth.
    pub pattern: String,
    pub path: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReadOutputParams {
    pub id: String,
    /// First line, 1-based.
    #[schemars(range(min = 1))]
    pub offset: Option<u64>,
    pub limit: Option<u64>,
    /// Regex: only matching lines, with context.
    pub pattern: Option<String>,
    /// Lines around each match (default 2).
    pub context: Option<usize>,
    #[schemars(range(min = MIN_OUTPUT_CHARS))]
    pub max_output_chars: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunCommandParams {
    pub command: String,
    pub cwd: Option<String>,
    /// Default 120.
    // The maximum is the default configuration's; the server states the configured one (`CodeboxServer::new`).
    #[schemars(range(min = 1, max = crate::config::SandboxSettings::default().max_timeout_secs))]
    pub timeout_secs: Option<u64>,
    /// Extra variables.
    pub env: Option<std::collections::BTreeMap<String, String>>,
    #[schemars(range(min = MIN_OUTPUT_CHARS))]
    pub max_output_chars: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WriteFileParams {
    pub path: String,
    pub content: String,
    /// From read_file; refused if the file changed since.
    pub expected_version: Option<String>,
    pub allow_syntax_errors: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EditParam {
    pub old_string: String,
    pub new_string: String,
    pub replace_all: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EditFileParams {
    pub path: String,
    pub edits: Vec<EditParam>,
    pub expected_version: Option<String>,
    pub allow_syntax_errors: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApplyPatchParams {
    /// `*** Begin Patch`, `*** Update File: p` (Add File, Delete File, Move to), `@@ ctx`, ` -+` lines, `*** End Patch`.
    pub patch: String,
    /// Path to version from read_file.
    pub expected_versions: Option<std::collections::BTreeMap<String, String>>,
    pub allow_syntax_errors: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UndoEditParams {
    pub path: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchParams {
    /// Rust regex (or a literal with fixed_strings).
    pub pattern: String,
    /// Directory or file.
    pub path: Option<String>,
    /// `!` excludes: "!**/tests/**".
    pub glob: Option<Vec<String>>,
    /// ripgrep type: rust, py, js, ts, go…
    #[serde(rename = "type")]
    pub file_type: Option<String>,
    #[schemars(extend("default" = "smart"))]
    pub case: Option<Case>,
    pub fixed_strings: Option<bool>,
    pub multiline: Option<bool>,
    /// Lines around each match.
    #[schemars(range(max = MAX_CONTEXT))]
    pub context: Option<usize>,
    #[schemars(extend("default" = "content"))]
    pub output: Option<Output>,
    #[schemars(range(min = 1, max = MAX_RESULTS))]
    pub max_results: Option<usize>,
    pub include_hidden: Option<bool>,
    pub include_ignored: Option<bool>,
    #[schemars(range(min = MIN_OUTPUT_CHARS))]
    pub max_output_chars: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunTestsParams {
    /// Project directory or test file (default: root).
    pub path: Option<String>,
    /// Test name, in the runner's own syntax.
    pub filter: Option<String>,
    /// Shell command instead of the detected runner.
    pub command: Option<String>,
}

// The shape of run_tests' structuredContent (mirrors `tools::run_tests::TestRun`; a test keeps them in step).
// A plain comment, not a doc comment: a doc comment would become the output schema's description, paid for in
// every tools/list and telling the model nothing.
#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
pub(crate) struct RunTestsOutput {
    pub status: String,
    pub framework: String,
    pub command: Vec<String>,
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
    pub errors: u64,
    pub duration_ms: u64,
    pub failures: Vec<TestFailureOut>,
    pub build_errors: Vec<BuildErrorOut>,
    pub omitted: usize,
    pub output_id: Option<String>,
    pub same_failures_runs: usize,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
pub(crate) struct TestFailureOut {
    pub id: String,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub message: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
pub(crate) struct BuildErrorOut {
    pub file: Option<String>,
    pub line: Option<u32>,
    pub column: Option<u32>,
    pub message: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GitStatusParams {}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WorkspaceStatusParams {}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GitDiffParams {
    pub path: Option<String>,
    pub staged: Option<bool>,
    #[schemars(range(min = MIN_OUTPUT_CHARS))]
    pub max_output_chars: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GitCommitParams {
    pub message: String,
    pub paths: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GitBranchParams {
    pub name: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct JobStartParams {
    pub command: String,
    pub cwd: Option<String>,
    pub env: Option<std::collections::BTreeMap<String, String>>,
    /// A label, usable as the id.
    pub name: Option<String>,
    /// Regex: return once a line matches.
    pub wait_for: Option<String>,
    /// Default 30 with wait_for, else 0.
    #[schemars(range(max = crate::tools::jobs::MAX_WAIT_SECS))]
    pub wait_secs: Option<u64>,
    /// Default: never.
    #[schemars(range(min = 1))]
    pub timeout_secs: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct JobOutputParams {
    pub id: String,
    /// Default: where the last read ended.
    pub cursor: Option<u64>,
    /// Regex: wait for a matching line.
    pub wait_for: Option<String>,
    #[schemars(range(max = crate::tools::jobs::MAX_WAIT_SECS))]
    pub wait_secs: Option<u64>,
    /// Last N lines of all kept output.
    #[schemars(range(min = 1, max = crate::tools::jobs::MAX_TAIL_LINES))]
    pub tail: Option<usize>,
    /// Regex over all kept output.
    pub pattern: Option<String>,
    #[schemars(range(min = MIN_OUTPUT_CHARS))]
    pub max_output_chars: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct JobInputParams {
    pub id: String,
    /// Sent to stdin (newline added).
    pub text: String,
    pub wait_for: Option<String>,
    #[schemars(range(max = crate::tools::jobs::MAX_WAIT_SECS))]
    pub wait_secs: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct JobIdParams {
    pub id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct JobListParams {}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OutlineParams {
    pub path: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FindSymbolParams {
    pub name: String,
    pub path: Option<String>,
    pub include_body: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FindReferencesParams {
    pub name: String,
    pub path: Option<String>,
}

/// Accepts `"a.rs"` as well as `["a.rs", "Parser"]` (repo_map's `focus` is a string in the schema to save
/// characters; the forgiving layer passes an array through as it came).
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(Option::<OneOrMany>::deserialize(d)?.map(|v| match v {
        // The schema says "comma-separated": split it.
        OneOrMany::One(s) => s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect(),
        OneOrMany::Many(v) => v,
    }))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RepoMapParams {
    // A string in the schema (cheaper in tools/list); an array is accepted too.
    #[serde(default, deserialize_with = "one_or_many")]
    #[schemars(with = "Option<String>")]
    pub focus: Option<Vec<String>>,
    pub max_chars: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EditSymbolParams {
    pub path: String,
    pub name: String,
    pub body: String,
    pub position: Option<Position>,
}
