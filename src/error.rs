//! The one error type tool code returns. The message is written for the model (what was wrong, what to do);
//! the kind is for code and tests. `src/server` turns it into an `isError: true` tool result.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
}

#[derive(Debug, Clone)]
pub struct ToolError {
    kind: ErrorKind,
    message: String,
}

pub type ToolResult<T> = Result<T, ToolError>;

impl ToolError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ToolError { kind, message: message.into() }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ToolError {}
