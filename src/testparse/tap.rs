//! TAP (node --test --test-reporter=tap, and generic TAP producers).

use super::pytest::PY_EXC;
use super::*;

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

fn split_location(loc: &str) -> Location {
    let loc = loc.trim().trim_start_matches("file://");
    let mut parts = loc.rsplitn(3, ':');
    let c = parts.next();
    let l = parts.next();
    let f = parts.next();
    match (f, l, c) {
        (Some(f), Some(l), Some(c)) if l.parse::<u32>().is_ok() && c.parse::<u32>().is_ok() => {
            Location { file: Some(f.to_string()), line: l.parse().ok(), column: c.parse().ok() }
        }
        _ => match loc.rsplit_once(':') {
            Some((f, l)) if l.parse::<u32>().is_ok() => Location::at(f, l.parse().unwrap_or(0)),
            _ => Location { file: (!loc.is_empty()).then(|| loc.to_string()), ..Location::default() },
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
pub(crate) fn parse_tap(output: &str) -> Parsed {
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
        let Location { file, line, .. } = tap_failure_location(&y);
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
        let at = split_location(y.get("location").map(String::as_str).unwrap_or(&e.name));
        file = at.file.or_else(|| Some(e.name.clone()));
        line = at.line;
        column = at.column;
    }
    BuildError {
        file,
        line,
        column,
        message: if message.is_empty() { "test file failed to load".into() } else { message },
    }
}

/// The failing line: the first stack frame in the test's file (the assertion), else `location`.
fn tap_failure_location(y: &HashMap<String, String>) -> Location {
    let at = split_location(y.get("location").map(String::as_str).unwrap_or(""));
    if let (Some(lf), Some(stack)) = (&at.file, y.get("stack")) {
        for l in stack.lines() {
            if let Some(c) = JS_FRAME.captures(l)
                && c[2].trim_start_matches("file://") == lf.as_str()
            {
                return Location { file: Some(lf.clone()), line: num(c.get(3)), column: None };
            }
        }
    }
    Location { column: None, ..at }
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
