//! Issue 14, the loop as models call it: run_tests given a test file (pytest, cargo integration-test file and
//! unit-test module, go, node; with and without a filter), the forgiving argument layer through the real server
//! (and its refusals of what is ambiguous), read_file's and the writes' structured versions, tool families.

use serde_json::{Value, json};

use crate::harness::*;

async fn tests_run(c: &Client, args: Value) -> (Value, String) {
    let out = call(c, "run_tests", args.clone()).await;
    assert!(!out.is_error, "run_tests {args} failed: {}", out.text);
    (out.structured.expect("structuredContent"), out.text)
}

fn ids(r: &Value) -> Vec<String> {
    let mut v: Vec<String> =
        r["failures"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap().to_string()).collect();
    v.sort();
    v
}

fn counts(r: &Value) -> (u64, u64) {
    (r["passed"].as_u64().unwrap(), r["failed"].as_u64().unwrap())
}

fn argv(r: &Value) -> String {
    r["command"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn run_tests_takes_a_pytest_file() {
    let p = fixture("py_fail");
    let c = stdio(&p.root, &[]).await;
    let (r, text) = tests_run(&c, json!({"path": "tests/test_calc.py"})).await;
    assert_eq!(r["status"], json!("failed"), "{text}");
    assert_eq!(counts(&r), (1, 3), "{text}");
    assert!(argv(&r).ends_with("-- tests/test_calc.py"), "{}", argv(&r));
    let (r, text) = tests_run(&c, json!({"path": "tests/test_calc.py", "filter": "add"})).await;
    assert_eq!(counts(&r), (1, 1), "{text}");
    assert!(ids(&r)[0].contains("test_add_wrong"), "{text}");
    // A directory inside the project: its tests, run from the project.
    let (r, text) = tests_run(&c, json!({"path": "tests", "filter": "add"})).await;
    assert_eq!((r["framework"].clone(), counts(&r)), (json!("pytest"), (1, 1)), "{text}");
    assert!(argv(&r).ends_with("-k add -- tests"), "{}", argv(&r));
    // A path that is neither a directory nor a file is explained.
    let msg = err(&c, "run_tests", json!({"path": "tests/nope.py"})).await;
    assert!(msg.contains("project directory or a test file"), "{msg}");
}

/// The call from the issue, in a project with no pytest marker at all: the file's name says pytest.
#[tokio::test]
async fn run_tests_takes_a_test_file_in_a_project_without_markers() {
    let p = Project::new();
    p.write(
        "mathlib.py",
        "def average(xs):\n    return sum(xs) / (len(xs) + 1)\n\ndef total(xs):\n    return sum(xs)\n",
    );
    p.write("tests/test_math.py", "import sys, os\nsys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))\nfrom mathlib import average, total\n\ndef test_average():\n    assert average([2, 4]) == 3\n\ndef test_total():\n    assert total([2, 4]) == 6\n");
    let c = stdio(&p.root, &[]).await;
    let (r, text) = tests_run(&c, json!({"path": "tests/test_math.py", "filter": "average"})).await;
    assert_eq!((r["framework"].clone(), counts(&r)), (json!("pytest"), (0, 1)), "{text}");
    assert!(text.contains("test_average (tests/test_math.py:6)"), "{text}");
    let (r, text) = tests_run(&c, json!({"path": "tests/test_math.py"})).await;
    assert_eq!(counts(&r), (1, 1), "{text}");
}

#[tokio::test]
async fn run_tests_takes_a_cargo_integration_test_file_and_a_unit_test_module() {
    let p = fixture("rs_fail");
    p.write("src/geo.rs", "pub fn sq(x: i32) -> i32 { x * x }\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn sq_ok() { assert_eq!(super::sq(3), 9); }\n    #[test]\n    fn sq_bad() { assert_eq!(super::sq(2), 5); }\n    #[test]\n    fn other() {}\n}\n");
    let lib = std::fs::read_to_string(p.root.join("src/lib.rs")).unwrap();
    p.write("src/lib.rs", format!("pub mod geo;\n{lib}"));
    let c = stdio(&p.root, &[]).await;
    let (r, text) = tests_run(&c, json!({"path": "tests/integration.rs"})).await;
    assert_eq!((counts(&r), ids(&r).len()), ((1, 1), 1), "{text}");
    assert!(ids(&r)[0].contains("integration_bad") && argv(&r).contains("--test integration"), "{text}");
    let (r, text) = tests_run(&c, json!({"path": "tests/integration.rs", "filter": "integration_ok"})).await;
    assert_eq!((r["status"].clone(), counts(&r)), (json!("passed"), (1, 0)), "{text}");
    // A source file: its module's unit tests only.
    let (r, text) = tests_run(&c, json!({"path": "src/geo.rs"})).await;
    assert_eq!(counts(&r), (2, 1), "{text}");
    assert!(ids(&r)[0].contains("geo::tests::sq_bad"), "{text}");
    let (r, text) = tests_run(&c, json!({"path": "src/geo.rs", "filter": "sq_"})).await;
    assert_eq!(counts(&r), (1, 1), "{text}");
    assert!(argv(&r).ends_with("--lib -- geo::tests::sq_"), "{}", argv(&r));
}

#[tokio::test]
async fn run_tests_takes_a_go_file_and_a_node_file() {
    let p = fixture("go_fail");
    let c = stdio(&p.root, &[]).await;
    let (r, text) = tests_run(&c, json!({"path": "strutil/strutil_test.go"})).await;
    assert!(argv(&r).ends_with("./strutil"), "{}", argv(&r));
    assert!(ids(&r).iter().all(|id| id.contains("TestUpper")), "only the file's package ran: {text}");
    let (r, text) = tests_run(&c, json!({"path": "calc_test.go", "filter": "TestAdd"})).await;
    assert!(argv(&r).ends_with("-run=TestAdd ./"), "{}", argv(&r));
    let total = counts(&r).0 + counts(&r).1;
    assert_eq!(total, 1, "only TestAdd: {text}");

    let p = fixture("node_fail");
    let c = stdio(&p.root, &[]).await;
    let (r, text) = tests_run(&c, json!({"path": "test/calc.test.js"})).await;
    assert_eq!(r["status"], json!("failed"), "{text}");
    assert!(argv(&r).ends_with("test/calc.test.js"), "{}", argv(&r));
    let (r, text) = tests_run(&c, json!({"path": "test/calc.test.js", "filter": "add"})).await;
    assert_eq!(counts(&r), (1, 1), "'add' and 'add wrong' only: {text}");
}

#[tokio::test]
async fn forgiving_arguments_for_every_unambiguous_call() {
    let p = Project::new();
    p.write("f.txt", "alpha\nbeta\ngamma\n");
    p.write("a.py", "x = 1  # needle\n");
    p.write("b.txt", "needle\n");
    p.write("c.md", "needle\n");
    let c = stdio(&p.root, &[]).await;
    // Claude Code's names, numbers as strings, null as absent.
    let out = call(&c, "read_file", json!({"file_path": "f.txt", "limit": "2", "offset": null})).await;
    assert!(!out.is_error && out.text.contains("beta") && !out.text.contains("gamma"), "{}", out.text);
    // A comma-separated glob, a boolean as a string, an enum in another case.
    let text = ok(&c, "search", json!({"pattern": "NEEDLE", "glob": "*.py,*.txt", "fixed_strings": "true", "case": "Insensitive", "output": "FILES"})).await;
    assert!(text.contains("a.py") && text.contains("b.txt") && !text.contains("c.md"), "{text}");
    // A JSON list inside a string, with Claude's old_str/new_str.
    ok(&c, "edit_file", json!({"path": "f.txt", "edits": "[{\"old_str\": \"alpha\", \"new_str\": \"ALPHA\"}]"})).await;
    // One edit object where a list is expected.
    ok(&c, "edit_file", json!({"path": "f.txt", "edits": {"old_string": "beta", "new_string": "BETA"}})).await;
    // Claude Code's Edit call: the edit's fields at the top level, replaceAll in camelCase.
    ok(
        &c,
        "edit_file",
        json!({"file_path": "f.txt", "old_string": "gamma", "new_string": "GAMMA", "replaceAll": "false"}),
    )
    .await;
    assert_eq!(std::fs::read_to_string(p.root.join("f.txt")).unwrap(), "ALPHA\nBETA\nGAMMA\n");
    // cmd, a timeout as a string, env as a JSON object in a string.
    let text =
        ok(&c, "run_command", json!({"cmd": "echo $GREETING", "timeout_secs": "30", "env": "{\"GREETING\": \"hi\"}"}))
            .await;
    assert!(text.starts_with("hi\n"), "{text}");
    // Codex's argv form of a command; Claude Code's Grep names for the output choice and the glob.
    let text = ok(&c, "run_command", json!({"command": ["printf", "%s|", "a b", "it's"]})).await;
    assert!(text.starts_with("a b|it's|"), "{text}");
    let text =
        ok(&c, "search", json!({"pattern": "needle", "include": "*.md", "output_mode": "files_with_matches"})).await;
    assert!(text.contains("c.md") && !text.contains("b.txt"), "{text}");
    // Job tools too: job_id, a number as a string.
    let started =
        call(&c, "job_start", json!({"cmd": "echo ready; sleep 30", "wait_for": "ready", "wait_secs": "10"})).await;
    assert!(!started.is_error, "{}", started.text);
    let id = started.structured.unwrap()["id"].as_str().unwrap().to_string();
    let tail = ok(&c, "job_output", json!({"job_id": id, "tail": "5"})).await;
    assert!(tail.contains("ready"), "{tail}");
    ok(&c, "job_stop", json!({"job_id": id})).await;
    // A single path where a list is expected.
    let git = |args: &[&str]| {
        let o = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .current_dir(&p.root)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    git(&["init", "-q"]);
    ok(&c, "git_commit", json!({"message": "only f", "paths": "f.txt"})).await;
    assert_eq!(git(&["show", "--name-only", "--format=", "HEAD"]).trim(), "f.txt");
}

#[tokio::test]
async fn ambiguous_or_unknown_arguments_are_refused_naming_the_field() {
    let p = Project::new();
    p.write("f.txt", "x\n");
    let c = stdio(&p.root, &[]).await;
    for (tool, args, needles) in [
        ("read_file", json!({"path": "f.txt", "file_path": "g.txt"}), &["send only `path`"][..]),
        ("read_file", json!({"pathh": "f.txt"}), &["unknown field `pathh`", "did you mean `path`"][..]),
        ("read_file", json!({"path": "f.txt", "limit": "fifty"}), &["limit"][..]),
        ("search", json!({"pattern": "x", "fixed_strings": "yes"}), &["fixed_strings"][..]),
        ("search", json!({"pattern": "x", "max_result": 3}), &["did you mean `max_results`"][..]),
        ("search", json!({"pattern": "x", "case": "loud"}), &["case"][..]),
        ("job_list", json!({"all": true}), &["unknown field `all`", "fields: none"][..]),
        ("edit_file", json!({"path": "f.txt", "edits": "[{broken json"}), &["edits"][..]),
    ] {
        let msg = err(&c, tool, args.clone()).await;
        for n in needles {
            assert!(msg.contains(n), "{tool} {args}: {msg}");
        }
    }
    assert_eq!(std::fs::read_to_string(p.root.join("f.txt")).unwrap(), "x\n");
}

#[tokio::test]
async fn read_file_and_writes_return_the_version_as_structured_content() {
    let p = Project::new();
    p.write("f.txt", (1..=30).map(|i| format!("line {i}\n")).collect::<String>());
    let c = stdio(&p.root, &[]).await;
    let r = call(&c, "read_file", json!({"path": "f.txt", "offset": 5, "limit": 10})).await;
    let s = r.structured.expect("read_file has structuredContent");
    assert_eq!(
        (
            s["path"].clone(),
            s["start_line"].clone(),
            s["end_line"].clone(),
            s["total_lines"].clone(),
            s["next_offset"].clone()
        ),
        (json!("f.txt"), json!(5), json!(14), json!(30), json!(15))
    );
    let v = s["version"].as_str().unwrap().to_string();
    assert!(r.text.contains(&v) && r.text.contains("next: read_file(path=\"f.txt\", offset=15)"), "{}", r.text);
    let e = call(
        &c,
        "edit_file",
        json!({"path": "f.txt", "edits": [{"old_string": "line 7\n", "new_string": "seven\n"}], "expected_version": v}),
    )
    .await;
    let w = e.structured.expect("edit_file has structuredContent");
    let again = call(&c, "read_file", json!({"path": "f.txt"})).await.structured.unwrap();
    assert_eq!((w["version"].clone(), w["path"].clone()), (again["version"].clone(), json!("f.txt")));
    assert_eq!((again["start_line"].clone(), again["end_line"].clone()), (json!(1), json!(30)));
    assert!(again.get("next_offset").is_none(), "{again}");
    let wf = call(&c, "write_file", json!({"path": "new.txt", "content": "n\n"})).await.structured.unwrap();
    assert_eq!((wf["path"].clone(), wf["lines"].clone()), (json!("new.txt"), json!(1)));
    // The read_file outputSchema says what structuredContent holds.
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/read_file.json")).unwrap(),
    )
    .unwrap();
    for k in again.as_object().unwrap().keys() {
        assert!(schema["outputSchema"]["properties"].get(k).is_some(), "{k} is not in read_file's outputSchema");
    }
}

#[tokio::test]
async fn tool_families_chosen_in_codebox_toml() {
    let p = Project::new();
    p.write("f.txt", "x\n");
    p.write("codebox.toml", "[tools]\nenable = [\"commands\", \"jobs\"]\n");
    let c = stdio(&p.root, &[]).await;
    let mut names: Vec<String> =
        c.peer().list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(names, ["job_input", "job_list", "job_output", "job_start", "job_stop", "read_output", "run_command"]);
    let msg = err(&c, "read_file", json!({"path": "f.txt"})).await;
    assert!(msg.contains("\"files\"") && msg.contains("enable"), "{msg}");
    ok(&c, "run_command", json!({"command": "true"})).await;

    let p = Project::new();
    p.write("codebox.toml", "[tools]\ndisable = [\"git\", \"edits\"]\n");
    let c = stdio(&p.root, &[]).await;
    let names: Vec<String> = c.peer().list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    assert!(
        names.contains(&"read_file".to_string())
            && !names.iter().any(|n| n.starts_with("git_") || n.contains("edit") || n == "apply_patch"),
        "{names:?}"
    );
    let msg = err(&c, "apply_patch", json!({"patch": "x"})).await;
    assert!(msg.contains("\"edits\""), "{msg}");
}

/// The fixture bug-fix flow the example agent follows (tests/it/agent.rs), on py_fail: every failure id, file:line
/// and next-call hint is still in the text, and the whole flow stays within the characters measured for issue 14
/// (scripts/measure/flow_chars.py reports the per-tool figures before and after).
#[tokio::test]
async fn the_bug_fix_flow_keeps_what_matters_in_fewer_characters() {
    let p = fixture("py_fail");
    let git = |args: &[&str]| {
        let o = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"])
            .args(args)
            .current_dir(&p.root)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "start"]);
    let c = stdio(&p.root, &[]).await;
    let fix = json!({"old_string": "    if value < 0:\n        raise ValueError(f\"negative not allowed: {value}\")\n",
                     "new_string": "    if value < 0:\n        value = -value\n"});
    let mut all = String::new();
    for (tool, args) in [
        ("list_directory", json!({})),
        ("search", json!({"pattern": "parse_num"})),
        ("read_file", json!({"path": "calc/ops.py"})),
        ("read_file", json!({"path": "tests/test_calc.py"})),
        ("run_tests", json!({})),
        ("edit_file", json!({"path": "calc/ops.py", "edits": [fix]})),
        ("run_tests", json!({})),
        ("run_command", json!({"command": "git status --short"})),
        ("run_command", json!({"command": "ls"})),
        ("git_diff", json!({})),
    ] {
        all.push_str(&ok(&c, tool, args).await);
        all.push('\n');
    }
    for needle in [
        "tests/test_calc.py::test_add_wrong (tests/test_calc.py:11)",
        "tests/test_calc.py::test_parse_negative (tests/test_calc.py:15)",
        "ValueError: negative not allowed: -3",
        "at calc/ops.py:8:",
        "TestOps::test_dict (tests/test_calc.py:25)",
        "read_output(id=\"",
        "[calc/ops.py: 9 lines · version ",
        "sandbox: ",
        "+        value = -value",
    ] {
        assert!(all.contains(needle), "{needle:?} is missing from the flow's text:\n{all}");
    }
    println!("py_fail bug-fix flow: {} characters of text", all.chars().count());
    // flow_chars.py on this flow: 4,235 characters before issue 14, 3,268 after (3,278 here with the separators).
    // The ceiling sits between the two, so a return to the old verbosity fails.
    assert!(all.chars().count() < 3_500, "the flow returned {} characters:\n{all}", all.chars().count());
}
