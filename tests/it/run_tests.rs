//! Issue 7, run_tests: real fixture projects (tests/fixtures/projects) run inside the sandbox, each with a passing,
//! a failing and a non-compiling variant; the structured result is asserted (status, counts, failing ids,
//! file:line, message). Plus the repeated-failure signal and S1 through `filter`.

use serde_json::{Value, json};

use crate::harness::*;

async fn run(c: &Client, args: Value) -> (Value, String) {
    let out = call(c, "run_tests", args).await;
    assert!(!out.is_error, "run_tests failed: {}", out.text);
    let structured = out.structured.expect("run_tests returns structuredContent");
    conforms(&structured);
    (structured, out.text)
}

/// structuredContent has every field the published outputSchema requires, and no other.
fn conforms(v: &Value) {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/run_tests.json")).unwrap(),
    )
    .unwrap();
    let out = &schema["outputSchema"];
    let props = out["properties"].as_object().unwrap();
    for k in out["required"].as_array().unwrap() {
        assert!(v.get(k.as_str().unwrap()).is_some(), "missing {k} in {v}");
    }
    for k in v.as_object().unwrap().keys() {
        assert!(props.contains_key(k), "{k} is not in the outputSchema");
        assert!(!v[k].is_null(), "{k} is null, which the schema does not allow");
    }
}

fn failure<'a>(r: &'a Value, id_part: &str) -> &'a Value {
    r["failures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"].as_str().unwrap().contains(id_part))
        .unwrap_or_else(|| panic!("no failure {id_part}: {r}"))
}

fn counts(r: &Value) -> (u64, u64, u64) {
    (r["passed"].as_u64().unwrap(), r["failed"].as_u64().unwrap(), r["skipped"].as_u64().unwrap())
}

#[tokio::test]
async fn rust_fixtures() {
    for (name, status) in [("rs_pass", "passed"), ("rs_fail", "failed"), ("rs_broken", "error")] {
        let p = fixture(name);
        let c = stdio(&p.root, &[]).await;
        let (r, text) = run(&c, json!({})).await;
        assert_eq!(r["status"], json!(status), "{name}: {text}");
        match name {
            "rs_fail" => {
                assert_eq!(counts(&r).1, 3, "{text}");
                let f = failure(&r, "adds_wrong");
                assert_eq!((f["file"].as_str(), f["line"].as_u64()), (Some("src/lib.rs"), Some(29)), "{f}");
                assert!(f["message"].as_str().unwrap().contains("left: 4"), "{f}");
                assert!(text.contains("✗ ") && text.contains("read_output(id="), "{text}");
            }
            "rs_broken" => {
                let e = &r["build_errors"][0];
                assert_eq!(e["file"].as_str(), Some("src/lib.rs"), "{r}");
                assert!(e["line"].is_u64() && e["column"].is_u64(), "{e}");
            }
            _ => assert!(counts(&r).0 > 0 && r["failures"].as_array().unwrap().is_empty(), "{text}"),
        }
    }
}

#[tokio::test]
async fn pytest_fixtures() {
    for (name, status) in [("py_pass", "passed"), ("py_fail", "failed"), ("py_syntax", "error"), ("py_import", "error")]
    {
        let p = fixture(name);
        let c = stdio(&p.root, &[]).await;
        let (r, text) = run(&c, json!({})).await;
        assert_eq!(r["status"], json!(status), "{name}: {text}");
        assert_eq!(r["framework"], json!("pytest"));
        match name {
            "py_fail" => {
                assert_eq!(counts(&r), (1, 3, 1), "{text}");
                let f = failure(&r, "test_parse_negative");
                assert_eq!((f["file"].as_str(), f["line"].as_u64()), (Some("tests/test_calc.py"), Some(15)), "{f}");
                assert!(f["message"].as_str().unwrap().contains("ValueError: negative not allowed"), "{f}");
            }
            "py_syntax" | "py_import" => {
                let e = &r["build_errors"][0];
                assert!(e["file"].as_str().unwrap().starts_with("tests/test_"), "{r}");
            }
            _ => assert!(counts(&r).0 > 0, "{text}"),
        }
        // The JUnit XML went to a private report directory, not into the workspace.
        assert!(!p.root.join("junit.xml").exists() && !p.root.join(".pytest_cache").exists());
    }
}

#[tokio::test]
async fn go_fixtures() {
    for (name, status) in [("go_pass", "passed"), ("go_fail", "failed"), ("go_broken", "error")] {
        let p = fixture(name);
        let c = stdio(&p.root, &[]).await;
        let (r, text) = run(&c, json!({})).await;
        assert_eq!(r["status"], json!(status), "{name}: {text}");
        match name {
            "go_fail" => {
                assert_eq!(counts(&r).1, 4, "{text}");
                let f = failure(&r, "TestAdd");
                assert_eq!((f["file"].as_str(), f["line"].as_u64()), (Some("calc_test.go"), Some(7)), "{f}");
                assert!(f["message"].as_str().unwrap().contains("Add(2,2) = 4; want 5"), "{f}");
            }
            "go_broken" => {
                let e = &r["build_errors"][0];
                assert!(e["file"].as_str().unwrap().ends_with(".go") && e["line"].is_u64(), "{r}");
            }
            _ => assert!(counts(&r).0 > 0, "{text}"),
        }
    }
}

#[tokio::test]
async fn node_fixtures() {
    for (name, status) in [("node_pass", "passed"), ("node_fail", "failed"), ("node_broken", "error")] {
        let p = fixture(name);
        let c = stdio(&p.root, &[]).await;
        let (r, text) = run(&c, json!({})).await;
        assert_eq!(r["status"], json!(status), "{name}: {text}");
        match name {
            "node_fail" => {
                assert_eq!(counts(&r), (2, 3, 1), "{text}");
                let f = failure(&r, "add wrong");
                assert!(f["file"].as_str().unwrap().ends_with("test/calc.test.js") && f["line"].is_u64(), "{f}");
                assert!(f["message"].as_str().unwrap().contains("strictly equal"), "{f}");
            }
            "node_broken" => {
                let e = &r["build_errors"][0];
                assert!(e["file"].as_str().unwrap().ends_with("broken.test.js"), "{r}");
            }
            _ => assert!(counts(&r).0 > 0, "{text}"),
        }
    }
}

#[tokio::test]
async fn the_same_failures_three_times_in_a_row_are_called_out() {
    let p = fixture("py_fail");
    let c = stdio(&p.root, &[]).await;
    for i in 1..=3 {
        let (r, text) = run(&c, json!({})).await;
        assert_eq!(r["same_failures_runs"], json!(i));
        assert_eq!(text.contains("came back 3 runs in a row"), i == 3, "{text}");
    }
    // A different failure set resets the count.
    let (r, _) = run(&c, json!({"filter": "test_parse_negative"})).await;
    assert_eq!(r["same_failures_runs"], json!(1), "{r}");
}

#[tokio::test]
async fn s1_a_filter_is_one_argument_never_shell_text() {
    let p = fixture("py_pass");
    let canary = p.outside.join("s1-canary");
    let c = stdio(&p.root, &[]).await;
    let filter = format!("x; touch {} #", canary.display());
    let (r, text) = run(&c, json!({"filter": filter})).await;
    assert!(r["command"].as_array().unwrap().contains(&json!(filter)), "{r}");
    assert!(!canary.exists(), "{text}");
    let msg = err(&c, "run_tests", json!({"filter": "a", "command": "pytest"})).await;
    assert!(msg.contains("not both"), "{msg}");
    let custom = run(&c, json!({"command": "python3 -m pytest -q"})).await.0;
    assert_eq!(
        (custom["framework"].as_str(), custom["status"].as_str()),
        (Some("custom command"), Some("passed")),
        "{custom}"
    );
}
