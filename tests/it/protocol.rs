//! Issue 2, the MCP surface: handshake (with the discovery probe real clients send first), listings that clients
//! call unasked, logging, argument errors, tool metadata, schemas on disk, and the CLI around them.

use rmcp::model::PaginatedRequestParams;
use serde_json::{Value, json};

use crate::harness::*;

/// codebox's per-user scratch parent under the harness's TMPDIR.
fn scratch_parent(p: &Project) -> std::path::PathBuf {
    p.root.parent().unwrap().join("tmp").join(format!("codebox-{}", nix::unistd::geteuid()))
}

/// The entries of the scratch parent, sorted.
fn scratch_entries(p: &Project) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(scratch_parent(p))
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// codebox's scratch directory (spills, test reports) is removed when the client closes stdin and on SIGTERM;
/// one left by a process that died without cleaning up is removed at the next start, a live one is kept.
#[tokio::test]
async fn scratch_directory_is_removed_on_exit_and_a_dead_process_leftover_is_swept() {
    use std::os::unix::fs::DirBuilderExt;
    let p = Project::new();
    let parent = scratch_parent(&p);
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&parent).unwrap();
    // pid 999999999 is above any pid_max: that process is dead. The test's own pid is alive.
    std::fs::create_dir(parent.join("999999999-left")).unwrap();
    let live = format!("{}-live", std::process::id());
    std::fs::create_dir(parent.join(&live)).unwrap();

    let c = stdio(&p.root, &[]).await;
    let during = scratch_entries(&p);
    assert_eq!(during.len(), 2, "the dead process's leftover is swept, the live one kept, one new: {during:?}");
    assert!(during.contains(&live) && !during.contains(&"999999999-left".to_string()), "{during:?}");
    ok(&c, "run_tests", json!({"command": "echo ok"})).await;
    c.cancel().await.unwrap();
    assert_eq!(scratch_entries(&p), vec![live.clone()], "closing stdin removes the scratch directory");

    let mut raw = Raw::start(&p.root);
    raw.initialize().await;
    assert_eq!(scratch_entries(&p).len(), 2);
    let pid = nix::unistd::Pid::from_raw(raw.child.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = raw.child.wait().await.unwrap();
    assert!(status.success(), "SIGTERM is a clean shutdown: {status}");
    assert_eq!(scratch_entries(&p), vec![live], "SIGTERM removes the scratch directory");
}

/// logging/setLevel sets the minimum level of the log notifications a session gets: at `error`, a command's
/// timeout (logged at info) sends nothing; at `info`, it arrives as notifications/message from a codebox logger.
#[tokio::test]
async fn log_notifications_follow_the_level_the_client_sets() {
    let p = Project::new();
    let mut raw = Raw::start(&p.root);
    raw.initialize().await;
    // Different timeouts tell the two calls' messages apart.
    let timeout_call = |id: u64, secs: u64| {
        json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"run_command",
            "arguments":{"command":"sleep 30","timeout_secs":secs}}})
    };
    // Reads lines until the response to `id`, then on until `want` "timed out" notifications have come.
    let mut seen = Vec::new();
    let read_until = async |raw: &mut Raw, id: u64, want: usize, seen: &mut Vec<Value>| {
        let mut answered = false;
        while !(answered && seen.len() >= want) {
            let line = raw.lines.next_line().await.unwrap().expect("server closed stdout");
            let v: Value = serde_json::from_str(&line).unwrap();
            answered |= v["id"] == json!(id);
            if v["method"] == "notifications/message" && v["params"]["data"].to_string().contains("timed out") {
                seen.push(v["params"].clone());
            }
        }
    };
    let wait = async {
        // At level error the timeout (logged at info) is not sent: it is filtered when it is logged, before the
        // call answers, so nothing of it can arrive later.
        raw.send(json!({"jsonrpc":"2.0","id":2,"method":"logging/setLevel","params":{"level":"error"}})).await;
        read_until(&mut raw, 2, 0, &mut seen).await;
        raw.send(timeout_call(3, 1)).await;
        read_until(&mut raw, 3, 0, &mut seen).await;
        raw.send(json!({"jsonrpc":"2.0","id":4,"method":"logging/setLevel","params":{"level":"info"}})).await;
        read_until(&mut raw, 4, 0, &mut seen).await;
        raw.send(timeout_call(5, 2)).await;
        read_until(&mut raw, 5, 1, &mut seen).await;
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), wait).await.expect("the notification never came");
    assert_eq!(seen.len(), 1, "only the call made at level info is logged: {seen:?}");
    assert_eq!(seen[0]["level"], "info", "{seen:?}");
    assert!(seen[0]["data"].as_str().unwrap().contains("after 2 s"), "the call at level info: {seen:?}");
    assert!(seen[0]["logger"].as_str().unwrap().starts_with("codebox"), "{seen:?}");
}

#[tokio::test]
async fn discovery_probe_is_answered_and_the_client_can_then_initialize() {
    let p = Project::new();
    p.write("hello.txt", "hi");
    let mut raw = Raw::start(&p.root);
    // The probes Claude Code and the Python SDK send before `initialize`: bare, and with 2026-07-28 metadata.
    raw.send(json!({"jsonrpc":"2.0","id":"server-discover-probe-1","method":"server/discover","params":{}})).await;
    let r = raw.reply(json!("server-discover-probe-1")).await;
    assert!(r["error"]["code"].is_i64(), "a bare probe gets a well-formed JSON-RPC error: {r}");
    // What Claude Code 2.1.330 and the Python SDK 2.3.0 really send: a 2026-07-28 probe with full metadata.
    // The answer names the versions codebox speaks, so the client falls back to `initialize`.
    raw.send(json!({"jsonrpc":"2.0","id":2,"method":"server/discover","params":{"_meta":{
        "io.modelcontextprotocol/protocolVersion":"2026-07-28",
        "io.modelcontextprotocol/clientCapabilities":{"roots":{"listChanged":true}},
        "io.modelcontextprotocol/clientInfo":{"name":"claude-code","version":"2.1.330"}}}}))
        .await;
    let r = raw.reply(json!(2)).await;
    assert_eq!(r["error"]["code"], json!(-32022), "unsupported protocol version: {r}");
    let supported = r["error"]["data"]["supported"].as_array().unwrap();
    assert!(supported.contains(&json!("2025-11-25")) && supported.contains(&json!("2024-11-05")), "{r}");
    // The connection is still up: the client initializes and works.
    raw.send(json!({"jsonrpc":"2.0","id":3,"method":"initialize","params":{
        "protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}))
        .await;
    let r = raw.reply(json!(3)).await;
    assert_eq!(r["result"]["protocolVersion"], json!("2025-11-25"), "{r}");
    assert_eq!(r["result"]["serverInfo"]["name"], json!("codebox"));
    raw.send(json!({"jsonrpc":"2.0","method":"notifications/initialized"})).await;
    raw.send(json!({"jsonrpc":"2.0","id":"call","method":"tools/call","params":{"name":"read_file","arguments":{"path":"hello.txt"}}})).await;
    let r = raw.reply(json!("call")).await;
    assert!(r["result"]["content"][0]["text"].as_str().unwrap().contains("1\thi"), "{r}");
    raw.child.kill().await.unwrap();
}

#[tokio::test]
async fn every_protocol_version_initializes() {
    let p = Project::new();
    for version in ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"] {
        let mut raw = Raw::start(&p.root);
        raw.send(json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
            "protocolVersion":version,"capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}))
            .await;
        let r = raw.reply(json!(1)).await;
        assert_eq!(r["result"]["protocolVersion"], json!(version), "{r}");
    }
}

#[tokio::test]
async fn listings_ping_and_logging_answer_even_when_empty() {
    let p = Project::new();
    let c = stdio(&p.root, &[]).await;
    c.peer().list_resource_templates(Some(PaginatedRequestParams::default())).await.expect("resources/templates/list");
    c.peer().list_resources(Some(PaginatedRequestParams::default())).await.expect("resources/list");
    assert!(
        c.peer().list_prompts(Some(PaginatedRequestParams::default())).await.expect("prompts/list").prompts.is_empty()
    );
    let mut raw = Raw::start(&p.root);
    raw.initialize().await;
    raw.send(json!({"jsonrpc":"2.0","id":2,"method":"ping"})).await;
    assert_eq!(raw.reply(json!(2)).await["result"], json!({}));
    raw.send(json!({"jsonrpc":"2.0","id":3,"method":"logging/setLevel","params":{"level":"debug"}})).await;
    assert_eq!(raw.reply(json!(3)).await["result"], json!({}));
    raw.send(json!({"jsonrpc":"2.0","id":4,"method":"no/such/method"})).await;
    assert_eq!(raw.reply(json!(4)).await["error"]["code"], json!(-32601));
}

#[tokio::test]
async fn bad_arguments_are_tool_errors_not_protocol_errors() {
    let p = Project::new();
    p.write("f.txt", "x");
    let c = stdio(&p.root, &[]).await;
    for (tool, args, needle) in [
        ("read_file", json!({"path": "f.txt", "offset": 0}), "1-based"),
        ("read_file", json!({"path": "f.txt", "limit": 0}), "limit must be between 1 and"),
        ("read_file", json!({"path": "f.txt", "limit": 10_000_000}), "limit must be between 1 and"),
        ("read_output", json!({"id": "o1", "max_output_chars": 5}), "at least 1000"),
        ("read_file", json!({"path": "f.txt", "offset": -3}), "offset"),
        ("read_file", json!({"path": 42}), "path"),
        ("read_file", json!({"path": "f.txt", "bogus": 1}), "bogus"),
        ("read_file", json!({}), "path"),
        ("list_directory", json!({"depth": 99}), "depth"),
        ("find_files", json!({"pattern": ""}), "pattern is empty"),
    ] {
        let msg = err(&c, tool, args.clone()).await;
        assert!(msg.contains(needle), "{tool} {args}: {msg}");
    }
}

#[tokio::test]
async fn tools_have_truthful_annotations_and_a_compact_listing() {
    let p = Project::new();
    let c = stdio(&p.root, &[]).await;
    let tools = c.peer().list_all_tools().await.unwrap();
    let json = serde_json::to_string(&json!({ "tools": tools })).unwrap();
    println!("tools/list: {} tools, {} characters of JSON", tools.len(), json.len());
    assert!(json.len() < 12_000, "tools/list is {} characters; the budget for all tools is 12,000", json.len());
    for t in &tools {
        let a = t.annotations.as_ref().unwrap_or_else(|| panic!("{} has no annotations", t.name));
        // destructiveHint and idempotentHint mean something only for tools that are not read-only.
        assert!(a.read_only_hint == Some(true) || a.destructive_hint.is_some(), "{}", t.name);
        assert!(a.open_world_hint == Some(false), "{}: codebox never reaches outside the workspace", t.name);
        let d = t.description.as_deref().unwrap_or_default();
        assert!(!d.is_empty() && d.len() < 400, "{}: description of {} chars", t.name, d.len());
    }
    for name in ["read_file", "list_directory", "find_files"] {
        let t = tools.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(t.annotations.as_ref().unwrap().read_only_hint, Some(true), "{name}");
    }
}

#[tokio::test]
async fn committed_schemas_match_the_code() {
    let out = tempfile::tempdir().unwrap();
    let st = std::process::Command::new(BIN).args(["schemas", "--out"]).arg(out.path()).output().unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let mut names: Vec<_> = std::fs::read_dir(out.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    names.sort();
    let mut committed_names: Vec<_> = std::fs::read_dir(&committed).unwrap().map(|e| e.unwrap().file_name()).collect();
    committed_names.sort();
    assert_eq!(
        names, committed_names,
        "schemas/ has other files than the tools: run `cargo run --bin codebox -- schemas`"
    );
    for n in names {
        let fresh = std::fs::read_to_string(out.path().join(&n)).unwrap();
        let old = std::fs::read_to_string(committed.join(&n)).unwrap();
        assert_eq!(fresh, old, "schemas/{n:?} is stale: run `cargo run --bin codebox -- schemas` and commit");
    }
}

#[tokio::test]
async fn config_errors_name_the_key_and_the_file() {
    let p = Project::new();
    let cfg = p.write("codebox.toml", "[limits]\nread_default_linez = 5\n");
    let out = std::process::Command::new(BIN).args(["serve", "--root"]).arg(&p.root).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("read_default_linez") && stderr.contains(cfg.to_str().unwrap()), "{stderr}");
    // A valid file is honoured: a 3-line default window.
    p.write("codebox.toml", "[limits]\nread_default_lines = 3\n");
    p.write("f.txt", "1\n2\n3\n4\n5\n");
    let c = stdio(&p.root, &[]).await;
    let text = ok(&c, "read_file", json!({"path": "f.txt"})).await;
    assert!(text.contains("lines 1-3 of 5"), "{text}");
}

#[tokio::test]
async fn doctor_reports_each_layer() {
    let p = Project::new();
    let out = std::process::Command::new(BIN).args(["doctor", "--root"]).arg(&p.root).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for layer in ["path confinement", "landlock", "user namespaces", "seccomp filter"] {
        assert!(text.contains(layer), "{text}");
    }
    assert!(out.status.success(), "doctor failed on the test machine:\n{text}");
}

#[tokio::test]
async fn server_instructions_guide_the_model() {
    let p = Project::new();
    let c = stdio(&p.root, &[]).await;
    let info = c.peer_info().unwrap();
    let text = info.instructions.clone().unwrap_or_default();
    for tool in ["list_directory", "find_files", "read_file"] {
        assert!(text.contains(tool), "instructions should say when to use {tool}: {text}");
    }
}
