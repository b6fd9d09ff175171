//! Turns the raw output of a test run into a compact structured report.
//!
//! Pure: no I/O, no processes. Every parser accepts arbitrary text and never panics;
//! when it cannot find the framework's markers it returns `recognised = false`.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

pub(crate) use generic::parse_generic;
pub(crate) use go::parse_go_json;
pub(crate) use pytest::{parse_junit, parse_pytest_text};
pub(crate) use rust::{parse_cargo_messages, parse_libtest, parse_nextest};
pub(crate) use tap::parse_tap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Passed,
    Failed,
    /// Could not build or collect.
    Error,
    Timeout,
}

#[derive(Debug, Clone, Serialize, Default)]
pub(crate) struct Failure {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct BuildError {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    pub message: String,
}

impl BuildError {
    /// A `file:line:column: message` diagnostic, from a regex whose four groups are those parts.
    fn from_diagnostic(c: &regex::Captures<'_>) -> BuildError {
        BuildError {
            file: Some(c[1].to_string()),
            line: num(c.get(2)),
            column: num(c.get(3)),
            message: c[4].trim().to_string(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Default)]
pub(crate) struct Counts {
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
    /// Units that errored without running: pytest collection/setup errors, Go packages whose
    /// build failed, node test files that failed to load.
    pub errors: u64,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Parsed {
    pub counts: Counts,
    pub failures: Vec<Failure>,
    pub build_errors: Vec<BuildError>,
    /// The parser found the framework's markers.
    pub recognised: bool,
}

impl Parsed {
    /// Overall status given whether the process exited successfully (timeouts are the caller's to
    /// decide). Failing tests win over build errors when both are present.
    pub(crate) fn status(&self, exit_success: bool) -> Status {
        if !self.failures.is_empty() || self.counts.failed > 0 {
            Status::Failed
        } else if !self.build_errors.is_empty() || self.counts.errors > 0 {
            Status::Error
        } else if exit_success {
            Status::Passed
        } else if self.recognised && self.counts.passed + self.counts.skipped > 0 {
            // The tests all passed but the process failed anyway (e.g. a crash after the run).
            Status::Failed
        } else {
            Status::Error
        }
    }
}

/// Where a failure or error happened, as much of it as the runner said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Location {
    file: Option<String>,
    line: Option<u32>,
    column: Option<u32>,
}

impl Location {
    fn at(file: &str, line: u32) -> Location {
        Location { file: Some(file.to_string()), line: Some(line), column: None }
    }
}

const MAX_LINES: usize = 15;
const MAX_CHARS: usize = 1200;
/// Upper bound on stored entries, so that pathological input cannot blow up the report.
const MAX_ENTRIES: usize = 500;

fn re(pattern: &str) -> Regex {
    // Patterns are constants covered by the tests; an invalid one would fail every test.
    Regex::new(pattern).unwrap_or_else(|_| Regex::new("$^").expect("trivial regex"))
}

macro_rules! regex {
    ($name:ident, $pat:expr) => {
        pub(super) static $name: LazyLock<Regex> = LazyLock::new(|| re($pat));
    };
}

// After the macro, so the parsers can use it (macro_rules is scoped by text order).
mod generic;
mod go;
mod pytest;
mod rust;
mod tap;
#[cfg(test)]
mod tests;

/// Runner output without terminal colours or carriage returns (output's one ANSI stripper, then `\r` dropped).
fn strip_ansi(s: &str) -> String {
    crate::output::strip_ansi(s).replace('\r', "")
}

fn num<T: std::str::FromStr>(s: Option<regex::Match<'_>>) -> Option<T> {
    s.and_then(|m| m.as_str().trim().parse().ok())
}

fn num0(s: Option<regex::Match<'_>>) -> u64 {
    num(s).unwrap_or(0)
}

/// Trims a message: no trailing spaces, no leading/trailing blank lines, runs of blank lines
/// collapsed, at most MAX_LINES lines and MAX_CHARS characters.
fn cap_message<S: AsRef<str>>(lines: &[S]) -> String {
    let mut out: Vec<&str> = Vec::new();
    for l in lines {
        let l = l.as_ref().trim_end();
        if l.is_empty() && out.last().is_none_or(|p| p.is_empty()) {
            continue;
        }
        out.push(l);
    }
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    let total = out.len();
    let mut s = String::new();
    for (i, l) in out.iter().enumerate() {
        if i > 0 {
            s.push('\n');
        }
        if i == MAX_LINES {
            s.push_str(&format!("… ({} more lines)", total - MAX_LINES));
            break;
        }
        s.push_str(l);
    }
    if s.chars().count() > MAX_CHARS {
        let cut: String = s.chars().take(MAX_CHARS - 1).collect();
        s = format!("{cut}…");
    }
    s
}

/// Removes the common leading indentation of the non-blank lines.
fn dedent(lines: &[String]) -> Vec<String> {
    let indent =
        lines.iter().filter(|l| !l.trim().is_empty()).map(|l| l.len() - l.trim_start().len()).min().unwrap_or(0);
    lines
        .iter()
        .map(|l| {
            if l.len() >= indent && l.is_char_boundary(indent) {
                l[indent..].to_string()
            } else {
                l.trim_start().to_string()
            }
        })
        .collect()
}

/// Whether a path belongs to a toolchain, a dependency or the standard library rather than the
/// project.
fn is_foreign_path(p: &str) -> bool {
    let p = p.trim();
    p.is_empty()
        || p.starts_with('<')
        || p.starts_with("node:")
        || p.starts_with("internal/")
        || p.starts_with("/rustc/")
        || p.starts_with("/usr/lib/go")
        || p.starts_with("/usr/local/go")
        || [
            "site-packages",
            "dist-packages",
            "node_modules",
            "/lib/python",
            "/rustlib/",
            "/.cargo/registry/",
            "/.cargo/git/",
            "/.rustup/",
            "/go/pkg/mod/",
            "/library/std/",
            "/library/core/",
            "/library/alloc/",
            "/library/test/",
            "/src/testing/",
            "/src/runtime/",
        ]
        .iter()
        .any(|m| p.contains(m))
}

fn push_build_error(v: &mut Vec<BuildError>, e: BuildError) {
    if v.len() >= MAX_ENTRIES {
        return;
    }
    if !v.iter().any(|x| x.file == e.file && x.line == e.line && x.column == e.column && x.message == e.message) {
        v.push(e);
    }
}

fn push_failure(v: &mut Vec<Failure>, f: Failure) {
    if v.len() < MAX_ENTRIES && !v.iter().any(|x| x.id == f.id) {
        v.push(f);
    }
}
