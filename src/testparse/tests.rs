//! The parsers against hand-made and captured runner outputs.

#[cfg(test)]
mod hand_made {
    use super::super::*;

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
    use super::super::*;

    macro_rules! fx {
        ($name:literal) => {
            include_str!(concat!("../../tests/fixtures/outputs/", $name))
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
