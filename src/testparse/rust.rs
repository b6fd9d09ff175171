//! Rust: libtest, cargo JSON messages, rustc human diagnostics, nextest.

use super::*;

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
pub(crate) fn parse_cargo_messages(stdout: &str) -> Vec<BuildError> {
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
pub(crate) fn parse_libtest(output: &str) -> Parsed {
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
pub(crate) fn parse_nextest(output: &str) -> Parsed {
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
