//! Turns the raw output of a test run into a compact structured report.
//!
//! Pure: no I/O, no processes. Every parser accepts arbitrary text and never panics;
//! when it cannot find the framework's markers it returns `recognised = false`.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    Failed,
    /// Could not build or collect.
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Counts {
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
    /// Units that errored without running: pytest collection/setup errors, Go packages whose
    /// build failed, node test files that failed to load.
    pub errors: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub counts: Counts,
    pub failures: Vec<Failure>,
    pub build_errors: Vec<BuildError>,
    /// The parser found the framework's markers.
    pub recognised: bool,
}

impl Parsed {
    /// Overall status given whether the process exited successfully (timeouts are the caller's to
    /// decide). Failing tests win over build errors when both are present.
    pub fn status(&self, exit_success: bool) -> Status {
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
        static $name: LazyLock<Regex> = LazyLock::new(|| re($pat));
    };
}

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

// ---------------------------------------------------------------------------------------------
// Rust: libtest, cargo JSON messages, rustc human diagnostics, nextest
// ---------------------------------------------------------------------------------------------

regex!(LT_TEST, r"^test (.+?) \.\.\. (ok|FAILED|ignored(?:, .*)?|bench:.*)$");
regex!(
    LT_RESULT,
    r"test result: (?:ok|FAILED)\. (\d+) passed; (\d+) failed; (\d+) ignored; (\d+) measured(?:; (\d+) filtered out)?"
);
regex!(LT_BLOCK, r"^---- (.+?) stdout ----$");
regex!(LT_PANIC_NEW, r"^thread '([^']*)'(?: \(\d+\))? panicked at (.+?):(\d+):(\d+):\s*$");
regex!(LT_PANIC_OLD, r"^thread '([^']*)'(?: \(\d+\))? panicked at '(.*)', (.+?):(\d+):(\d+)\s*$");
regex!(LT_BT_FRAME, r"^\s*\d+: (.+)$");
regex!(LT_BT_AT, r"^\s+at (.+?):(\d+):(\d+)$");
regex!(LT_CRASH, r"process didn't exit successfully: .*\((signal: .*|exit status: .*)\)");
regex!(LT_RUNNING, r"^\s*(?:Running (?:unittests )?(\S+)|Doc-tests (\S+))");
regex!(RUSTC_ERR, r"^error(?:\[(E\d+)\])?: (.+)$");
regex!(RUSTC_LOC, r"^\s*--> (.+?):(\d+):(\d+)$");
regex!(RUSTC_LABEL, r"^\s*\d*\s*\|[\s|_\-]*\^+\s*(.*)$");

/// A parsed libtest panic: location and trimmed message.
struct Panic {
    file: Option<String>,
    line: Option<u32>,
    message: String,
}

/// Extracts the panic (or, failing that, the printed output) from a test's captured output.
fn rust_panic(lines: &[String]) -> Panic {
    let mut file = None;
    let mut line = None;
    let mut msg: Vec<String> = Vec::new();
    let mut frames: Vec<(String, String, u32)> = Vec::new(); // (function, file, line)
    let mut i = 0;
    let mut found = false;
    let mut other: Vec<String> = Vec::new();
    while i < lines.len() {
        let l = lines[i].trim_end();
        if let Some(c) = LT_PANIC_NEW.captures(l.trim_start()) {
            found = true;
            file = Some(c[2].to_string());
            line = num(c.get(3));
            i += 1;
            while i < lines.len() {
                let m = lines[i].trim_end();
                if m.starts_with("stack backtrace:") || m.starts_with("note: ") || LT_PANIC_NEW.is_match(m) {
                    break;
                }
                msg.push(m.to_string());
                i += 1;
            }
            continue;
        }
        if let Some(c) = LT_PANIC_OLD.captures(l.trim_start()) {
            found = true;
            msg.push(c[2].to_string());
            file = Some(c[3].to_string());
            line = num(c.get(4));
            i += 1;
            continue;
        }
        if let Some(c) = LT_BT_FRAME.captures(l)
            && let Some(a) = lines.get(i + 1).and_then(|n| LT_BT_AT.captures(n))
        {
            frames.push((c[1].to_string(), a[1].trim_start_matches("./").to_string(), num(a.get(2)).unwrap_or(0)));
            i += 2;
            continue;
        }
        if !found && !l.starts_with("note: ") && !l.starts_with("stack backtrace:") && !LT_BT_AT.is_match(l) {
            other.push(l.to_string());
        }
        i += 1;
    }
    let project: Vec<&(String, String, u32)> =
        frames.iter().filter(|(f, p, _)| !is_foreign_path(p) && !f.contains("{{closure}}")).collect();
    if let Some(f) = file.as_deref()
        && is_foreign_path(f)
        && let Some((_, p, l)) = project.first()
    {
        file = Some(p.clone());
        line = Some(*l);
    }
    if !found {
        return Panic { file: None, line: None, message: cap_message(&other) };
    }
    let mut out = dedent(&msg);
    while out.last().is_some_and(|l| l.trim().is_empty()) {
        out.pop();
    }
    // Where it went through the project, when the panic site alone does not tell (helpers).
    let here = format!("{}:{}", file.as_deref().unwrap_or(""), line.unwrap_or(0));
    let extra: Vec<String> = project
        .iter()
        .filter(|(_, p, l)| format!("{p}:{l}") != here)
        .take(3)
        .map(|(f, p, l)| format!("  at {f} ({p}:{l})"))
        .collect();
    out.extend(extra);
    Panic { file, line, message: cap_message(&out) }
}

fn rust_label_suffix(message: &str, label: &str) -> String {
    let label = label.trim();
    if label.is_empty()
        || label.chars().count() > 80
        || message.contains(label)
        || (label.starts_with("not found in") && message.starts_with("cannot find"))
    {
        message.to_string()
    } else {
        format!("{message}: {label}")
    }
}

/// rustc's human-readable diagnostics (`error[E0308]: …` / ` --> file:line:col`).
fn rustc_human_errors(lines: &[String]) -> Vec<BuildError> {
    let mut out = Vec::new();
    let mut unlocated = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i].trim_end();
        if let Some(c) = RUSTC_ERR.captures(l) {
            let message = c[2].trim().to_string();
            let mut loc = None;
            let mut label = String::new();
            let mut j = i + 1;
            while j < lines.len() && j < i + 40 {
                let m = lines[j].trim_end();
                if m.is_empty() || RUSTC_ERR.is_match(m) || m.starts_with("warning") {
                    break;
                }
                if loc.is_none()
                    && let Some(lc) = RUSTC_LOC.captures(m)
                {
                    loc = Some((lc[1].to_string(), num::<u32>(lc.get(2)), num::<u32>(lc.get(3))));
                } else if loc.is_some()
                    && label.is_empty()
                    && let Some(lb) = RUSTC_LABEL.captures(m)
                {
                    label = lb[1].to_string();
                }
                j += 1;
            }
            match loc {
                Some((file, line, column)) => push_build_error(
                    &mut out,
                    BuildError { file: Some(file), line, column, message: rust_label_suffix(&message, &label) },
                ),
                None => unlocated.push(message),
            }
            i = j;
            continue;
        }
        i += 1;
    }
    if out.is_empty() {
        // Build failures without a located diagnostic: linker errors, manifest errors, ...
        let noise = ["test failed, to rerun", "targets failed", "build failed", "aborting due to", "test run failed"];
        let mut msgs: Vec<&String> = unlocated.iter().filter(|m| !noise.iter().any(|n| m.contains(n))).collect();
        if msgs.iter().all(|m| m.starts_with("could not compile")) && msgs.len() > 1 {
            msgs.truncate(1);
        }
        for m in msgs {
            push_build_error(&mut out, BuildError { file: None, line: None, column: None, message: m.clone() });
        }
    }
    out
}

/// `cargo … --message-format=json` lines: compiler messages of level error.
pub fn parse_cargo_messages(stdout: &str) -> Vec<BuildError> {
    let mut out = Vec::new();
    for line in stdout.lines() {
        let line = line.trim();
        if !line.starts_with('{') || !line.contains("compiler-message") {
            continue;
        }
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if v.get("reason").and_then(|r| r.as_str()) != Some("compiler-message") {
            continue;
        }
        let Some(msg) = v.get("message") else { continue };
        let level = msg.get("level").and_then(|l| l.as_str()).unwrap_or("");
        if !level.starts_with("error") {
            continue;
        }
        let text = msg.get("message").and_then(|m| m.as_str()).unwrap_or("").trim();
        if text.starts_with("aborting due to") || text.is_empty() {
            continue;
        }
        let spans = msg.get("spans").and_then(|s| s.as_array()).cloned().unwrap_or_default();
        let primary = spans
            .iter()
            .find(|s| s.get("is_primary").and_then(|p| p.as_bool()) == Some(true))
            .or_else(|| spans.first());
        let (mut file, mut line, mut column, mut label) = (None, None, None, String::new());
        if let Some(span) = primary {
            label = span.get("label").and_then(|l| l.as_str()).unwrap_or("").to_string();
            // Errors inside a macro from a foreign file: walk up to the call site in the project.
            let mut s = span;
            for _ in 0..16 {
                let f = s.get("file_name").and_then(|f| f.as_str()).unwrap_or("");
                if !is_foreign_path(f) {
                    break;
                }
                match s.get("expansion").and_then(|e| e.get("span")) {
                    Some(next) => s = next,
                    None => break,
                }
            }
            file = s.get("file_name").and_then(|f| f.as_str()).map(str::to_string);
            line = s.get("line_start").and_then(|n| n.as_u64()).and_then(|n| u32::try_from(n).ok());
            column = s.get("column_start").and_then(|n| n.as_u64()).and_then(|n| u32::try_from(n).ok());
        }
        let message = rust_label_suffix(text, &label);
        push_build_error(&mut out, BuildError { file, line, column, message });
    }
    out
}

/// `cargo test` human output (stdout and stderr interleaved); several test binaries and doctests
/// are summed. Compile errors come from rustc's human diagnostics or, when the output holds
/// `--message-format=json` lines, from those.
pub fn parse_libtest(output: &str) -> Parsed {
    let text = strip_ansi(output);
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut p = Parsed::default();
    // Per-binary counts from `test … ... ok` lines, used when a binary printed no summary.
    let mut pending = Counts::default();
    let mut failed_ids: Vec<String> = Vec::new();
    let mut current_binary: Option<String> = None;
    let mut binary_had_result = true;
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i].trim_end();
        if let Some(c) = LT_RUNNING.captures(l) {
            p.recognised = true;
            add_counts(&mut p.counts, &std::mem::take(&mut pending));
            current_binary = c.get(1).or(c.get(2)).map(|m| m.as_str().to_string());
            binary_had_result = false;
        } else if let Some(c) = LT_TEST.captures(l) {
            p.recognised = true;
            let id = c[1].to_string();
            match &c[2] {
                "ok" => pending.passed += 1,
                "FAILED" => {
                    pending.failed += 1;
                    if !failed_ids.contains(&id) && failed_ids.len() < MAX_ENTRIES {
                        failed_ids.push(id);
                    }
                }
                s if s.starts_with("ignored") => pending.skipped += 1,
                _ => {}
            }
        } else if let Some(c) = LT_RESULT.captures(l) {
            p.recognised = true;
            binary_had_result = true;
            pending = Counts::default();
            p.counts.passed += num0(c.get(1));
            p.counts.failed += num0(c.get(2));
            p.counts.skipped += num0(c.get(3));
        } else if let Some(c) = LT_BLOCK.captures(l) {
            let id = c[1].to_string();
            let mut block = Vec::new();
            i += 1;
            while i < lines.len() {
                let m = lines[i].trim_end();
                if LT_BLOCK.is_match(m) || m == "failures:" || LT_RESULT.is_match(m) {
                    break;
                }
                block.push(m.to_string());
                i += 1;
            }
            let pn = rust_panic(&block);
            push_failure(&mut p.failures, Failure { id, file: pn.file, line: pn.line, message: pn.message });
            continue;
        } else if let Some(c) = LT_CRASH.captures(l)
            && !binary_had_result
        {
            let id = current_binary.clone().unwrap_or_else(|| "test binary".to_string());
            push_failure(
                &mut p.failures,
                Failure { id, file: None, line: None, message: format!("test binary crashed ({})", &c[1]) },
            );
            pending.failed += 1;
        }
        i += 1;
    }
    add_counts(&mut p.counts, &pending);
    // Tests reported FAILED without a captured-output block.
    for id in failed_ids {
        push_failure(&mut p.failures, Failure { id, file: None, line: None, message: "failed".into() });
    }
    let mut be = rustc_human_errors(&lines);
    for e in parse_cargo_messages(&text) {
        push_build_error(&mut be, e);
    }
    // Unlocated cargo errors only matter when nothing ran and nothing better is known.
    if p.counts.passed + p.counts.failed + p.counts.skipped > 0 || be.iter().any(|e| e.file.is_some()) {
        be.retain(|e| e.file.is_some());
    }
    if !be.is_empty() {
        p.recognised = true;
    }
    p.build_errors = be;
    p
}

fn add_counts(a: &mut Counts, b: &Counts) {
    a.passed += b.passed;
    a.failed += b.failed;
    a.skipped += b.skipped;
    a.errors += b.errors;
}

regex!(
    NX_STATUS,
    r"^\s*(PASS|FAIL|SKIP|TIMEOUT|ABORT|LEAK|LEAK-FAIL|FLAKY|SIG[A-Z]+|TRY \d+ (?:PASS|FAIL|TIMEOUT|SIG[A-Z]+|ABORT)) \[\s*[\d.]+s\] (?:\(\s*\d+/\d+\) )?(\S+) (.+?)\s*$"
);
regex!(NX_SUMMARY, r"^\s*Summary \[\s*[\d.]+s\] (.*)$");
regex!(NX_COUNT, r"(\d+) (passed|failed|skipped|timed out|flaky|leaky|exec failed)");
regex!(NX_STARTING, r"^\s*Starting \d+ tests? across");
regex!(NX_BLOCK_OLD, r"^\s*--- (STDOUT|STDERR):\s+(\S+) (.+?) ---\s*$");
regex!(NX_BLOCK_NEW, r"^\s*(stdout|stderr|output) ───\s*$");

/// `cargo nextest run` human output.
pub fn parse_nextest(output: &str) -> Parsed {
    let text = strip_ansi(output);
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut p = Parsed::default();
    let mut seen: HashSet<String> = HashSet::new();
    let mut counted = Counts::default();
    let mut summary: Option<Counts> = None;
    // Captured output per failing test.
    let mut outputs: HashMap<String, Vec<String>> = HashMap::new();
    let mut order: Vec<(String, String)> = Vec::new(); // (id, status)
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i].trim_end();
        if NX_STARTING.is_match(l) {
            p.recognised = true;
        } else if let Some(c) = NX_SUMMARY.captures(l) {
            p.recognised = true;
            let mut s = Counts::default();
            for m in NX_COUNT.captures_iter(&c[1]) {
                let n = num0(m.get(1));
                match &m[2] {
                    "passed" | "flaky" => s.passed += n,
                    "failed" | "timed out" | "exec failed" => s.failed += n,
                    "skipped" => s.skipped += n,
                    _ => {}
                }
            }
            summary = Some(s);
            // Lines after the summary only repeat the failures.
            break;
        } else if let Some(c) = NX_STATUS.captures(l) {
            p.recognised = true;
            let status = c[1].to_string();
            let id = format!("{} {}", &c[2], &c[3]);
            let is_retry = status.starts_with("TRY ");
            if !is_retry && seen.insert(id.clone()) {
                match status.as_str() {
                    "PASS" | "FLAKY" | "LEAK" => counted.passed += 1,
                    "SKIP" => counted.skipped += 1,
                    _ => counted.failed += 1,
                }
                if !matches!(status.as_str(), "PASS" | "FLAKY" | "LEAK" | "SKIP") {
                    order.push((id.clone(), status.clone()));
                }
            }
            // Output blocks that follow (new format: indented `stdout ───`).
            let mut j = i + 1;
            let mut block = Vec::new();
            while j < lines.len() {
                let m = lines[j].trim_end();
                if NX_STATUS.is_match(m) || NX_SUMMARY.is_match(m) || m.trim_start().starts_with("────") {
                    break;
                }
                if m.trim_start().starts_with("Cancelling due to") || NX_BLOCK_OLD.is_match(m) {
                    break;
                }
                block.push(m.to_string());
                j += 1;
            }
            if block.iter().any(|b| NX_BLOCK_NEW.is_match(b)) {
                outputs.entry(id).or_default().extend(block.into_iter().filter(|b| !NX_BLOCK_NEW.is_match(b)));
                i = j;
                continue;
            }
        } else if let Some(c) = NX_BLOCK_OLD.captures(l) {
            // Old format: `--- STDERR:              calc tests::x ---` followed by unindented output.
            let id = format!("{} {}", &c[2], &c[3]);
            let mut j = i + 1;
            let mut block = Vec::new();
            while j < lines.len() {
                let m = lines[j].trim_end();
                if NX_STATUS.is_match(m) || NX_SUMMARY.is_match(m) || NX_BLOCK_OLD.is_match(m) {
                    break;
                }
                block.push(m.to_string());
                j += 1;
            }
            outputs.entry(id).or_default().extend(block);
            i = j;
            continue;
        }
        i += 1;
    }
    p.counts = summary.unwrap_or(counted);
    for (id, status) in order {
        let block = outputs.remove(&id).unwrap_or_default();
        let block = dedent(&block);
        let pn = rust_panic(&block);
        let mut message = pn.message;
        if status != "FAIL" {
            let what = match status.as_str() {
                "TIMEOUT" => "timed out".to_string(),
                "LEAK-FAIL" => "leaked handles".to_string(),
                s => format!("aborted ({s})"),
            };
            message = if message.is_empty() { what } else { cap_message(&[what, message]) };
        } else if message.is_empty() {
            message = "failed".into();
        }
        push_failure(&mut p.failures, Failure { id, file: pn.file, line: pn.line, message });
    }
    let be = rustc_human_errors(&lines);
    let ran = p.counts.passed + p.counts.failed + p.counts.skipped > 0;
    p.build_errors = be.into_iter().filter(|e| e.file.is_some() || !ran).collect();
    if !p.build_errors.is_empty() {
        p.recognised = true;
    }
    p
}

// ---------------------------------------------------------------------------------------------
// pytest: JUnit XML and text
// ---------------------------------------------------------------------------------------------

regex!(PY_LOC, r"^(\S[^:]*?):(\d+): ?(?:in (\S+)|(\w[\w.]*))?\s*$");
regex!(PY_FILE_LINE, r#"^\s*File "(.+?)", line (\d+)"#);
regex!(PY_EXC, r"^\s*(?:[\w.]+\.)?(\w*(?:Error|Exception|Exit|Interrupt|Failed|Warning)|assert\b)");

struct PyTrace {
    /// Error lines (pytest's `E` lines), dedented.
    e_lines: Vec<String>,
    /// Frames: (file, line, source line marked with `>`).
    frames: Vec<(String, u32, String)>,
    /// `File "x", line N` from a SyntaxError.
    syntax_loc: Option<(String, u32)>,
}

fn py_trace(text: &str) -> PyTrace {
    let mut e_lines = Vec::new();
    let mut frames = Vec::new();
    let mut last_marked = String::new();
    let mut pending_short: Option<usize> = None; // frame index waiting for its source (short style)
    let mut syntax_loc = None;
    for raw in text.lines() {
        let l = raw.trim_end();
        if let Some(rest) = l.strip_prefix('E').filter(|r| r.is_empty() || r.starts_with(' ')) {
            let rest = rest.strip_prefix("   ").unwrap_or(rest.trim_start());
            if syntax_loc.is_none()
                && let Some(c) = PY_FILE_LINE.captures(rest)
            {
                syntax_loc = Some((c[1].to_string(), num(c.get(2)).unwrap_or(0)));
                continue;
            }
            // pytest's hints about verbosity are noise for the reader of a report.
            let rest = rest.replace(", use -vv to show", "");
            if !(rest.trim_start().starts_with("Use -v") && rest.trim_end().ends_with("diff")) {
                e_lines.push(rest);
            }
            continue;
        }
        if let Some(c) = PY_LOC.captures(l) {
            let file = c[1].to_string();
            let line: u32 = num(c.get(2)).unwrap_or(0);
            if c.get(3).is_some() {
                // short style: location first, source after
                frames.push((file, line, String::new()));
                pending_short = Some(frames.len() - 1);
            } else {
                frames.push((file, line, std::mem::take(&mut last_marked)));
                pending_short = None;
            }
            continue;
        }
        let t = l.trim_start();
        if let Some(code) = t.strip_prefix('>') {
            last_marked = code.trim().to_string();
        } else if let Some(k) = pending_short
            && !t.is_empty()
            && !t.starts_with('^')
        {
            if let Some(f) = frames.get_mut(k)
                && f.2.is_empty()
            {
                f.2 = t.to_string();
            }
            pending_short = None;
        }
    }
    PyTrace { e_lines: dedent(&e_lines), frames, syntax_loc }
}

/// Builds the message for a pytest failure: the `E` lines, then the project frames.
fn py_message(trace: &PyTrace, fallback: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    if trace.e_lines.iter().any(|l| !l.trim().is_empty()) {
        out.extend(trace.e_lines.iter().cloned());
    } else {
        out.extend(fallback.lines().map(str::to_string));
    }
    let project: Vec<&(String, u32, String)> = trace.frames.iter().filter(|(f, _, _)| !is_foreign_path(f)).collect();
    let start = project.len().saturating_sub(3);
    for (f, l, code) in &project[start..] {
        if code.is_empty() {
            out.push(format!("  at {f}:{l}"));
        } else {
            out.push(format!("  at {f}:{l}: {code}"));
        }
    }
    cap_message(&out)
}

/// Where a pytest failure happened: the last frame in the test's own file, else the first
/// project frame.
fn py_location(trace: &PyTrace, test_file: Option<&str>) -> (Option<String>, Option<u32>) {
    if let Some(tf) = test_file
        && let Some((f, l, _)) = trace.frames.iter().rev().find(|(f, _, _)| f == tf || f.ends_with(&format!("/{tf}")))
    {
        return (Some(f.clone()), Some(*l));
    }
    if let Some((f, l, _)) = trace.frames.iter().find(|(f, _, _)| !is_foreign_path(f)) {
        return (Some(f.clone()), Some(*l));
    }
    (test_file.map(str::to_string), None)
}

/// A collection error (SyntaxError/ImportError while importing a test module).
fn py_collection_error(text: &str, fallback_file: Option<String>, fallback_msg: &str) -> BuildError {
    let trace = py_trace(text);
    let (file, line) = if let Some((f, l)) = &trace.syntax_loc {
        (Some(f.clone()), Some(*l))
    } else if let Some((f, l, _)) = trace.frames.iter().rev().find(|(f, _, _)| !is_foreign_path(f)) {
        (Some(f.clone()), Some(*l))
    } else {
        (fallback_file, None)
    };
    let mut lines: Vec<String> = trace.e_lines.clone();
    if lines.is_empty() {
        // Not a traceback: keep the first meaningful lines (e.g. "ImportError while importing …").
        lines = text.lines().filter(|l| !l.trim().is_empty()).take(MAX_LINES).map(str::to_string).collect();
    }
    // Lead with the exception line, then the context.
    if let Some(k) = lines.iter().rposition(|l| PY_EXC.is_match(l))
        && k > 0
    {
        let exc = lines.remove(k);
        lines.insert(0, exc);
    }
    let message = if lines.is_empty() { fallback_msg.to_string() } else { cap_message(&lines) };
    BuildError { file, line, column: None, message }
}

/// `tests.test_calc` + `TestOps` → `tests/test_calc.py::TestOps`, using the file paths seen in the
/// traceback when possible.
fn py_id(classname: &str, name: &str, file_attr: Option<&str>, trace: &PyTrace) -> (String, Option<String>) {
    if classname.is_empty() {
        return (name.to_string(), file_attr.map(str::to_string));
    }
    let segs: Vec<&str> = classname.split('.').collect();
    let module_of = |path: &str| path.trim_end_matches(".py").replace(['/', '\\'], ".");
    let mut file: Option<String> = file_attr.map(str::to_string);
    let mut split = None;
    if let Some(f) = &file {
        let m = module_of(f);
        if let Some(k) = (1..=segs.len()).rev().find(|&k| segs[..k].join(".") == m) {
            split = Some(k);
        }
    }
    if split.is_none() {
        for (f, _, _) in &trace.frames {
            let m = module_of(f);
            if let Some(k) = (1..=segs.len()).rev().find(|&k| {
                let prefix = segs[..k].join(".");
                m == prefix || m.ends_with(&format!(".{prefix}"))
            }) {
                split = Some(k);
                if file.is_none() {
                    file = Some(format!("{}.py", segs[..k].join("/")));
                }
                break;
            }
        }
    }
    let k = split.unwrap_or_else(|| {
        segs.iter().position(|s| s.chars().next().is_some_and(|c| c.is_ascii_uppercase())).unwrap_or(segs.len()).max(1)
    });
    let path = file.clone().unwrap_or_else(|| format!("{}.py", segs[..k].join("/")));
    let mut id = path.clone();
    for s in &segs[k..] {
        id.push_str("::");
        id.push_str(s);
    }
    id.push_str("::");
    id.push_str(name);
    (id, Some(path))
}

#[derive(Default)]
struct JCase {
    classname: String,
    name: String,
    file: Option<String>,
    line: Option<u32>,
    outcome: Option<(String, String, String)>, // (kind, message attr, text)
}

fn xml_entity(name: &str) -> Option<char> {
    match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => None,
    }
}

/// JUnit XML (pytest `--junit-xml`, and most other JUnit producers).
pub fn parse_junit(xml: &str) -> Parsed {
    use quick_xml::Reader;
    use quick_xml::events::Event;

    let mut p = Parsed::default();
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = false;
    let mut is_pytest = false;
    let mut cases: Vec<JCase> = Vec::new();
    let mut current: Option<JCase> = None;
    let mut in_outcome = false;
    let mut outcome_text = String::new();
    let mut suite_counts: Option<Counts> = None;

    let attrs = |e: &quick_xml::events::BytesStart<'_>| -> HashMap<String, String> {
        let mut m = HashMap::new();
        for a in e.attributes().flatten() {
            let k = String::from_utf8_lossy(a.key.local_name().as_ref()).to_string();
            let v = a
                .unescape_value()
                .map(|v| v.into_owned())
                .unwrap_or_else(|_| String::from_utf8_lossy(&a.value).to_string());
            m.insert(k, v);
        }
        m
    };
    let mut guard = 0usize;
    loop {
        guard += 1;
        if guard > 5_000_000 {
            break;
        }
        let ev = match reader.read_event() {
            Ok(ev) => ev,
            Err(_) => break,
        };
        let is_empty = matches!(ev, Event::Empty(_));
        match ev {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) => {
                let tag = String::from_utf8_lossy(e.local_name().as_ref()).to_string();
                let a = attrs(&e);
                match tag.as_str() {
                    "testsuites" | "testsuite" => {
                        p.recognised = true;
                        if a.get("name").is_some_and(|n| n.starts_with("pytest")) {
                            is_pytest = true;
                        }
                        if tag == "testsuite" {
                            let g = |k: &str| a.get(k).and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(0);
                            let sc = suite_counts.get_or_insert_with(Counts::default);
                            let (t, f, er, s) = (g("tests"), g("failures"), g("errors"), g("skipped"));
                            sc.failed += f;
                            sc.errors += er;
                            sc.skipped += s;
                            sc.passed += t.saturating_sub(f + er + s);
                        }
                    }
                    "testcase" => {
                        p.recognised = true;
                        if let Some(c) = current.take() {
                            cases.push(c);
                        }
                        let case = JCase {
                            classname: a.get("classname").cloned().unwrap_or_default(),
                            name: a.get("name").cloned().unwrap_or_default(),
                            file: a.get("file").cloned(),
                            line: a.get("line").and_then(|l| l.parse().ok()),
                            outcome: None,
                        };
                        if is_empty {
                            cases.push(case);
                        } else {
                            current = Some(case);
                        }
                    }
                    "failure" | "error" | "skipped" => {
                        if let Some(c) = current.as_mut()
                            && c.outcome.is_none()
                        {
                            c.outcome =
                                Some((tag.clone(), a.get("message").cloned().unwrap_or_default(), String::new()));
                            in_outcome = !is_empty;
                            outcome_text.clear();
                        }
                    }
                    _ => {}
                }
            }
            Event::Text(t) if in_outcome => {
                outcome_text.push_str(&t.decode().map(|c| c.into_owned()).unwrap_or_default());
            }
            Event::CData(t) if in_outcome => {
                outcome_text.push_str(&t.decode().map(|c| c.into_owned()).unwrap_or_default());
            }
            Event::GeneralRef(r) if in_outcome => {
                if let Ok(Some(ch)) = r.resolve_char_ref() {
                    outcome_text.push(ch);
                } else if let Some(ch) = r.decode().ok().and_then(|n| xml_entity(&n)) {
                    outcome_text.push(ch);
                }
            }
            Event::End(e) => {
                let tag = String::from_utf8_lossy(e.local_name().as_ref()).to_string();
                match tag.as_str() {
                    "failure" | "error" | "skipped" if in_outcome => {
                        if let Some(c) = current.as_mut()
                            && let Some(o) = c.outcome.as_mut()
                        {
                            o.2 = std::mem::take(&mut outcome_text);
                        }
                        in_outcome = false;
                    }
                    "testcase" => {
                        if let Some(c) = current.take() {
                            cases.push(c);
                        }
                        in_outcome = false;
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        if cases.len() > 100_000 {
            break;
        }
    }
    if let Some(c) = current.take() {
        cases.push(c);
    }

    let mut counts = Counts::default();
    for c in &cases {
        let kind = c.outcome.as_ref().map(|o| o.0.as_str()).unwrap_or("");
        match kind {
            "failure" => counts.failed += 1,
            "error" => counts.errors += 1,
            "skipped" => counts.skipped += 1,
            _ => counts.passed += 1,
        }
        let Some((kind, msg_attr, body)) = &c.outcome else { continue };
        if kind == "skipped" {
            continue;
        }
        let trace = py_trace(body);
        let collection = kind == "error"
            && (c.classname.is_empty() || msg_attr == "collection failure")
            && (msg_attr == "collection failure" || !c.name.starts_with("test"));
        if collection {
            let module_file = if c.name.contains('/') || c.name.ends_with(".py") {
                c.name.clone()
            } else {
                format!("{}.py", c.name.replace('.', "/"))
            };
            let mut e = py_collection_error(body, c.file.clone().or(Some(module_file)), msg_attr);
            if e.line.is_none() {
                e.line = c.line;
            }
            push_build_error(&mut p.build_errors, e);
            continue;
        }
        let (id, test_file) = if is_pytest || c.file.is_some() {
            py_id(&c.classname, &c.name, c.file.as_deref(), &trace)
        } else if c.classname.is_empty() {
            (c.name.clone(), None)
        } else {
            (format!("{}.{}", c.classname, c.name), None)
        };
        let (mut file, mut line) = py_location(&trace, test_file.as_deref());
        if line.is_none() && c.line.is_some() {
            line = c.line.map(|l| l + u32::from(is_pytest)); // pytest's junit line is 0-based
            file = c.file.clone().or(file);
        }
        let mut message = py_message(&trace, if msg_attr.is_empty() { body } else { msg_attr });
        if kind == "error" && !msg_attr.is_empty() && !message.contains(msg_attr.lines().next().unwrap_or("")) {
            message = cap_message(&[msg_attr.clone(), message]);
        }
        if message.is_empty() {
            message = kind.clone();
        }
        push_failure(&mut p.failures, Failure { id, file, line, message });
    }
    p.counts = if cases.is_empty() { suite_counts.unwrap_or_default() } else { counts };
    p
}

regex!(PY_SUMMARY_ITEM, r"^(FAILED|ERROR|XPASS|XFAIL) (\S+)(?: - (.*))?$");
regex!(
    PY_FINAL,
    r"^=*\s*(.*?\d+ (?:failed|passed|skipped|errors?|deselected|xfailed|xpassed|warnings?).*?) in [\d.]+s(?: \([^)]*\))?\s*=*$"
);
regex!(PY_NO_TESTS, r"^=*\s*no tests ran in [\d.]+s\s*=*$");
regex!(PY_COUNT, r"(\d+) (failed|passed|skipped|errors?|xfailed|xpassed)");
regex!(PY_SECTION, r"^=+ (.+?) =+$");
regex!(PY_HEADER, r"^_{2,} (.+?) _{2,}$");

/// pytest's text output (fallback when there is no XML report).
pub fn parse_pytest_text(output: &str) -> Parsed {
    let text = strip_ansi(output);
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let mut p = Parsed::default();
    let mut section = String::new();
    // Blocks from the FAILURES / ERRORS sections, by header.
    let mut blocks: Vec<(String, String, Vec<&str>)> = Vec::new(); // (section, header, lines)
    let mut items: Vec<(String, String, String)> = Vec::new(); // (kind, id, reason)
    for l in &lines {
        if let Some(c) = PY_FINAL.captures(l) {
            p.recognised = true;
            let mut counts = Counts::default();
            for m in PY_COUNT.captures_iter(&c[1]) {
                let n = num0(m.get(1));
                match &m[2] {
                    "failed" => counts.failed += n,
                    "passed" | "xpassed" => counts.passed += n,
                    "skipped" | "xfailed" => counts.skipped += n,
                    _ => counts.errors += n,
                }
            }
            p.counts = counts;
            continue;
        }
        if PY_NO_TESTS.is_match(l) {
            p.recognised = true;
            continue;
        }
        if let Some(c) = PY_SECTION.captures(l) {
            section = c[1].trim().to_string();
            if matches!(section.as_str(), "FAILURES" | "ERRORS" | "short test summary info" | "test session starts") {
                p.recognised = true;
            }
            continue;
        }
        if (section == "FAILURES" || section == "ERRORS")
            && let Some(c) = PY_HEADER.captures(l)
        {
            blocks.push((section.clone(), c[1].to_string(), Vec::new()));
            continue;
        }
        if section == "short test summary info" {
            if let Some(c) = PY_SUMMARY_ITEM.captures(l) {
                items.push((
                    c[1].to_string(),
                    c[2].to_string(),
                    c.get(3).map(|m| m.as_str().to_string()).unwrap_or_default(),
                ));
            }
            continue;
        }
        if let Some(b) = blocks.last_mut()
            && (section == "FAILURES" || section == "ERRORS")
        {
            b.2.push(l);
        }
    }
    let block_for = |id: &str, want_section: &str| -> Option<String> {
        let tail = id.split("::").skip(1).collect::<Vec<_>>().join(".");
        let file = id.split("::").next().unwrap_or(id);
        blocks
            .iter()
            .find(|(s, h, _)| {
                s == want_section
                    && (h == &tail
                        || (!tail.is_empty() && h.ends_with(&format!(" {tail}")))
                        || h.ends_with(&format!(" {file}")))
            })
            .map(|(_, _, b)| b.join("\n"))
    };
    let mut used_blocks = false;
    for (kind, id, reason) in &items {
        match kind.as_str() {
            "FAILED" => {
                let body = block_for(id, "FAILURES").unwrap_or_default();
                used_blocks |= !body.is_empty();
                let trace = py_trace(&body);
                let test_file = id.split("::").next().map(str::to_string);
                let (file, line) = py_location(&trace, test_file.as_deref());
                let message = py_message(&trace, reason);
                push_failure(&mut p.failures, Failure { id: id.clone(), file, line, message });
            }
            "ERROR" if !id.contains("::") => {
                let body = block_for(id, "ERRORS").unwrap_or_default();
                let mut e = py_collection_error(&body, Some(id.clone()), reason);
                if e.message.is_empty() {
                    e.message = if reason.is_empty() { "collection error".into() } else { reason.clone() };
                }
                push_build_error(&mut p.build_errors, e);
            }
            "ERROR" => {
                let body = block_for(id, "ERRORS").unwrap_or_default();
                let trace = py_trace(&body);
                let test_file = id.split("::").next().map(str::to_string);
                let (file, line) = py_location(&trace, test_file.as_deref());
                let message = py_message(&trace, reason);
                push_failure(&mut p.failures, Failure { id: id.clone(), file, line, message });
            }
            _ => {}
        }
    }
    // No short summary (e.g. `-rN`): fall back to the FAILURES headers.
    if items.is_empty() && !used_blocks {
        for (s, h, b) in &blocks {
            let body = b.join("\n");
            if s == "ERRORS" && h.starts_with("ERROR collecting ") {
                let f = h.trim_start_matches("ERROR collecting ").to_string();
                push_build_error(&mut p.build_errors, py_collection_error(&body, Some(f), "collection error"));
            } else {
                let trace = py_trace(&body);
                let (file, line) = py_location(&trace, None);
                push_failure(&mut p.failures, Failure { id: h.clone(), file, line, message: py_message(&trace, "") });
            }
        }
    }
    p
}

// ---------------------------------------------------------------------------------------------
// Go
// ---------------------------------------------------------------------------------------------

regex!(GO_TLOG, r"^\s+(\S+?\.go):(\d+): (.*)$");
regex!(GO_BUILD, r"^(\S+?\.go):(\d+)(?::(\d+))?: (.+)$");
regex!(GO_PKG_HEADER, r"^# (\S+)");
regex!(GO_STACK_AT, r"^\s+(\S+?\.go):(\d+)(?: \+0x[0-9a-f]+)?$");

#[derive(Default)]
struct GoTest {
    output: Vec<String>,
    result: Option<String>,
}

/// `go test -json ./...`: events on stdout; build errors as plain text (stderr, or
/// `build-output` events with newer Go).
pub fn parse_go_json(stdout: &str, stderr: &str) -> Parsed {
    let mut p = Parsed::default();
    let mut tests: HashMap<(String, String), GoTest> = HashMap::new();
    let mut order: Vec<(String, String)> = Vec::new();
    let mut packages: Vec<String> = Vec::new();
    let mut pkg_output: HashMap<String, Vec<String>> = HashMap::new();
    let mut pkg_result: HashMap<String, String> = HashMap::new();
    let mut plain: Vec<String> = Vec::new();
    for line in stdout.lines() {
        let t = line.trim();
        let v = if t.starts_with('{') { serde_json::from_str::<serde_json::Value>(t).ok() } else { None };
        let Some(v) = v else {
            plain.push(strip_ansi(line));
            continue;
        };
        let action = v.get("Action").and_then(|a| a.as_str()).unwrap_or("");
        if action.is_empty() {
            continue;
        }
        p.recognised = true;
        let pkg = v.get("Package").or_else(|| v.get("ImportPath")).and_then(|a| a.as_str()).unwrap_or("").to_string();
        let out = v.get("Output").and_then(|a| a.as_str()).unwrap_or("");
        if action == "build-output" {
            plain.extend(out.lines().map(str::to_string));
            continue;
        }
        if !pkg.is_empty() && !packages.contains(&pkg) && packages.len() < MAX_ENTRIES {
            packages.push(pkg.clone());
        }
        match v.get("Test").and_then(|a| a.as_str()) {
            Some(test) => {
                let key = (pkg.clone(), test.to_string());
                if !tests.contains_key(&key) {
                    if tests.len() >= 10_000 {
                        continue;
                    }
                    order.push(key.clone());
                }
                let entry = tests.entry(key).or_default();
                match action {
                    "output" if entry.output.len() < 400 => {
                        entry.output.extend(out.lines().map(str::to_string));
                    }
                    "pass" | "fail" | "skip" => entry.result = Some(action.to_string()),
                    _ => {}
                }
            }
            None => match action {
                "output" => {
                    let o = pkg_output.entry(pkg).or_default();
                    if o.len() < 400 {
                        o.extend(out.lines().map(str::to_string));
                    }
                }
                "pass" | "fail" | "skip" => {
                    pkg_result.insert(pkg, action.to_string());
                }
                _ => {}
            },
        }
    }
    let several = packages.len() > 1;
    let id_of =
        |pkg: &str, test: &str| if several && !pkg.is_empty() { format!("{pkg}.{test}") } else { test.to_string() };
    let has_children = |pkg: &str, test: &str| {
        let prefix = format!("{test}/");
        order.iter().any(|(p2, t2)| p2 == pkg && t2.starts_with(&prefix))
    };
    let mut failing_pkgs: HashSet<String> = HashSet::new();
    for key in &order {
        let Some(t) = tests.get(key) else { continue };
        let (pkg, name) = key;
        let parent = has_children(pkg, name);
        match t.result.as_deref() {
            Some("pass") if !parent => p.counts.passed += 1,
            Some("skip") if !parent => p.counts.skipped += 1,
            Some("fail") => {
                failing_pkgs.insert(pkg.clone());
                let (msg, file, line) = go_test_message(&t.output);
                // A parent that failed only because of its subtests is not reported itself.
                if parent && msg.is_empty() {
                    continue;
                }
                p.counts.failed += 1;
                push_failure(
                    &mut p.failures,
                    Failure {
                        id: id_of(pkg, name),
                        file,
                        line,
                        message: if msg.is_empty() { "failed".into() } else { msg },
                    },
                );
            }
            // Started but never finished: the package binary died (panic elsewhere, timeout).
            None if !parent && pkg_result.get(pkg).map(String::as_str) == Some("fail") => {
                failing_pkgs.insert(pkg.clone());
                let (msg, file, line) = go_test_message(&t.output);
                let pkg_msg = go_package_message(pkg_output.get(pkg).map(Vec::as_slice).unwrap_or(&[]));
                p.counts.failed += 1;
                let message = cap_message(&[msg, pkg_msg]);
                push_failure(
                    &mut p.failures,
                    Failure {
                        id: id_of(pkg, name),
                        file,
                        line,
                        message: if message.is_empty() { "did not finish".into() } else { message },
                    },
                );
            }
            _ => {}
        }
    }
    // Build errors: `# pkg` headers followed by `file.go:line:col: message`.
    let mut build_pkgs: HashSet<String> = HashSet::new();
    let mut cur_pkg: Option<String> = None;
    let all_plain: Vec<String> = plain.into_iter().chain(strip_ansi(stderr).lines().map(str::to_string)).collect();
    let mut unlocated: Vec<String> = Vec::new();
    for l in &all_plain {
        let l = l.trim_end();
        if let Some(c) = GO_PKG_HEADER.captures(l) {
            cur_pkg = Some(c[1].to_string());
            p.recognised = true;
            continue;
        }
        if let Some(c) = GO_BUILD.captures(l) {
            if let Some(pk) = &cur_pkg {
                build_pkgs.insert(pk.clone());
            }
            p.recognised = true;
            push_build_error(
                &mut p.build_errors,
                BuildError {
                    file: Some(c[1].to_string()),
                    line: num(c.get(2)),
                    column: num(c.get(3)),
                    message: c[4].trim().to_string(),
                },
            );
            continue;
        }
        if l.starts_with("FAIL\t") && l.ends_with("[build failed]") || l.ends_with("[setup failed]") {
            p.recognised = true;
            if let Some(pk) = l.split('\t').nth(1) {
                build_pkgs
                    .insert(pk.trim_end_matches(" [build failed]").trim_end_matches(" [setup failed]").to_string());
            }
            continue;
        }
        let t = l.trim();
        if !t.is_empty()
            && (t.starts_with("go: ")
                || t.starts_with("pattern ")
                || t.contains("no Go files")
                || t.starts_with("package "))
        {
            unlocated.push(t.to_string());
        }
    }
    // Count each package that failed to build once (ignore the `[pkg.test]` variant duplicates).
    let build_pkg_names: HashSet<String> =
        build_pkgs.iter().map(|s| s.split_whitespace().next().unwrap_or(s).to_string()).collect();
    p.counts.errors += build_pkg_names.len() as u64;
    if p.build_errors.is_empty() && order.is_empty() {
        for m in unlocated {
            p.recognised = true;
            push_build_error(&mut p.build_errors, BuildError { file: None, line: None, column: None, message: m });
        }
    }
    // Packages that failed without any failing test (TestMain exit, init panic, timeout).
    for pkg in &packages {
        if pkg_result.get(pkg).map(String::as_str) == Some("fail")
            && !failing_pkgs.contains(pkg)
            && !build_pkg_names.contains(pkg)
        {
            let out = pkg_output.get(pkg).map(Vec::as_slice).unwrap_or(&[]);
            let message = go_package_message(out);
            if message.contains("[build failed]") || message.contains("[setup failed]") {
                continue;
            }
            p.counts.failed += 1;
            push_failure(
                &mut p.failures,
                Failure {
                    id: pkg.clone(),
                    file: None,
                    line: None,
                    message: if message.is_empty() { "package failed".into() } else { message },
                },
            );
        }
    }
    p
}

/// A Go test's own output → (message, file, line).
fn go_test_message(output: &[String]) -> (String, Option<String>, Option<u32>) {
    let mut file = None;
    let mut line = None;
    let mut msg: Vec<String> = Vec::new();
    let mut in_stack = false;
    let mut stack_project: Vec<String> = Vec::new();
    let mut last_fn = String::new();
    for l in output {
        let t = l.trim_end();
        let ts = t.trim_start();
        if ts.starts_with("=== RUN")
            || ts.starts_with("=== PAUSE")
            || ts.starts_with("=== CONT")
            || ts.starts_with("=== NAME")
            || ts.starts_with("--- FAIL")
            || ts.starts_with("--- PASS")
            || ts.starts_with("--- SKIP")
        {
            continue;
        }
        if ts.starts_with("goroutine ") && ts.ends_with(':') {
            in_stack = true;
            continue;
        }
        if in_stack {
            if let Some(c) = GO_STACK_AT.captures(t) {
                if !is_foreign_path(&c[1]) {
                    if file.is_none() {
                        file = Some(c[1].to_string());
                        line = num(c.get(2));
                    }
                    if stack_project.len() < 3 {
                        stack_project.push(format!("  at {} ({}:{})", last_fn, &c[1], &c[2]));
                    }
                }
            } else {
                last_fn = ts.split('(').next().unwrap_or(ts).to_string();
            }
            continue;
        }
        if file.is_none()
            && let Some(c) = GO_TLOG.captures(t)
        {
            file = Some(c[1].to_string());
            line = num(c.get(2));
        }
        if ts.starts_with("panic: ") && ts.ends_with(" [recovered]") {
            // Go prints the panic twice; keep the plain one that follows.
            continue;
        }
        msg.push(ts.to_string());
    }
    msg.extend(stack_project);
    (cap_message(&msg), file, line)
}

/// Package-level output without the noise (`FAIL`, `ok`, `exit status`).
fn go_package_message(output: &[String]) -> String {
    let lines: Vec<&str> = output
        .iter()
        .map(|l| l.trim_end())
        .filter(|l| {
            let t = l.trim();
            !(t.is_empty()
                || t == "FAIL"
                || t == "PASS"
                || t.starts_with("FAIL\t")
                || t.starts_with("ok  \t")
                || t.starts_with("exit status")
                || t.starts_with("=== ")
                || t.starts_with("--- "))
        })
        .collect();
    let mut out = Vec::new();
    let mut in_stack = false;
    for l in lines {
        if l.starts_with("goroutine ") {
            in_stack = true;
        }
        if !in_stack {
            out.push(l.trim().to_string());
        }
    }
    cap_message(&out)
}

// ---------------------------------------------------------------------------------------------
// TAP (node --test --test-reporter=tap, and generic TAP producers)
// ---------------------------------------------------------------------------------------------

regex!(TAP_LINE, r"^(\s*)(not ok|ok)\b\s*(\d+)?\s*(?:-\s*)?(.*?)$");
regex!(TAP_SUMMARY, r"^# (tests|pass|fail|skipped|todo|cancelled|suites) (\d+)\s*$");
regex!(TAP_PLAN, r"^\s*1\.\.\d+");
regex!(JS_FRAME, r"^\s*(?:at\s+)?(?:(.*?) \()?((?:file://)?[^\s()]+?):(\d+):(\d+)\)?\s*$");
regex!(JS_FILE_LINE, r"^(/\S+|[A-Za-z]:\\\S+|\.{0,2}/?\S+\.[cm]?[jt]sx?):(\d+)$");

struct TapEntry {
    indent: usize,
    ok: bool,
    name: String,
    directive: String,
    yaml: Vec<String>,
    comments_before: Vec<String>,
    path: Vec<String>,
    has_children: bool,
}

/// Minimal YAML reader for TAP diagnostics: top-level `key: value` pairs, with block scalars
/// (`|-`, `|`, `>-`) and nested maps kept as raw text.
fn tap_yaml(lines: &[String]) -> HashMap<String, String> {
    let mut m = HashMap::new();
    let base = lines.iter().filter(|l| !l.trim().is_empty()).map(|l| l.len() - l.trim_start().len()).min().unwrap_or(0);
    let mut i = 0;
    while i < lines.len() {
        let l = &lines[i];
        let ind = l.len() - l.trim_start().len();
        let t = l.trim();
        if ind != base || t.is_empty() {
            i += 1;
            continue;
        }
        let Some((k, v)) = t.split_once(':') else {
            i += 1;
            continue;
        };
        let key = k.trim().to_string();
        let v = v.trim();
        i += 1;
        let mut block = Vec::new();
        while i < lines.len() {
            let n = &lines[i];
            let nind = n.len() - n.trim_start().len();
            if !n.trim().is_empty() && nind <= base {
                break;
            }
            block.push(n.clone());
            i += 1;
        }
        let value = if v.starts_with('|') || v.starts_with('>') || v.is_empty() {
            dedent(&block).join("\n").trim_end().to_string()
        } else if let Some(s) = v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
            s.replace("''", "'")
        } else if let Some(s) = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
            serde_json::from_str::<String>(&format!("\"{s}\"")).unwrap_or_else(|_| s.to_string())
        } else {
            v.to_string()
        };
        m.insert(key, value);
    }
    m
}

fn split_location(loc: &str) -> (Option<String>, Option<u32>, Option<u32>) {
    let loc = loc.trim().trim_start_matches("file://");
    let mut parts = loc.rsplitn(3, ':');
    let c = parts.next();
    let l = parts.next();
    let f = parts.next();
    match (f, l, c) {
        (Some(f), Some(l), Some(c)) if l.parse::<u32>().is_ok() && c.parse::<u32>().is_ok() => {
            (Some(f.to_string()), l.parse().ok(), c.parse().ok())
        }
        _ => match loc.rsplit_once(':') {
            Some((f, l)) if l.parse::<u32>().is_ok() => (Some(f.to_string()), l.parse().ok(), None),
            _ => (if loc.is_empty() { None } else { Some(loc.to_string()) }, None, None),
        },
    }
}

fn looks_like_path(name: &str) -> bool {
    let n = name.trim();
    let exts = [".js", ".mjs", ".cjs", ".ts", ".mts", ".cts", ".jsx", ".tsx"];
    (n.contains('/') || n.contains('\\')) && exts.iter().any(|e| n.ends_with(e)) && !n.contains(' ')
}

/// TAP, as printed by `node --test --test-reporter=tap` (node 20): `ok`/`not ok` lines with YAML
/// diagnostics; subtests are indented. A test file that fails to load is a failing top-level
/// entry named after the file; it is reported as a build error.
pub fn parse_tap(output: &str) -> Parsed {
    let text = strip_ansi(output);
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut p = Parsed::default();
    let mut entries: Vec<TapEntry> = Vec::new();
    let mut summary: HashMap<String, u64> = HashMap::new();
    let mut comments: Vec<String> = Vec::new();
    // Names announced by `# Subtest: name` at each indent, for building the path.
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i].trim_end();
        if l.trim_start().starts_with("TAP version") || TAP_PLAN.is_match(l) {
            p.recognised = true;
            i += 1;
            continue;
        }
        if let Some(c) = TAP_SUMMARY.captures(l) {
            p.recognised = true;
            summary.insert(c[1].to_string(), num0(c.get(2)));
            i += 1;
            continue;
        }
        if let Some(c) = TAP_LINE.captures(l) {
            p.recognised = true;
            let indent = c[1].len();
            let ok = &c[2] == "ok";
            let rest = c[4].to_string();
            let (name, directive) = match rest.split_once(" # ") {
                Some((n, d)) => (n.trim().to_string(), d.trim().to_string()),
                None => match rest.strip_prefix("# ") {
                    Some(d) => (String::new(), d.to_string()),
                    None => (rest.trim().to_string(), String::new()),
                },
            };
            let name = name.replace("\\#", "#");
            // YAML block directly after, indented 2 more than the test line.
            let mut yaml = Vec::new();
            let mut j = i + 1;
            if lines.get(j).is_some_and(|n| n.trim() == "---") {
                j += 1;
                while j < lines.len() && lines[j].trim() != "..." && j < i + 2000 {
                    yaml.push(lines[j].clone());
                    j += 1;
                }
                j += 1;
            }
            while stack.last().is_some_and(|(ind, _)| *ind > indent) {
                stack.pop();
            }
            let mut path: Vec<String> = stack.iter().filter(|(ind, _)| *ind < indent).map(|(_, n)| n.clone()).collect();
            path.push(name.clone());
            // Mark the parent (the nearest enclosing entry is the next one at a smaller indent,
            // which comes later in TAP: handled below by `has_children`).
            if entries.len() < 10_000 {
                entries.push(TapEntry {
                    indent,
                    ok,
                    name,
                    directive,
                    yaml,
                    comments_before: std::mem::take(&mut comments),
                    path,
                    has_children: false,
                });
            }
            i = j.max(i + 1);
            continue;
        }
        let t = l.trim_start();
        if let Some(name) = t.strip_prefix("# Subtest: ") {
            let indent = l.len() - t.len();
            while stack.last().is_some_and(|(ind, _)| *ind >= indent) {
                stack.pop();
            }
            stack.push((indent, name.trim().to_string()));
        } else if let Some(c) = t.strip_prefix('#') {
            if comments.len() < 200 {
                comments.push(c.strip_prefix(' ').unwrap_or(c).to_string());
            }
        } else if t.starts_with("Bail out!") {
            p.recognised = true;
            push_failure(
                &mut p.failures,
                Failure { id: "Bail out!".into(), file: None, line: None, message: t.to_string() },
            );
        }
        i += 1;
    }
    // A TAP entry has children if entries at a deeper indent precede it directly.
    for k in 0..entries.len() {
        if k > 0 && entries[k - 1].indent > entries[k].indent {
            entries[k].has_children = true;
        }
    }
    let mut counted = Counts::default();
    let mut load_failures = 0u64;
    for e in &entries {
        let y = tap_yaml(&e.yaml);
        let dir = e.directive.to_ascii_lowercase();
        let skip = dir.starts_with("skip") || dir.starts_with("todo");
        let is_suite = y.get("type").is_some_and(|t| t == "suite") || e.has_children;
        if !is_suite {
            if skip {
                counted.skipped += 1;
            } else if e.ok {
                counted.passed += 1;
            } else {
                counted.failed += 1;
            }
        }
        if e.ok || skip {
            continue;
        }
        if y.get("failureType").is_some_and(|t| t == "subtestsFailed") {
            continue;
        }
        if e.indent == 0 && looks_like_path(&e.name) && (y.contains_key("exitCode") || is_suite_free_load_error(e)) {
            load_failures += 1;
            push_build_error(&mut p.build_errors, tap_load_error(e, &y));
            continue;
        }
        if is_suite && !y.contains_key("error") {
            continue;
        }
        let id = e.path.iter().filter(|s| !s.is_empty()).cloned().collect::<Vec<_>>().join(" > ");
        let id = if id.is_empty() { e.name.clone() } else { id };
        let (file, line) = tap_failure_location(&y);
        let message = tap_message(&y, e);
        push_failure(&mut p.failures, Failure { id, file, line, message });
    }
    if summary.contains_key("pass") || summary.contains_key("fail") {
        let g = |k: &str| summary.get(k).copied().unwrap_or(0);
        p.counts = Counts {
            passed: g("pass"),
            failed: (g("fail") + g("cancelled")).saturating_sub(load_failures),
            skipped: g("skipped") + g("todo"),
            errors: load_failures,
        };
    } else {
        counted.failed = counted.failed.saturating_sub(load_failures);
        counted.errors = load_failures;
        p.counts = counted;
    }
    p
}

fn is_suite_free_load_error(e: &TapEntry) -> bool {
    e.comments_before.iter().any(|c| c.contains("SyntaxError") || c.contains("Cannot find module"))
}

fn tap_load_error(e: &TapEntry, y: &HashMap<String, String>) -> BuildError {
    let c = &e.comments_before;
    // node prints `path:line`, the source line, a caret line, then `SyntaxError: …`.
    let mut file = None;
    let mut line = None;
    let mut column = None;
    let mut message = String::new();
    for (k, l) in c.iter().enumerate() {
        if file.is_none()
            && let Some(m) = JS_FILE_LINE.captures(l.trim())
        {
            file = Some(m[1].trim_start_matches("file://").to_string());
            line = num(m.get(2));
            if let (Some(src), Some(caret)) = (c.get(k + 1), c.get(k + 2))
                && caret.trim() == "^"
                && !src.trim().is_empty()
            {
                column = caret.find('^').map(|x| x as u32 + 1);
            }
            continue;
        }
        if message.is_empty() && PY_EXC.is_match(l.trim()) && l.contains(':') && !l.trim_start().starts_with("at ") {
            message = l.trim().to_string();
        }
    }
    if message.is_empty()
        && let Some(err) = y.get("error")
    {
        message = err.clone();
    }
    // Show the offending source line after the error.
    if let Some((src, _)) = c.iter().zip(c.iter().skip(1)).find(|(_, caret)| caret.trim() == "^") {
        message = cap_message(&[message, format!("  {}", src.trim())]);
    }
    if file.is_none() {
        let (f, l, col) = split_location(y.get("location").map(String::as_str).unwrap_or(&e.name));
        file = f.or_else(|| Some(e.name.clone()));
        line = l;
        column = col;
    }
    BuildError {
        file,
        line,
        column,
        message: if message.is_empty() { "test file failed to load".into() } else { message },
    }
}

/// The failing line: the first stack frame in the test's file (the assertion), else `location`.
fn tap_failure_location(y: &HashMap<String, String>) -> (Option<String>, Option<u32>) {
    let (loc_file, loc_line, _) = split_location(y.get("location").map(String::as_str).unwrap_or(""));
    if let (Some(lf), Some(stack)) = (&loc_file, y.get("stack")) {
        for l in stack.lines() {
            if let Some(c) = JS_FRAME.captures(l)
                && c[2].trim_start_matches("file://") == lf.as_str()
            {
                return (Some(lf.clone()), num(c.get(3)));
            }
        }
    }
    (loc_file, loc_line)
}

fn tap_message(y: &HashMap<String, String>, e: &TapEntry) -> String {
    let mut out: Vec<String> = Vec::new();
    let name = y.get("name").cloned().unwrap_or_default();
    let error = y.get("error").cloned().unwrap_or_default();
    let first = error.lines().next().unwrap_or("");
    if !name.is_empty() && !first.starts_with(&name) && name != "AssertionError" {
        out.push(format!("{name}: {first}"));
        out.extend(error.lines().skip(1).map(str::to_string));
    } else {
        out.extend(error.lines().map(str::to_string));
    }
    for k in ["actual", "expected"] {
        if let Some(v) = y.get(k)
            && !v.contains('\n')
            && !v.is_empty()
        {
            out.push(format!("{k}: {v}"));
        }
    }
    if name != "AssertionError"
        && let Some(stack) = y.get("stack")
    {
        let frames: Vec<String> = stack
            .lines()
            .filter_map(|l| {
                let c = JS_FRAME.captures(l)?;
                let f = c[2].trim_start_matches("file://");
                if is_foreign_path(f) {
                    return None;
                }
                Some(format!("  at {} ({}:{})", c.get(1).map(|m| m.as_str()).unwrap_or("<anonymous>"), f, &c[3]))
            })
            .take(3)
            .collect();
        out.extend(frames);
    }
    if out.iter().all(|l| l.trim().is_empty()) {
        out = e.comments_before.iter().rev().take(MAX_LINES).rev().cloned().collect();
    }
    let msg = cap_message(&out);
    if msg.is_empty() { "failed".into() } else { msg }
}

// ---------------------------------------------------------------------------------------------
// Generic
// ---------------------------------------------------------------------------------------------

regex!(GEN_PLAIN, r"^\s*(?:\w+:\s*)?(\d+) passed, (\d+) failed(?:, (\d+) skipped)?\s*$");
regex!(GEN_JEST, r"^\s*Tests:\s+(.*\d+ total.*)$");
regex!(GEN_VITEST, r"^\s*Tests\s+(.*)\(\d+\)\s*$");
regex!(GEN_MOCHA, r"^\s*(\d+) (passing|failing|pending)\b");
regex!(GEN_RSPEC, r"^\s*(\d+) examples?, (\d+) failures?(?:, (\d+) pending)?");
regex!(GEN_MINITEST, r"^\s*(\d+) (?:runs|tests), \d+ assertions, (\d+) failures, (\d+) errors, (\d+) skips");
regex!(GEN_EXUNIT, r"^\s*(\d+) tests?, (\d+) failures?(?:, (\d+) skipped)?\s*$");
regex!(GEN_CTEST, r"^\s*\d+% tests passed, (\d+) tests? failed out of (\d+)");
regex!(GEN_MAVEN, r"Tests run: (\d+), Failures: (\d+), Errors: (\d+), Skipped: (\d+)");
regex!(GEN_UNITTEST_RAN, r"^Ran (\d+) tests? in ");
regex!(GEN_UNITTEST_RES, r"^(OK|FAILED)(?: \((.*)\))?\s*$");
regex!(GEN_KV, r"(failures|errors|skipped|expected failures|unexpected successes)=(\d+)");
regex!(GEN_COUNT_WORD, r"(\d+) (passed|failed|skipped|todo|pending)");
regex!(GEN_CC_ERR, r"^(\S+?):(\d+):(\d+): (?:fatal )?error: (.+)$");
regex!(GEN_TSC_ERR, r"^(\S+?)\((\d+),(\d+)\): error (.+)$");

/// Any other runner: recognises the common summary lines (and delegates to a specific parser when
/// the output is clearly one of the known formats); else counts stay 0 and `recognised = false`.
pub fn parse_generic(output: &str) -> Parsed {
    let text = strip_ansi(output);
    if text.contains("Summary [") && (text.contains("tests run:") || text.contains("test run:")) {
        return parse_nextest(&text);
    }
    if LT_RESULT.is_match(&text) && text.contains("running ") {
        return parse_libtest(&text);
    }
    if text.contains("short test summary info")
        || text.lines().any(|l| PY_FINAL.is_match(l.trim_end()) && l.starts_with('='))
    {
        return parse_pytest_text(&text);
    }
    if text.lines().any(|l| l.trim_start().starts_with("TAP version")) {
        return parse_tap(&text);
    }
    let mut p = Parsed::default();
    let mut counts = Counts::default();
    let mut ran: Option<u64> = None;
    for l in text.lines() {
        let l = l.trim_end();
        if let Some(c) = GEN_PLAIN.captures(l) {
            counts = Counts { passed: num0(c.get(1)), failed: num0(c.get(2)), skipped: num0(c.get(3)), errors: 0 };
            p.recognised = true;
        } else if let Some(c) = GEN_JEST.captures(l).or_else(|| GEN_VITEST.captures(l)) {
            let mut cc = Counts::default();
            for m in GEN_COUNT_WORD.captures_iter(&c[1]) {
                let n = num0(m.get(1));
                match &m[2] {
                    "passed" => cc.passed += n,
                    "failed" => cc.failed += n,
                    _ => cc.skipped += n,
                }
            }
            if cc.passed + cc.failed + cc.skipped > 0 {
                counts = cc;
                p.recognised = true;
            }
        } else if let Some(c) = GEN_MOCHA.captures(l) {
            let n = num0(c.get(1));
            match &c[2] {
                "passing" => counts.passed = n,
                "failing" => counts.failed = n,
                _ => counts.skipped = n,
            }
            p.recognised = true;
        } else if let Some(c) = GEN_RSPEC.captures(l) {
            let (t, f, s) = (num0(c.get(1)), num0(c.get(2)), num0(c.get(3)));
            counts = Counts { passed: t.saturating_sub(f + s), failed: f, skipped: s, errors: 0 };
            p.recognised = true;
        } else if let Some(c) = GEN_MINITEST.captures(l) {
            let (t, f, e, s) = (num0(c.get(1)), num0(c.get(2)), num0(c.get(3)), num0(c.get(4)));
            counts = Counts { passed: t.saturating_sub(f + e + s), failed: f, skipped: s, errors: e };
            p.recognised = true;
        } else if let Some(c) = GEN_EXUNIT.captures(l) {
            let (t, f, s) = (num0(c.get(1)), num0(c.get(2)), num0(c.get(3)));
            counts = Counts { passed: t.saturating_sub(f + s), failed: f, skipped: s, errors: 0 };
            p.recognised = true;
        } else if let Some(c) = GEN_CTEST.captures(l) {
            let (f, t) = (num0(c.get(1)), num0(c.get(2)));
            counts = Counts { passed: t.saturating_sub(f), failed: f, skipped: 0, errors: 0 };
            p.recognised = true;
        } else if let Some(c) = GEN_MAVEN.captures(l) {
            // Maven prints per-class lines and a total last: keep the last one.
            let (t, f, e, s) = (num0(c.get(1)), num0(c.get(2)), num0(c.get(3)), num0(c.get(4)));
            counts = Counts { passed: t.saturating_sub(f + e + s), failed: f, skipped: s, errors: e };
            p.recognised = true;
        } else if let Some(c) = GEN_UNITTEST_RAN.captures(l) {
            ran = num(c.get(1));
        } else if let Some(c) = GEN_UNITTEST_RES.captures(l)
            && let Some(t) = ran
        {
            let mut cc = Counts::default();
            if let Some(kv) = c.get(2) {
                for m in GEN_KV.captures_iter(kv.as_str()) {
                    let n = num0(m.get(2));
                    match &m[1] {
                        "failures" | "unexpected successes" => cc.failed += n,
                        "errors" => cc.errors += n,
                        _ => cc.skipped += n,
                    }
                }
            }
            cc.passed = t.saturating_sub(cc.failed + cc.errors + cc.skipped);
            counts = cc;
            p.recognised = true;
        } else if let Some(c) = GEN_CC_ERR.captures(l).or_else(|| GEN_TSC_ERR.captures(l)) {
            push_build_error(
                &mut p.build_errors,
                BuildError {
                    file: Some(c[1].to_string()),
                    line: num(c.get(2)),
                    column: num(c.get(3)),
                    message: c[4].trim().to_string(),
                },
            );
        }
    }
    if !p.build_errors.is_empty() {
        p.recognised = true;
    }
    p.counts = counts;
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_unrecognised_and_safe() {
        for s in ["", "garbage\n\u{0}\u{ff}", "{\"Action\":", "<testsuite", "not a test at all"] {
            assert!(!parse_libtest(s).recognised);
            assert!(!parse_nextest(s).recognised);
            assert!(!parse_junit(s).recognised || s.starts_with("<testsuite"));
            assert!(!parse_pytest_text(s).recognised);
            assert!(!parse_go_json(s, s).recognised);
            assert!(!parse_tap(s).recognised);
            assert!(!parse_generic(s).recognised);
            assert!(parse_cargo_messages(s).is_empty());
        }
    }

    #[test]
    fn libtest_old_panic_format() {
        let out = "running 1 test\ntest t::x ... FAILED\n\nfailures:\n\n---- t::x stdout ----\n\
                   thread 't::x' panicked at 'boom', src/lib.rs:3:5\nnote: run with `RUST_BACKTRACE=1`\n\n\
                   failures:\n    t::x\n\ntest result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out\n";
        let p = parse_libtest(out);
        assert_eq!((p.counts.passed, p.counts.failed), (0, 1));
        assert_eq!(p.failures[0].id, "t::x");
        assert_eq!(p.failures[0].file.as_deref(), Some("src/lib.rs"));
        assert_eq!(p.failures[0].line, Some(3));
        assert_eq!(p.failures[0].message, "boom");
    }

    #[test]
    fn nextest_old_format_and_timeout() {
        let out = "    Starting 3 tests across 1 binaries\n        PASS [   0.004s] calc tests::a\n\
                   \x20       FAIL [   0.005s] calc tests::b\n\n--- STDOUT:              calc tests::b ---\n\nrunning 1 test\n\
                   --- STDERR:              calc tests::b ---\nthread 'tests::b' panicked at src/lib.rs:9:5:\nboom\n\n\
                   \x20    TIMEOUT [  60.002s] calc tests::c\n------------\n     Summary [  60.010s] 3 tests run: 1 passed, 1 failed, 1 timed out, 0 skipped\n";
        let p = parse_nextest(out);
        assert!(p.recognised);
        assert_eq!((p.counts.passed, p.counts.failed), (1, 2));
        assert_eq!(p.failures.len(), 2);
        assert_eq!(p.failures[0].message, "boom");
        assert_eq!(p.failures[0].line, Some(9));
        assert_eq!(p.failures[1].id, "calc tests::c");
        assert!(p.failures[1].message.contains("timed out"));
    }

    #[test]
    fn junit_generic_and_xunit1() {
        let xml = r#"<testsuite name="CalcTest" tests="2" failures="1"><testcase classname="com.ex.CalcTest" name="adds">
            <failure message="expected:&lt;4&gt; but was:&lt;5&gt;" type="AssertionError"><![CDATA[java.lang.AssertionError: expected:<4> but was:<5>
            at com.ex.CalcTest.adds(CalcTest.java:12)]]></failure></testcase><testcase classname="com.ex.CalcTest" name="ok"/></testsuite>"#;
        let p = parse_junit(xml);
        assert!(p.recognised);
        assert_eq!((p.counts.passed, p.counts.failed), (1, 1));
        assert_eq!(p.failures[0].id, "com.ex.CalcTest.adds");
        assert!(p.failures[0].message.contains("expected:<4> but was:<5>"));

        let xml = r#"<testsuites><testsuite name="pytest"><testcase classname="tests.test_a.TestX" name="test_y" file="tests/test_a.py" line="9"><failure message="assert 1 == 2">E   assert 1 == 2</failure></testcase></testsuite></testsuites>"#;
        let p = parse_junit(xml);
        assert_eq!(p.failures[0].id, "tests/test_a.py::TestX::test_y");
        assert_eq!(p.failures[0].file.as_deref(), Some("tests/test_a.py"));
        assert_eq!(p.failures[0].line, Some(10));
        assert_eq!(p.failures[0].message, "assert 1 == 2");
    }

    #[test]
    fn cap_message_limits() {
        let lines: Vec<String> = (0..40).map(|i| format!("  line {i}  ")).collect();
        let m = cap_message(&lines);
        assert_eq!(m.lines().count(), MAX_LINES + 1);
        assert!(m.starts_with("  line 0") && m.ends_with("(25 more lines)"));
        let long = vec!["é".repeat(5000)];
        assert_eq!(cap_message(&long).chars().count(), MAX_CHARS);
    }
}

/// Data-driven tests over real outputs captured from each runner (tests/fixtures/outputs, made from the
/// projects in tests/fixtures/projects).
#[cfg(test)]
mod fixture_tests {
    use super::*;

    macro_rules! fx {
        ($name:literal) => {
            include_str!(concat!("../tests/fixtures/outputs/", $name))
        };
    }

    fn counts(p: &Parsed) -> (u64, u64, u64, u64) {
        (p.counts.passed, p.counts.failed, p.counts.skipped, p.counts.errors)
    }

    fn ids(p: &Parsed) -> Vec<&str> {
        p.failures.iter().map(|f| f.id.as_str()).collect()
    }

    fn failure<'a>(p: &'a Parsed, id: &str) -> &'a Failure {
        p.failures.iter().find(|f| f.id == id).unwrap_or_else(|| panic!("no failure {id} in {:?}", ids(p)))
    }

    /// Asserts file, line and that the message contains each needle; messages stay small.
    fn check(f: &Failure, file: &str, line: u32, needles: &[&str]) {
        assert_eq!(f.file.as_deref(), Some(file), "{f:?}");
        assert_eq!(f.line, Some(line), "{f:?}");
        for n in needles {
            assert!(f.message.contains(n), "message of {} lacks {n:?}:\n{}", f.id, f.message);
        }
        assert!(f.message.lines().count() <= 16 && f.message.chars().count() <= 1200, "{}", f.message);
        assert_eq!(f.message, f.message.trim(), "untrimmed");
    }

    fn check_build(e: &BuildError, file: &str, line: u32, column: Option<u32>, needle: &str) {
        assert_eq!(e.file.as_deref(), Some(file), "{e:?}");
        assert_eq!(e.line, Some(line), "{e:?}");
        assert_eq!(e.column, column, "{e:?}");
        assert!(e.message.contains(needle), "{e:?} lacks {needle:?}");
    }

    fn assert_passed(p: &Parsed, expect: (u64, u64, u64, u64)) {
        assert!(p.recognised);
        assert_eq!(counts(p), expect);
        assert!(p.failures.is_empty(), "{:?}", p.failures);
        assert!(p.build_errors.is_empty(), "{:?}", p.build_errors);
        assert_eq!(p.status(true), Status::Passed);
    }

    // ---------------------------------------------------------------- Rust: cargo test

    #[test]
    fn libtest_pass() {
        for out in [fx!("rust_pass.combined"), fx!("rust_pass_human.txt"), fx!("rust_pass.stdout")] {
            assert_passed(&parse_libtest(out), (2, 0, 0, 0));
        }
    }

    fn check_rust_fail(p: &Parsed) {
        assert!(p.recognised);
        // lib: 1 passed, 2 failed, 1 ignored; integration: 1 passed, 1 failed; doctest: 1 passed
        assert_eq!(counts(p), (3, 3, 1, 0));
        // libtest runs tests in parallel: the order of the failure blocks varies between runs.
        let mut got = ids(p);
        got.sort();
        assert_eq!(got, ["integration_bad", "tests::adds_wrong", "tests::divides_by_zero"]);
        check(
            failure(p, "tests::adds_wrong"),
            "src/lib.rs",
            29,
            &["assertion `left == right` failed: 2 + 2 should be 5", "left: 4", "right: 5"],
        );
        let f = failure(p, "tests::divides_by_zero");
        check(f, "src/lib.rs", 13, &["division by zero: 1 / 0", "calc::tests::divides_by_zero (src/lib.rs:34)"]);
        assert!(!f.message.contains("rustc/"), "std frames must be skipped: {}", f.message);
        check(failure(p, "integration_bad"), "tests/integration.rs", 9, &["v was 3"]);
        assert!(p.build_errors.is_empty(), "{:?}", p.build_errors);
        assert_eq!(p.status(false), Status::Failed);
    }

    #[test]
    fn libtest_fail() {
        check_rust_fail(&parse_libtest(fx!("rust_fail.combined")));
        check_rust_fail(&parse_libtest(fx!("rust_fail_human.txt")));
        // stdout alone (JSON + libtest text) holds everything too
        check_rust_fail(&parse_libtest(fx!("rust_fail.stdout")));
        assert!(parse_cargo_messages(fx!("rust_fail.stdout")).is_empty(), "warnings are not errors");
    }

    fn check_rust_broken(errs: &[BuildError]) {
        assert_eq!(errs.len(), 2, "{errs:?}");
        check_build(&errs[0], "src/lib.rs", 6, Some(18), "mismatched types: expected `i32`, found `&str`");
        check_build(&errs[1], "src/lib.rs", 17, Some(20), "cannot find function `undefined_fn` in this scope");
    }

    #[test]
    fn libtest_broken() {
        check_rust_broken(&parse_cargo_messages(fx!("rust_broken.stdout")));
        check_rust_broken(&parse_cargo_messages(fx!("rust_broken.combined")));
        for out in [fx!("rust_broken.combined"), fx!("rust_broken_human.txt")] {
            let p = parse_libtest(out);
            assert!(p.recognised);
            assert_eq!(counts(&p), (0, 0, 0, 0));
            assert!(p.failures.is_empty());
            check_rust_broken(&p.build_errors);
            assert_eq!(p.status(false), Status::Error);
        }
        // stderr alone only says that it could not compile
        let p = parse_libtest(fx!("rust_broken.stderr"));
        assert_eq!(p.build_errors.len(), 1);
        assert!(p.build_errors[0].message.contains("could not compile"));
    }

    // ---------------------------------------------------------------- Rust: nextest

    #[test]
    fn nextest_pass() {
        assert_passed(&parse_nextest(fx!("nextest_pass.txt")), (2, 0, 0, 0));
    }

    #[test]
    fn nextest_fail() {
        let p = parse_nextest(fx!("nextest_fail.txt"));
        assert!(p.recognised);
        assert_eq!(counts(&p), (2, 3, 1, 0));
        assert_eq!(
            ids(&p),
            ["calc tests::adds_wrong", "calc tests::divides_by_zero", "calc::integration integration_bad"]
        );
        check(failure(&p, "calc tests::adds_wrong"), "src/lib.rs", 29, &["2 + 2 should be 5", "left: 4", "right: 5"]);
        check(failure(&p, "calc tests::divides_by_zero"), "src/lib.rs", 13, &["division by zero: 1 / 0"]);
        check(failure(&p, "calc::integration integration_bad"), "tests/integration.rs", 9, &["v was 3"]);
        assert!(p.build_errors.is_empty());

        let p = parse_nextest(fx!("nextest_fail_failfast.txt"));
        assert_eq!(counts(&p), (1, 2, 1, 0));
        assert_eq!(ids(&p), ["calc tests::divides_by_zero", "calc tests::adds_wrong"]);
    }

    #[test]
    fn nextest_broken() {
        let p = parse_nextest(fx!("nextest_broken.txt"));
        assert!(p.recognised);
        assert_eq!(counts(&p), (0, 0, 0, 0));
        check_rust_broken(&p.build_errors);
        assert_eq!(p.status(false), Status::Error);
    }

    // ---------------------------------------------------------------- pytest

    #[test]
    fn pytest_pass() {
        assert_passed(&parse_junit(fx!("pytest_pass.xml")), (2, 0, 1, 0));
        assert_passed(&parse_pytest_text(fx!("pytest_pass.txt")), (2, 0, 1, 0));
    }

    fn check_pytest_fail(p: &Parsed) {
        assert!(p.recognised);
        assert_eq!(counts(p), (1, 3, 1, 0));
        assert_eq!(
            ids(p),
            [
                "tests/test_calc.py::test_add_wrong",
                "tests/test_calc.py::test_parse_negative",
                "tests/test_calc.py::TestOps::test_dict"
            ]
        );
        check(
            failure(p, "tests/test_calc.py::test_add_wrong"),
            "tests/test_calc.py",
            11,
            &["assert 4 == 5", "assert result == 5"],
        );
        let f = failure(p, "tests/test_calc.py::test_parse_negative");
        check(f, "tests/test_calc.py", 15, &["ValueError: negative not allowed: -3", "calc/ops.py:8"]);
        check(
            failure(p, "tests/test_calc.py::TestOps::test_dict"),
            "tests/test_calc.py",
            25,
            &["AssertionError: assert {'a': 1, 'b': 2} == {'a': 1, 'b': 3}", "{'b': 2} != {'b': 3}"],
        );
        assert!(p.build_errors.is_empty());
    }

    #[test]
    fn pytest_fail() {
        check_pytest_fail(&parse_junit(fx!("pytest_fail.xml")));
        check_pytest_fail(&parse_pytest_text(fx!("pytest_fail.txt")));
    }

    #[test]
    fn pytest_syntax_error() {
        for p in [parse_junit(fx!("pytest_syntax.xml")), parse_pytest_text(fx!("pytest_syntax.txt"))] {
            assert!(p.recognised);
            assert_eq!(counts(&p), (0, 0, 0, 1));
            assert!(p.failures.is_empty(), "{:?}", p.failures);
            assert_eq!(p.build_errors.len(), 1);
            let e = &p.build_errors[0];
            check_build(e, "/tmp/fx/py_syntax/tests/test_broken.py", 4, None, "SyntaxError: invalid syntax");
            assert!(e.message.contains("def test_add(:"), "{e:?}");
            assert!(!e.message.contains("site-packages"), "{e:?}");
            assert_eq!(p.status(false), Status::Error);
        }
    }

    #[test]
    fn pytest_import_error() {
        for p in [parse_junit(fx!("pytest_import.xml")), parse_pytest_text(fx!("pytest_import.txt"))] {
            assert!(p.recognised);
            assert_eq!(counts(&p), (0, 0, 0, 1));
            assert_eq!(p.build_errors.len(), 1);
            check_build(
                &p.build_errors[0],
                "tests/test_missing.py",
                1,
                None,
                "ImportError: cannot import name 'subtract' from 'calc'",
            );
        }
    }

    // ---------------------------------------------------------------- Go

    #[test]
    fn go_pass() {
        assert_passed(&parse_go_json(fx!("go_pass.stdout"), fx!("go_pass.stderr")), (3, 0, 1, 0));
    }

    #[test]
    fn go_fail() {
        let p = parse_go_json(fx!("go_fail.stdout"), fx!("go_fail.stderr"));
        assert!(p.recognised);
        // TestTable/small and strutil.TestUpper pass; TestTable itself only counts through its subtests
        assert_eq!(counts(&p), (2, 4, 0, 0));
        assert_eq!(
            ids(&p),
            [
                "example.com/calc.TestAdd",
                "example.com/calc.TestDiv",
                "example.com/calc.TestTable/big",
                "example.com/calc.TestPanics"
            ]
        );
        check(failure(&p, "example.com/calc.TestAdd"), "calc_test.go", 7, &["calc_test.go:7: Add(2,2) = 4; want 5"]);
        check(failure(&p, "example.com/calc.TestDiv"), "calc_test.go", 14, &["Div(1,0) failed: division by zero"]);
        check(failure(&p, "example.com/calc.TestTable/big"), "calc_test.go", 27, &["Add(100,1) = 101; want 102"]);
        let f = failure(&p, "example.com/calc.TestPanics");
        check(f, "/tmp/fx/go_fail/calc_test.go", 35, &["panic: assignment to entry in nil map"]);
        assert!(!f.message.contains("testing.go"), "{}", f.message);
    }

    #[test]
    fn go_broken() {
        let p = parse_go_json(fx!("go_broken.stdout"), fx!("go_broken.stderr"));
        assert!(p.recognised);
        assert_eq!(counts(&p), (1, 0, 0, 1));
        assert!(p.failures.is_empty(), "{:?}", p.failures);
        assert_eq!(p.build_errors.len(), 2);
        check_build(&p.build_errors[0], "./calc.go", 3, Some(41), "undefined: x");
        check_build(
            &p.build_errors[1],
            "./calc.go",
            6,
            Some(17),
            "cannot use 5 (untyped int constant) as string value",
        );
        assert_eq!(p.status(false), Status::Error);
    }

    #[test]
    fn go_build_output_events() {
        // Go ≥ 1.24 reports build errors as JSON `build-output` events on stdout.
        let stdout = r##"{"ImportPath":"example.com/calc [example.com/calc.test]","Action":"build-output","Output":"# example.com/calc [example.com/calc.test]\n"}
    {"ImportPath":"example.com/calc [example.com/calc.test]","Action":"build-output","Output":"./calc.go:3:41: undefined: x\n"}
    {"ImportPath":"example.com/calc [example.com/calc.test]","Action":"build-fail"}
    {"Action":"start","Package":"example.com/calc"}
    {"Action":"output","Package":"example.com/calc","Output":"FAIL\texample.com/calc [build failed]\n"}
    {"Action":"fail","Package":"example.com/calc","Elapsed":0,"FailedBuild":"example.com/calc [example.com/calc.test]"}
    "##;
        let p = parse_go_json(stdout, "");
        assert!(p.recognised);
        assert_eq!(p.build_errors.len(), 1);
        check_build(&p.build_errors[0], "./calc.go", 3, Some(41), "undefined: x");
        assert!(p.failures.is_empty(), "{:?}", p.failures);
    }

    // ---------------------------------------------------------------- node TAP

    #[test]
    fn node_pass() {
        assert_passed(&parse_tap(fx!("node_pass.tap")), (2, 0, 1, 0));
    }

    #[test]
    fn node_fail() {
        let p = parse_tap(fx!("node_fail.tap"));
        assert!(p.recognised);
        assert_eq!(counts(&p), (2, 3, 1, 0));
        assert_eq!(ids(&p), ["add wrong", "parse > rejects garbage", "parse > deep equal"]);
        let file = "/tmp/fx/node_fail/test/calc.test.js";
        check(
            failure(&p, "add wrong"),
            file,
            10,
            &["Expected values to be strictly equal:", "4 !== 5", "actual: 4", "expected: 5"],
        );
        let f = failure(&p, "parse > rejects garbage");
        check(f, file, 18, &["TypeError: not a number: x", "src/calc.js:8"]);
        assert!(!f.message.contains("node:internal"), "{}", f.message);
        check(
            failure(&p, "parse > deep equal"),
            file,
            21,
            &["Expected values to be strictly deep-equal:", "+     2", "-     3"],
        );
    }

    #[test]
    fn node_broken() {
        let p = parse_tap(fx!("node_broken.tap"));
        assert!(p.recognised);
        assert_eq!(counts(&p), (2, 0, 1, 1));
        assert!(p.failures.is_empty(), "{:?}", p.failures);
        assert_eq!(p.build_errors.len(), 1);
        let e = &p.build_errors[0];
        check_build(e, "/tmp/fx/node_broken/test/broken.test.js", 5, Some(25), "SyntaxError: Unexpected token ','");
        assert!(e.message.contains("assert.strictEqual(1 +, 2);"));
        assert_eq!(p.status(false), Status::Error);
    }

    // ---------------------------------------------------------------- generic

    #[test]
    fn generic_delegates_and_summaries() {
        assert_eq!(counts(&parse_generic(fx!("rust_fail_human.txt"))), (3, 3, 1, 0));
        assert_eq!(counts(&parse_generic(fx!("pytest_fail.txt"))), (1, 3, 1, 0));
        assert_eq!(counts(&parse_generic(fx!("node_fail.tap"))), (2, 3, 1, 0));
        assert_eq!(counts(&parse_generic(fx!("nextest_fail.txt"))), (2, 3, 1, 0));
        type C4 = (u64, u64, u64, u64);
        let cases: &[(&str, C4)] = &[
            ("Result: 5 passed, 2 failed, 1 skipped", (5, 2, 1, 0)),
            ("Tests:       1 failed, 2 skipped, 3 passed, 6 total", (3, 1, 2, 0)),
            ("  3 passing (12ms)\n  1 pending\n  2 failing", (3, 2, 1, 0)),
            ("10 examples, 2 failures, 1 pending", (7, 2, 1, 0)),
            ("5 runs, 9 assertions, 1 failures, 1 errors, 1 skips", (2, 1, 1, 1)),
            ("80% tests passed, 1 tests failed out of 5", (4, 1, 0, 0)),
            ("Tests run: 6, Failures: 1, Errors: 1, Skipped: 1", (3, 1, 1, 1)),
            ("....\nRan 4 tests in 0.001s\n\nFAILED (failures=1, errors=1)", (2, 1, 0, 1)),
            ("Ran 4 tests in 0.001s\n\nOK", (4, 0, 0, 0)),
            ("12 tests, 0 failures", (12, 0, 0, 0)),
        ];
        for (text, want) in cases {
            let p = parse_generic(text);
            assert!(p.recognised, "{text}");
            assert_eq!(counts(&p), *want, "{text}");
        }
        let p =
            parse_generic("src/main.c:3:5: error: unknown type name 'foo'\nsrc/a.ts(4,7): error TS2322: Type 'string'");
        assert_eq!(p.build_errors.len(), 2);
        check_build(&p.build_errors[0], "src/main.c", 3, Some(5), "unknown type name");
        check_build(&p.build_errors[1], "src/a.ts", 4, Some(7), "TS2322");
    }

    // ---------------------------------------------------------------- robustness

    const GARBAGE: &[&str] = &[
        "",
        "\n\n\n",
        "hello world\nnothing to see here",
        "{\"reason\":\"compiler-message\",\"message\":{\"level\":\"error\",\"spans\":[{\"line_start\":-4}]}}",
        "{not json",
        "\u{0}\u{1}\u{ff}\x1b[31mred\x1b[0m ééé 漢字",
        "<testsuite><testcase><failure>unterminated",
        "---\n...\n  ---\nnot ok\n# Subtest:\n    ok\n",
        "---- x stdout ----\nthread 'x' panicked at :0:0:\n",
        "E\nE   \n_ _\n:1: in\n",
    ];

    #[test]
    fn garbage_never_panics() {
        let mut inputs: Vec<String> = GARBAGE.iter().map(|s| s.to_string()).collect();
        // Truncations of every fixture at awkward places, including inside UTF-8 sequences.
        for f in [
            fx!("rust_fail.combined"),
            fx!("nextest_fail.txt"),
            fx!("pytest_fail.xml"),
            fx!("pytest_fail.txt"),
            fx!("go_fail.stdout"),
            fx!("node_fail.tap"),
            fx!("node_broken.tap"),
            fx!("rust_broken.stdout"),
        ] {
            let b = f.as_bytes();
            for cut in [1, 7, b.len() / 3, b.len() / 2, b.len().saturating_sub(5)] {
                inputs.push(String::from_utf8_lossy(&b[..cut.min(b.len())]).into_owned());
            }
        }
        inputs.push("x".repeat(100_000));
        inputs.push("test a ... FAILED\n".repeat(2000));
        for s in &inputs {
            for p in [
                parse_libtest(s),
                parse_nextest(s),
                parse_junit(s),
                parse_pytest_text(s),
                parse_go_json(s, s),
                parse_tap(s),
                parse_generic(s),
            ] {
                for f in &p.failures {
                    assert!(f.message.chars().count() <= 1200);
                }
                let _ = p.status(false);
            }
            let _ = parse_cargo_messages(s);
        }
    }

    #[test]
    fn garbage_is_not_recognised() {
        for s in GARBAGE.iter().filter(|s| !s.contains("testsuite") && !s.contains("ok") && !s.contains("----")) {
            assert!(!parse_libtest(s).recognised, "{s:?}");
            assert!(!parse_nextest(s).recognised, "{s:?}");
            assert!(!parse_junit(s).recognised, "{s:?}");
            assert!(!parse_pytest_text(s).recognised, "{s:?}");
            assert!(!parse_go_json(s, "").recognised, "{s:?}");
            assert!(!parse_tap(s).recognised, "{s:?}");
            assert!(!parse_generic(s).recognised, "{s:?}");
            assert_eq!(counts(&parse_generic(s)), (0, 0, 0, 0));
        }
        // Foreign formats are not mistaken for each other.
        assert!(!parse_junit(fx!("rust_fail.combined")).recognised);
        assert!(!parse_go_json(fx!("pytest_fail.txt"), "").recognised);
        assert!(!parse_tap(fx!("pytest_fail.txt")).recognised);
    }

    #[test]
    fn messages_are_capped() {
        let mut out = String::from("running 1 test\ntest t ... FAILED\n\nfailures:\n\n---- t stdout ----\n");
        out.push_str("thread 't' panicked at src/lib.rs:1:1:\n");
        for i in 0..100 {
            out.push_str(&format!("line {i} {}\n", "y".repeat(50)));
        }
        out.push_str(
            "\nfailures:\n    t\n\ntest result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out\n",
        );
        let p = parse_libtest(&out);
        let m = &p.failures[0].message;
        assert!(m.lines().count() <= 16 && m.chars().count() <= 1200, "{m}");
        assert!(m.contains("line 0") && m.contains("more lines"));
    }

    #[test]
    fn serializes_compactly() {
        let p = parse_libtest(fx!("rust_fail_human.txt"));
        let j = serde_json::to_string(failure(&p, "integration_bad")).unwrap();
        assert_eq!(j, r#"{"id":"integration_bad","file":"tests/integration.rs","line":9,"message":"v was 3"}"#);
        assert_eq!(serde_json::to_string(&Status::Timeout).unwrap(), "\"timeout\"");
        let f = Failure { id: "x".into(), ..Default::default() };
        assert_eq!(serde_json::to_string(&f).unwrap(), r#"{"id":"x","message":""}"#);
    }
}
