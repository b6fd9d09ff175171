//! Which test runner a project uses, the exact argv to run it, and the parse of what it printed.
//! Pure: the caller supplies a way to read the project's files and runs the command in the sandbox.
//! Filters are passed as separate arguments; nothing here builds a shell string.

use std::collections::VecDeque;

use crate::testparse::{self, Parsed};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framework {
    Cargo,
    Nextest,
    Pytest,
    Go,
    NodeTest,
    NpmScript,
    Make,
    /// `[tests] command` in codebox.toml or the call's `command`: run by the shell, parsed heuristically.
    Custom,
}

impl Framework {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Framework::Cargo => "cargo test",
            Framework::Nextest => "cargo nextest",
            Framework::Pytest => "pytest",
            Framework::Go => "go test",
            Framework::NodeTest => "node --test",
            Framework::NpmScript => "npm test",
            Framework::Make => "make test",
            Framework::Custom => "custom command",
        }
    }
}

/// Looks at the project's marker files. `read(name)` returns a file of the test directory, if it exists.
pub(crate) fn detect(read: &dyn Fn(&str) -> Option<String>, nextest_installed: bool) -> Option<Framework> {
    if read("Cargo.toml").is_some() {
        return Some(if nextest_installed { Framework::Nextest } else { Framework::Cargo });
    }
    if read("go.mod").is_some() {
        return Some(Framework::Go);
    }
    if let Some(pkg) = read("package.json") {
        let script = serde_json::from_str::<serde_json::Value>(&pkg)
            .ok()
            .and_then(|v| v.pointer("/scripts/test").and_then(|s| s.as_str()).map(str::to_string));
        return Some(match script {
            Some(s) if s.contains("node --test") => Framework::NodeTest,
            Some(s) if !s.contains("no test specified") => Framework::NpmScript,
            _ => Framework::NodeTest,
        });
    }
    let python_project =
        ["pyproject.toml", "setup.py", "pytest.ini", "conftest.py", "tox.ini"].iter().any(|m| read(m).is_some())
            || read("setup.cfg").is_some_and(|t| t.contains("pytest"));
    if python_project {
        return Some(Framework::Pytest);
    }
    if read("Makefile").or_else(|| read("makefile")).is_some_and(|m| m.lines().any(|l| l.starts_with("test:"))) {
        return Some(Framework::Make);
    }
    None
}

/// Where pytest writes its JUnit XML inside the sandbox (the report directory's mount).
pub(crate) const JUNIT_FILE: &str = "junit.xml";

/// The argv for a framework; `filter` becomes one argument in the framework's own syntax.
pub(crate) fn argv(fw: Framework, filter: Option<&str>, report_mount: &str) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    match fw {
        Framework::Cargo => {
            a = s(&["cargo", "test", "--no-fail-fast", "--color", "never", "--message-format=json"]);
            if let Some(f) = filter {
                // After `--`, the filter goes to every test binary as its name filter.
                a.push("--".into());
                a.push(f.into());
            }
        }
        Framework::Nextest => {
            a = s(&["cargo", "nextest", "run", "--no-fail-fast", "--color", "never", "--cargo-message-format", "json"]);
            if let Some(f) = filter {
                a.push("--".into());
                a.push(f.into());
            }
        }
        Framework::Pytest => {
            a = s(&["python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--color=no"]);
            a.push(format!("--junit-xml={report_mount}/{JUNIT_FILE}"));
            if let Some(f) = filter {
                // A node id or a path is positional; anything else is a -k expression.
                if f.contains("::") || f.ends_with(".py") || f.contains('/') {
                    a.push("--".into());
                    a.push(f.into());
                } else {
                    a.push("-k".into());
                    a.push(f.into());
                }
            }
        }
        Framework::Go => {
            a = s(&["go", "test", "-json"]);
            match filter {
                Some(f) if f.starts_with("./") => a.push(f.into()),
                Some(f) => {
                    a.push(format!("-run={f}"));
                    a.push("./...".into());
                }
                None => a.push("./...".into()),
            }
        }
        Framework::NodeTest => {
            a = s(&["node", "--test", "--test-reporter=tap"]);
            if let Some(f) = filter {
                a.push(format!("--test-name-pattern={f}"));
            }
        }
        Framework::NpmScript => {
            a = s(&["npm", "test", "--silent"]);
            if let Some(f) = filter {
                a.push("--".into());
                a.push(f.into());
            }
        }
        Framework::Make => a = s(&["make", "test"]),
        Framework::Custom => {}
    }
    a
}

/// The runner a test file's name implies, for a project without marker files: `test_x.py` or `x_test.py` is
/// pytest, `x.test.js` (or `.spec`, `.mjs`, `.cjs`) is node's runner. Other files need their project's markers.
pub(crate) fn framework_of_file(file: &str) -> Option<Framework> {
    let name = file.rsplit('/').next().unwrap_or(file);
    if let Some(stem) = name.strip_suffix(".py") {
        return (stem.starts_with("test_") || stem.ends_with("_test")).then_some(Framework::Pytest);
    }
    let js = [".js", ".mjs", ".cjs"].iter().find_map(|ext| name.strip_suffix(ext))?;
    (js.ends_with(".test") || js.ends_with(".spec") || js.starts_with("test")).then_some(Framework::NodeTest)
}

/// The argv that runs the tests of one file, `file` relative to the project directory, in the runner's own
/// terms: a pytest path, `cargo test --test NAME` for an integration-test file or a module filter for a source
/// file, `go test` on the file's package, `node --test FILE`. `mod_tests`: the Rust file has a `mod tests`.
/// Err: this runner cannot take a file; the message says what to do instead.
pub(crate) fn argv_for_file(
    fw: Framework,
    file: &str,
    filter: Option<&str>,
    report_mount: &str,
    mod_tests: bool,
) -> Result<Vec<String>, String> {
    let mut a = argv(fw, None, report_mount);
    match fw {
        Framework::Pytest => {
            a.push("--".into());
            match filter {
                // A node id below the file: `test_x` or `TestClass::test_x`.
                Some(f) if f.contains("::") => a.push(format!("{file}::{f}")),
                Some(f) => {
                    a.insert(a.len() - 1, "-k".into());
                    a.insert(a.len() - 1, f.into());
                    a.push(file.into());
                }
                None => a.push(file.into()),
            }
        }
        Framework::Cargo | Framework::Nextest => {
            let stem = file.rsplit('/').next().unwrap_or(file).trim_end_matches(".rs");
            let parts: Vec<&str> = file.trim_end_matches(".rs").split('/').collect();
            if let ["tests", name] | ["tests", name, "main"] = parts[..] {
                a.extend(["--test".to_string(), name.to_string()]);
                if let Some(f) = filter {
                    a.extend(["--".to_string(), f.to_string()]);
                }
            } else if let ["src", rest @ ..] = &parts[..] {
                let bin = matches!(rest, ["main"] | ["bin", ..]);
                let module: Vec<&str> = match rest {
                    ["lib"] | ["main"] | ["bin", _] | ["bin", _, "main"] => Vec::new(),
                    [dirs @ .., "mod"] => dirs.to_vec(),
                    all => all.to_vec(),
                };
                match rest {
                    ["bin", name] | ["bin", name, "main"] => a.extend(["--bin".to_string(), name.to_string()]),
                    _ if bin => a.push("--bins".into()),
                    _ => a.push("--lib".into()),
                }
                let mut path: Vec<String> = module.iter().map(|m| m.to_string()).collect();
                if let Some(f) = filter {
                    if mod_tests && !f.contains("::") {
                        path.push("tests".into());
                    }
                    path.push(f.to_string());
                }
                if !path.is_empty() {
                    let joined = path.join("::");
                    // Without a name, `a::b::` keeps the filter to the module's own tests.
                    let filter = if filter.is_some() { joined } else { format!("{joined}::") };
                    a.extend(["--".to_string(), filter]);
                }
            } else {
                return Err(format!(
                    "{file} is neither an integration-test file (tests/NAME.rs) nor a source file under src/; \
                     pass its crate directory as path, and {stem} as filter"
                ));
            }
        }
        Framework::Go => {
            let dir = file.rsplit_once('/').map(|(d, _)| d).unwrap_or(".");
            a.pop(); // ./...
            if let Some(f) = filter {
                a.push(format!("-run={f}"));
            }
            a.push(if dir == "." { "./".into() } else { format!("./{dir}") });
        }
        Framework::NodeTest => {
            if let Some(f) = filter {
                a.push(format!("--test-name-pattern={f}"));
            }
            a.push(file.into());
        }
        Framework::NpmScript => {
            a.extend(["--".to_string(), file.to_string()]);
            if let Some(f) = filter {
                a.extend(["-t".to_string(), f.to_string()]);
            }
        }
        Framework::Make | Framework::Custom => {
            return Err(format!(
                "{} runs the whole suite and cannot take one file; pass the project directory as path, or a \
                 command that runs {file}",
                fw.name()
            ));
        }
    }
    Ok(a)
}

/// The argv that runs the tests under `dir`, a directory inside the project (relative to it): a pytest path,
/// `cargo test --tests` for `tests/` or a module filter under `src/`, `go test ./dir/...`, `node --test dir`.
pub(crate) fn argv_for_dir(
    fw: Framework,
    dir: &str,
    filter: Option<&str>,
    report_mount: &str,
) -> Result<Vec<String>, String> {
    let dir = dir.trim_end_matches('/');
    match fw {
        Framework::Cargo | Framework::Nextest => {
            let mut a = argv(fw, None, report_mount);
            let parts: Vec<&str> = dir.split('/').collect();
            match parts[..] {
                ["tests"] => a.push("--tests".into()),
                ["src"] => a.push("--lib".into()),
                ["src", ref module @ ..] => {
                    a.push("--lib".into());
                    if filter.is_none() {
                        a.extend(["--".to_string(), format!("{}::", module.join("::"))]);
                    }
                }
                _ => {
                    return Err(format!(
                        "{dir} is neither tests/ nor a module directory under src/; pass its crate directory as path"
                    ));
                }
            }
            if let Some(f) = filter {
                a.extend(["--".to_string(), f.to_string()]);
            }
            Ok(a)
        }
        Framework::Go => {
            let mut a = argv(fw, None, report_mount);
            a.pop();
            if let Some(f) = filter {
                a.push(format!("-run={f}"));
            }
            a.push(format!("./{dir}/..."));
            Ok(a)
        }
        _ => argv_for_file(fw, dir, filter, report_mount, false),
    }
}

/// Reads what the runner printed (and wrote into the report directory) into counts, failures and build errors.
pub(crate) fn parse(fw: Framework, stdout: &str, stderr: &str, combined: &str, junit: Option<&str>) -> Parsed {
    match fw {
        Framework::Cargo => {
            let mut p = testparse::parse_libtest(combined);
            let build = testparse::parse_cargo_messages(stdout);
            if !build.is_empty() {
                p.build_errors = build;
            }
            p
        }
        Framework::Nextest => {
            let mut p = testparse::parse_nextest(combined);
            let build = testparse::parse_cargo_messages(stdout);
            if !build.is_empty() {
                p.build_errors = build;
            }
            p
        }
        Framework::Pytest => match junit {
            Some(xml) => {
                let mut p = testparse::parse_junit(xml);
                if !p.recognised {
                    p = testparse::parse_pytest_text(combined);
                }
                p
            }
            None => testparse::parse_pytest_text(combined),
        },
        Framework::Go => testparse::parse_go_json(stdout, stderr),
        Framework::NodeTest => testparse::parse_tap(combined),
        Framework::NpmScript | Framework::Make | Framework::Custom => {
            // Whatever the script runs underneath, its output often has a known shape.
            for parser in [testparse::parse_libtest, testparse::parse_pytest_text, testparse::parse_tap] {
                let p = parser(combined);
                if p.recognised {
                    return p;
                }
            }
            testparse::parse_generic(combined)
        }
    }
}

/// Remembers the failure signatures of recent runs, to notice a loop: the same failures, with the same
/// messages, three runs in a row.
#[derive(Debug, Default)]
pub struct RepeatTracker {
    recent: VecDeque<String>,
}

/// How many identical failing runs in a row make a loop worth pointing out.
pub(crate) const REPEAT_THRESHOLD: usize = 3;

impl RepeatTracker {
    /// Records this run; returns how many runs in a row (this one included) failed the same way.
    pub fn record(&mut self, signature: Option<String>) -> usize {
        let Some(sig) = signature else {
            self.recent.clear();
            return 0;
        };
        self.recent.push_back(sig.clone());
        while self.recent.len() > REPEAT_THRESHOLD {
            self.recent.pop_front();
        }
        self.recent.iter().rev().take_while(|s| **s == sig).count()
    }
}

/// A run's failure signature: the sorted failing ids with the first line of each message, or of each build
/// error. None when nothing failed.
pub(crate) fn signature(p: &Parsed) -> Option<String> {
    let mut parts: Vec<String> = p
        .failures
        .iter()
        .map(|f| format!("{}|{}", f.id, f.message.lines().next().unwrap_or("")))
        .chain(
            p.build_errors
                .iter()
                .map(|b| format!("{:?}:{:?}|{}", b.file, b.line, b.message.lines().next().unwrap_or(""))),
        )
        .collect();
    if parts.is_empty() {
        return None;
    }
    parts.sort();
    Some(parts.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files<'a>(names: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |n| names.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string())
    }

    #[test]
    fn detects_each_framework() {
        assert_eq!(detect(&files(&[("Cargo.toml", "")]), false), Some(Framework::Cargo));
        assert_eq!(detect(&files(&[("Cargo.toml", "")]), true), Some(Framework::Nextest));
        assert_eq!(detect(&files(&[("go.mod", "")]), true), Some(Framework::Go));
        assert_eq!(
            detect(&files(&[("package.json", r#"{"scripts":{"test":"node --test"}}"#)]), true),
            Some(Framework::NodeTest)
        );
        assert_eq!(
            detect(&files(&[("package.json", r#"{"scripts":{"test":"jest"}}"#)]), true),
            Some(Framework::NpmScript)
        );
        assert_eq!(detect(&files(&[("conftest.py", "")]), true), Some(Framework::Pytest));
        assert_eq!(detect(&files(&[("pyproject.toml", "[tool.pytest.ini_options]")]), true), Some(Framework::Pytest));
        assert_eq!(detect(&files(&[("Makefile", "all:\n\ttrue\ntest:\n\ttrue\n")]), true), Some(Framework::Make));
        assert_eq!(detect(&files(&[("README", "")]), true), None);
    }

    #[test]
    fn filters_are_single_arguments_never_shell_text() {
        let evil = "x; touch /tmp/canary";
        for fw in [
            Framework::Cargo,
            Framework::Nextest,
            Framework::Pytest,
            Framework::Go,
            Framework::NodeTest,
            Framework::NpmScript,
        ] {
            let a = argv(fw, Some(evil), "/r");
            assert!(a.iter().any(|x| x.ends_with(evil)), "{fw:?}: {a:?}");
            assert!(!a.iter().any(|x| x == "-c"), "{fw:?} must not go through a shell");
        }
    }

    #[test]
    fn a_test_file_becomes_the_runner_s_own_selection() {
        let f = |fw, file, filter, m| argv_for_file(fw, file, filter, "/r", m).unwrap();
        let tail = |v: Vec<String>, n: usize| v[v.len() - n..].join(" ");
        assert_eq!(tail(f(Framework::Pytest, "tests/test_m.py", None, false), 2), "-- tests/test_m.py");
        assert_eq!(tail(f(Framework::Pytest, "tests/test_m.py", Some("avg"), false), 4), "-k avg -- tests/test_m.py");
        assert_eq!(tail(f(Framework::Cargo, "tests/api.rs", Some("x"), false), 4), "--test api -- x");
        assert_eq!(tail(f(Framework::Cargo, "src/geo/mod.rs", None, true), 3), "--lib -- geo::");
        assert_eq!(tail(f(Framework::Cargo, "src/geo/area.rs", Some("sq"), true), 3), "--lib -- geo::area::tests::sq");
        assert_eq!(tail(f(Framework::Cargo, "src/lib.rs", None, true), 1), "--lib");
        assert_eq!(tail(f(Framework::Go, "pkg/m/m_test.go", Some("TestA"), false), 2), "-run=TestA ./pkg/m");
        assert_eq!(tail(f(Framework::Go, "m_test.go", None, false), 1), "./");
        assert_eq!(
            tail(f(Framework::NodeTest, "test/a.test.js", Some("adds"), false), 2),
            "--test-name-pattern=adds test/a.test.js"
        );
        assert!(argv_for_file(Framework::Make, "t.sh", None, "/r", false).is_err());
        assert_eq!(framework_of_file("tests/test_math.py"), Some(Framework::Pytest));
        assert_eq!(framework_of_file("test/a.test.mjs"), Some(Framework::NodeTest));
        assert_eq!(framework_of_file("src/math.py"), None);
        let d = |fw, dir, filter| argv_for_dir(fw, dir, filter, "/r").unwrap();
        assert_eq!(tail(d(Framework::Pytest, "tests/unit", Some("avg")), 4), "-k avg -- tests/unit");
        assert_eq!(tail(d(Framework::Cargo, "tests", None), 1), "--tests");
        assert_eq!(tail(d(Framework::Cargo, "src/geo", None), 3), "--lib -- geo::");
        assert_eq!(tail(d(Framework::Go, "pkg", Some("TestA")), 2), "-run=TestA ./pkg/...");
        assert_eq!(tail(d(Framework::NodeTest, "test", None), 1), "test");
        assert!(argv_for_file(Framework::Cargo, "benches/b.rs", None, "/r", false).is_err());
    }

    #[test]
    fn three_identical_failing_runs_in_a_row_are_a_loop() {
        let mut t = RepeatTracker::default();
        assert_eq!(t.record(Some("a".into())), 1);
        assert_eq!(t.record(Some("a".into())), 2);
        assert_eq!(t.record(Some("a".into())), 3);
        assert_eq!(t.record(Some("b".into())), 1);
        assert_eq!(t.record(None), 0);
        assert_eq!(t.record(Some("b".into())), 1);
    }
}
