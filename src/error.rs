//! The one error type tool code returns. It is made where the failure is known, with a kind that carries what
//! code needs to branch on (the candidates of an ambiguity, the versions of a stale edit, the gate's report, the
//! refusing sandbox layer, a command's status) and a message written for the model (what was wrong, what to do).
//! `src/server` renders both in one place: the message as the result's text, the kind as its `_meta`.

use std::fmt;

use serde::Serialize;

/// Why a call failed. Serialised with `kind` as the tag (snake_case) and the variant's fields beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// An argument is malformed or out of range.
    InvalidArgument,
    /// The path resolves outside the workspace root (`..`, absolute, symlink, magic link).
    OutsideWorkspace,
    NotFound,
    /// A FIFO, device, socket or directory where a regular file was needed (or the reverse).
    WrongFileType,
    PermissionDenied,
    /// The file is binary, too large, or otherwise not something the tool can show.
    Unsupported,
    /// The operation was cancelled by the client.
    Cancelled,
    /// A configured limit (jobs per session, …) is reached; the message says what holds it.
    LimitReached,
    /// Anything the kernel reported that is none of the above.
    Io,
    /// An edit's `old_string` (or a patch's context) is found nowhere. `edit` is the failing edit of an edit_file
    /// call, or file of a patch, from 1; `closest_line` is where the most similar lines start, when any are similar
    /// enough to show.
    NoMatch {
        edit: usize,
        closest_line: Option<usize>,
    },
    /// Several places match where the call needs one: the 1-based lines of an edit's matches, or the qualified
    /// names of the symbols a name could mean.
    Ambiguous {
        candidates: Vec<String>,
    },
    /// The file is not at the version the call expected; `actual` is None when it no longer exists.
    StaleVersion {
        path: String,
        expected: String,
        actual: Option<String>,
    },
    /// The write would add syntax errors; the gate's report of the new ones.
    SyntaxRefused {
        path: String,
        language: String,
        errors: Vec<Located>,
    },
    /// A sandbox layer the policy requires could not be applied, so nothing ran.
    SandboxRefused {
        layer: String,
    },
    /// A program codebox runs on the model's behalf (git) failed; its exit code, None when a signal ended it.
    CommandFailed {
        program: String,
        status: Option<i32>,
    },
    /// Undoing would overwrite changes made after codebox's write.
    UndoConflict {
        path: String,
    },
    /// No symbol has that name; the closest names there are.
    UnknownSymbol {
        name: String,
        closest: Vec<String>,
    },
}

/// A position in a file with what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Located {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl ErrorKind {
    /// The kind's name as it is serialised (`stale_version`, …).
    pub fn name(&self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::OutsideWorkspace => "outside_workspace",
            ErrorKind::NotFound => "not_found",
            ErrorKind::WrongFileType => "wrong_file_type",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::LimitReached => "limit_reached",
            ErrorKind::Io => "io",
            ErrorKind::NoMatch { .. } => "no_match",
            ErrorKind::Ambiguous { .. } => "ambiguous",
            ErrorKind::StaleVersion { .. } => "stale_version",
            ErrorKind::SyntaxRefused { .. } => "syntax_refused",
            ErrorKind::SandboxRefused { .. } => "sandbox_refused",
            ErrorKind::CommandFailed { .. } => "command_failed",
            ErrorKind::UndoConflict { .. } => "undo_conflict",
            ErrorKind::UnknownSymbol { .. } => "unknown_symbol",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ToolError {
    kind: ErrorKind,
    message: String,
}

pub(crate) type ToolResult<T> = Result<T, ToolError>;

impl ToolError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ToolError { kind, message: message.into() }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }
    pub fn message(&self) -> &str {
        &self.message
    }
    /// The kind as JSON: `{"kind": "stale_version", "path": …, "expected": …, "actual": …}`.
    pub fn kind_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.kind).unwrap_or_else(|_| serde_json::json!({ "kind": self.kind.name() }))
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ToolError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_serialise_with_their_data_and_name() {
        let e = ToolError::new(
            ErrorKind::StaleVersion { path: "a.rs".into(), expected: "v1".into(), actual: None },
            "a.rs no longer exists",
        );
        assert_eq!(
            e.kind_json(),
            serde_json::json!({"kind": "stale_version", "path": "a.rs", "expected": "v1", "actual": null})
        );
        assert_eq!(e.kind().name(), "stale_version");
        assert_eq!(ToolError::invalid("x").kind_json(), serde_json::json!({"kind": "invalid_argument"}));
    }
}
