//! Tool parameters as the model sends them. Doc comments become the schema's descriptions: keep them short,
//! every character here is paid for in every session's tools/list.

use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadFileParams {
    /// File path, relative to the workspace root (or absolute inside it).
    pub path: String,
    /// First line to show, 1-based (default 1).
    pub offset: Option<u64>,
    /// Lines to show (default 2000).
    pub limit: Option<u64>,
    /// Character budget for this result.
    pub max_output_chars: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListDirectoryParams {
    /// Directory (default: the workspace root).
    pub path: Option<String>,
    /// Levels to show, 1-10 (default 2).
    pub depth: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindFilesParams {
    /// Glob, e.g. `**/*.rs`, `src/**/test_*.py`; without `/` it matches file names at any depth.
    pub pattern: String,
    /// Directory to search (default: the workspace root).
    pub path: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadOutputParams {
    /// Output id named in a cut result, e.g. `o3k9x2m4q7a`.
    pub id: String,
    /// First line, 1-based.
    pub offset: Option<u64>,
    /// Lines to return.
    pub limit: Option<u64>,
    /// Regex: return only matching lines, with context.
    pub pattern: Option<String>,
    /// Context lines around each match (default 2).
    pub context: Option<usize>,
    /// Character budget for this result.
    pub max_output_chars: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunCommandParams {
    /// Shell command, run as `bash -c <command>`.
    pub command: String,
    /// Working directory inside the workspace (default: the root).
    pub cwd: Option<String>,
    /// Wall-clock limit in seconds (default 120).
    pub timeout_secs: Option<u64>,
    /// Extra environment variables.
    pub env: Option<std::collections::BTreeMap<String, String>>,
    /// Character budget for this result.
    pub max_output_chars: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteFileParams {
    /// File path; missing parent directories are created.
    pub path: String,
    /// The whole new content.
    pub content: String,
    /// Refuse if the file's version (from read_file or a write) changed since.
    pub expected_version: Option<String>,
    /// Write even if the syntax check finds new errors.
    pub allow_syntax_errors: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EditParam {
    /// Text to find; must match one place unless replace_all.
    pub old_string: String,
    pub new_string: String,
    pub replace_all: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EditFileParams {
    pub path: String,
    /// Applied in order; all or nothing.
    pub edits: Vec<EditParam>,
    /// Refuse if the file's version changed since.
    pub expected_version: Option<String>,
    /// Write even if the syntax check finds new errors.
    pub allow_syntax_errors: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UndoEditParams {
    pub path: String,
}
