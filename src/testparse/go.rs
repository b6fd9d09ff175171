//! Go: `go test -json`.

use super::*;

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
pub(crate) fn parse_go_json(stdout: &str, stderr: &str) -> Parsed {
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
                let GoFailure { message: msg, at: Location { file, line, .. } } = go_test_message(&t.output);
                // A parent that failed only because of its subtests is not reported itself.
                if parent && msg.is_empty() {
                    continue;
                }
                count_failure(&mut p, id_of(pkg, name), Location { file, line, column: None }, msg, "failed");
            }
            // Started but never finished: the package binary died (panic elsewhere, timeout).
            None if !parent && pkg_result.get(pkg).map(String::as_str) == Some("fail") => {
                failing_pkgs.insert(pkg.clone());
                let GoFailure { message: msg, at: Location { file, line, .. } } = go_test_message(&t.output);
                let pkg_msg = go_package_message(pkg_output.get(pkg).map(Vec::as_slice).unwrap_or(&[]));
                let message = cap_message(&[msg, pkg_msg]);
                count_failure(
                    &mut p,
                    id_of(pkg, name),
                    Location { file, line, column: None },
                    message,
                    "did not finish",
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
            push_build_error(&mut p.build_errors, BuildError::from_diagnostic(&c));
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
/// Counts a failed test and keeps its report; `fallback` stands in for an empty message.
fn count_failure(p: &mut Parsed, id: String, at: Location, message: String, fallback: &str) {
    p.counts.failed += 1;
    let message = if message.is_empty() { fallback.to_string() } else { message };
    push_failure(&mut p.failures, Failure { id, file: at.file, line: at.line, message });
}

/// A failed test's message and where it failed.
struct GoFailure {
    message: String,
    at: Location,
}

fn go_test_message(output: &[String]) -> GoFailure {
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
    GoFailure { message: cap_message(&msg), at: Location { file, line, column: None } }
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
