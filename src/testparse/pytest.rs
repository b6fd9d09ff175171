//! pytest: JUnit XML and text.

use super::*;

regex!(PY_LOC, r"^(\S[^:]*?):(\d+): ?(?:in (\S+)|(\w[\w.]*))?\s*$");
regex!(PY_FILE_LINE, r#"^\s*File "(.+?)", line (\d+)"#);
regex!(PY_EXC, r"^\s*(?:[\w.]+\.)?(\w*(?:Error|Exception|Exit|Interrupt|Failed|Warning)|assert\b)");

struct PyTrace {
    /// Error lines (pytest's `E` lines), dedented.
    e_lines: Vec<String>,
    frames: Vec<Frame>,
    /// `File "x", line N` from a SyntaxError.
    syntax_loc: Option<Location>,
}

/// One traceback frame.
struct Frame {
    file: String,
    line: u32,
    /// The source line pytest marked with `>` (or printed after a short-style location).
    source: String,
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
                syntax_loc = Some(Location::at(&c[1], num(c.get(2)).unwrap_or(0)));
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
                frames.push(Frame { file, line, source: String::new() });
                pending_short = Some(frames.len() - 1);
            } else {
                frames.push(Frame { file, line, source: std::mem::take(&mut last_marked) });
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
                && f.source.is_empty()
            {
                f.source = t.to_string();
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
    let project: Vec<&Frame> = trace.frames.iter().filter(|f| !is_foreign_path(&f.file)).collect();
    let start = project.len().saturating_sub(3);
    for Frame { file, line, source } in &project[start..] {
        if source.is_empty() {
            out.push(format!("  at {file}:{line}"));
        } else {
            out.push(format!("  at {file}:{line}: {source}"));
        }
    }
    cap_message(&out)
}

/// Where a pytest failure happened: the last frame in the test's own file, else the first
/// project frame.
fn py_location(trace: &PyTrace, test_file: Option<&str>) -> Location {
    if let Some(tf) = test_file
        && let Some(f) = trace.frames.iter().rev().find(|f| f.file == tf || f.file.ends_with(&format!("/{tf}")))
    {
        return Location::at(&f.file, f.line);
    }
    if let Some(f) = trace.frames.iter().find(|f| !is_foreign_path(&f.file)) {
        return Location::at(&f.file, f.line);
    }
    Location { file: test_file.map(str::to_string), ..Location::default() }
}

/// A collection error (SyntaxError/ImportError while importing a test module).
fn py_collection_error(text: &str, fallback_file: Option<String>, fallback_msg: &str) -> BuildError {
    let trace = py_trace(text);
    let Location { file, line, .. } = if let Some(at) = &trace.syntax_loc {
        at.clone()
    } else if let Some(f) = trace.frames.iter().rev().find(|f| !is_foreign_path(&f.file)) {
        Location::at(&f.file, f.line)
    } else {
        Location { file: fallback_file, ..Location::default() }
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
        for Frame { file: f, .. } in &trace.frames {
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
pub(crate) fn parse_junit(xml: &str) -> Parsed {
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
        let Location { mut file, mut line, .. } = py_location(&trace, test_file.as_deref());
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
pub(crate) fn parse_pytest_text(output: &str) -> Parsed {
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
                let Location { file, line, .. } = py_location(&trace, test_file.as_deref());
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
                let Location { file, line, .. } = py_location(&trace, test_file.as_deref());
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
                let Location { file, line, .. } = py_location(&trace, None);
                push_failure(&mut p.failures, Failure { id: h.clone(), file, line, message: py_message(&trace, "") });
            }
        }
    }
    p
}
