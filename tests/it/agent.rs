//! Issue 8, the example agent loop end to end: examples/agent_loop.rs against a scripted chat endpoint (an HTTP
//! server inside this test that replays a fixed sequence of tool calls, after a 429 and a 503) on a fixture
//! project with a bug. Afterwards the bug is fixed, the tests pass and the fix is committed on a new branch.

use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::harness::*;

fn call(id: &str, name: &str, args: Value) -> Value {
    json!({"choices": [{"message": {"role": "assistant", "content": null, "tool_calls": [
        {"id": id, "type": "function", "function": {"name": name, "arguments": args.to_string()}}]}}]})
}

struct Script {
    replies: Vec<Response>,
    requests: Vec<Value>,
}

async fn chat(State(s): State<Arc<Mutex<Script>>>, Json(body): Json<Value>) -> Response {
    let mut s = s.lock().unwrap();
    s.requests.push(body);
    if s.replies.is_empty() {
        return (StatusCode::BAD_REQUEST, "script exhausted").into_response();
    }
    s.replies.remove(0)
}

#[tokio::test]
async fn the_example_agent_fixes_the_bug_and_commits_on_a_branch() {
    let p = Project::new();
    p.write("calc.py", "def add(a, b):\n    return a - b\n");
    p.write("conftest.py", "");
    p.write("tests/test_calc.py", "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n");
    let git = |args: &[&str]| {
        let o = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"])
            .args(args)
            .current_dir(&p.root)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "initial"]);

    let replies: Vec<Response> = vec![
        (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "0")], "slow down").into_response(),
        (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response(),
        Json(call("c1", "list_directory", json!({}))).into_response(),
        Json(call("c2", "read_file", json!({"path": "calc.py"}))).into_response(),
        Json(call("c3", "run_tests", json!({}))).into_response(),
        Json(call(
            "c4",
            "edit_file",
            json!({"path": "calc.py", "edits": [{"old_string": "return a - b", "new_string": "return a + b"}]}),
        ))
        .into_response(),
        Json(call("c5", "run_tests", json!({}))).into_response(),
        Json(call("c6", "git_branch", json!({"name": "fix/add"}))).into_response(),
        Json(call("c7", "git_commit", json!({"message": "Fix add: it subtracted"}))).into_response(),
        Json(json!({"choices": [{"message": {"role": "assistant", "content": "Fixed add. TASK COMPLETE"}}]}))
            .into_response(),
    ];
    let script = Arc::new(Mutex::new(Script { replies, requests: Vec::new() }));
    let app = axum::Router::new().route("/v1/chat/completions", axum::routing::post(chat)).with_state(script.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let example = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join("examples/agent_loop");
    assert!(example.exists(), "cargo test builds the examples; {} is missing", example.display());
    let out = tokio::process::Command::new(&example)
        .arg(&p.root)
        .arg("The add function is wrong; fix it and commit on a branch.")
        .env("OPENAI_BASE_URL", format!("http://{addr}/v1"))
        .env("OPENAI_API_KEY", "test-key")
        .env("CODEBOX_BIN", BIN)
        .env("XDG_STATE_HOME", p.outside.join("state"))
        .env("TMPDIR", &p.outside)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("summary: finished after 8 iterations, 7 tool calls, 2 retries"), "{stdout}");

    assert_eq!(std::fs::read_to_string(p.root.join("calc.py")).unwrap(), "def add(a, b):\n    return a + b\n");
    assert_eq!(git(&["rev-parse", "--abbrev-ref", "HEAD"]).trim(), "fix/add");
    assert_eq!(git(&["log", "-1", "--format=%s"]).trim(), "Fix add: it subtracted");
    assert!(git(&["status", "--short"]).is_empty(), "everything is committed");
    let tests = Command::new("python3")
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .current_dir(&p.root)
        .output()
        .unwrap();
    assert!(tests.status.success(), "{}", String::from_utf8_lossy(&tests.stdout));

    // The endpoint saw codebox's tools as functions, and each tool result went back to it.
    let s = script.lock().unwrap();
    let first = &s.requests[0];
    assert_eq!(first["model"], json!("glm-5"));
    let names: Vec<&str> =
        first["tools"].as_array().unwrap().iter().map(|t| t["function"]["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"run_tests") && names.contains(&"git_commit"), "{names:?}");
    let after_tests = s.requests[5]["messages"].as_array().unwrap().last().unwrap();
    assert!(after_tests["content"].as_str().unwrap().starts_with("FAILED · pytest"), "{after_tests}");
}
