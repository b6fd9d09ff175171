//! Issue 2, streamable HTTP: the real server through an rmcp client, and the HTTP attacks H1–H9 of ATTACKS.md
//! sent as raw requests.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;

const TOKEN: &str = "test-token-0123456789abcdef0123456789abcdef";

fn post(s: &HttpServer) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(&s.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
}

/// Initializes a session with raw requests; returns its id.
async fn session(s: &HttpServer) -> String {
    let r = post(s).bearer_auth(TOKEN).json(&initialize_body()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let id = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
    let _ = r.bytes().await;
    id
}

#[tokio::test]
async fn rmcp_client_over_http_lists_and_calls() {
    let p = Project::new();
    p.write("hello.txt", "hello over http\n");
    let s = HttpServer::start(&p.root, Some(TOKEN), &[]).await;
    let c = s.client().await;
    let tools = c.peer().list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "read_file"));
    assert!(ok(&c, "read_file", json!({"path": "hello.txt"})).await.contains("hello over http"));
    assert!(
        refused(&c, "read_file", json!({"path": "../outside/canary.txt"}), "outside_workspace")
            .await
            .contains("outside the workspace")
    );
}

#[tokio::test]
async fn h1_h2_dns_rebinding_host_and_foreign_origin_are_forbidden() {
    let p = Project::new();
    let s = HttpServer::start(&p.root, Some(TOKEN), &[]).await;
    let r = post(&s).bearer_auth(TOKEN).header("host", "evil.example").json(&initialize_body()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "H1 Host");
    let r = post(&s)
        .bearer_auth(TOKEN)
        .header("origin", "http://evil.example")
        .json(&initialize_body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "H2 Origin");
    let r = post(&s)
        .bearer_auth(TOKEN)
        .header("origin", "http://localhost:6274")
        .json(&initialize_body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "a loopback page is allowed");
}

#[tokio::test]
async fn h3_non_loopback_bind_needs_an_explicit_flag() {
    let p = Project::new();
    let out = std::process::Command::new(BIN)
        .args(["serve", "--http", "0.0.0.0:0", "--root"])
        .arg(&p.root)
        .env("CODEBOX_TOKEN", TOKEN)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--allow-remote"), "{stderr}");
    let out = std::process::Command::new(BIN)
        .args(["serve", "--http", "0.0.0.0:0", "--allow-remote", "--no-auth", "--root"])
        .arg(&p.root)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "--no-auth never goes remote");
}

/// A token file that is empty (a container started without its secret) or short is refused at start, and the
/// message says what to put there.
#[tokio::test]
async fn an_empty_or_short_token_file_is_refused_saying_what_to_do() {
    let p = Project::new();
    let file = p.outside.join("token");
    for (content, says) in
        [("\n", "is empty: put a long random token in it"), ("short\n", "shorter than 16 characters")]
    {
        std::fs::write(&file, content).unwrap();
        let out = std::process::Command::new(BIN)
            .args(["serve", "--http", "127.0.0.1:0", "--token-file"])
            .arg(&file)
            .arg("--root")
            .arg(&p.root)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
    }
}

#[tokio::test]
async fn h4_missing_wrong_prefix_and_query_tokens_get_401() {
    let p = Project::new();
    let s = HttpServer::start(&p.root, Some(TOKEN), &[]).await;
    let prefix = &TOKEN[..TOKEN.len() - 1];
    let longer = format!("{TOKEN}x");
    for (what, req) in [
        ("none", post(&s)),
        ("wrong", post(&s).bearer_auth("wrong-token-0123456789abcdef0123456789")),
        ("prefix", post(&s).bearer_auth(prefix)),
        ("longer", post(&s).bearer_auth(&longer)),
        ("basic", post(&s).basic_auth("user", Some(TOKEN))),
        (
            "query",
            reqwest::Client::new().post(format!("{}?token={TOKEN}", s.url)).header("content-type", "application/json"),
        ),
        (
            "query2",
            reqwest::Client::new()
                .post(format!("{}?access_token={TOKEN}", s.url))
                .header("content-type", "application/json"),
        ),
    ] {
        let r = req.json(&initialize_body()).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert!(!r.text().await.unwrap().contains(TOKEN));
    }
}

#[tokio::test]
async fn h5_csrf_style_simple_requests_are_rejected() {
    let p = Project::new();
    let s = HttpServer::start(&p.root, Some(TOKEN), &[]).await;
    let r = reqwest::Client::new()
        .post(&s.url)
        .bearer_auth(TOKEN)
        .header("content-type", "text/plain")
        .header("accept", "application/json, text/event-stream")
        .body(initialize_body().to_string())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error() && r.status() != StatusCode::NOT_FOUND, "text/plain POST: {}", r.status());
    let r = reqwest::Client::new().get(format!("{}?method=tools/call", s.url)).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "GET with parameters");
}

#[tokio::test]
async fn h6_session_ids_are_random_and_unknown_ids_are_refused() {
    let p = Project::new();
    let s = HttpServer::start(&p.root, Some(TOKEN), &[]).await;
    let a = session(&s).await;
    let b = session(&s).await;
    assert_ne!(a, b);
    // 256 bits from the OS, hex-encoded: more than the 128 bits ATTACKS.md H6 asks for.
    assert!(
        a.len() == 64 && a.chars().all(|c| c.is_ascii_hexdigit()),
        "session id {a:?} carries too little randomness"
    );
    let ping = json!({"jsonrpc":"2.0","id":9,"method":"ping"});
    let forged = "00000000-0000-4000-8000-000000000000";
    let r = post(&s).bearer_auth(TOKEN).header("mcp-session-id", forged).json(&ping).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "unknown session");
    let r = post(&s).header("mcp-session-id", &a).json(&ping).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "a valid session id without the token");
}

#[tokio::test]
async fn h7_concurrent_sessions_with_the_same_request_ids_get_their_own_answers() {
    let p = Project::new();
    p.write("a.txt", "AAAA\n");
    p.write("b.txt", "BBBB\n");
    let s = HttpServer::start(&p.root, Some(TOKEN), &[]).await;
    let (ca, cb) = (s.client().await, s.client().await);
    // Both clients number their requests the same way, so every pair below shares a JSON-RPC id.
    for _ in 0..20 {
        let (ra, rb) = tokio::join!(
            call(&ca, "read_file", json!({"path": "a.txt"})),
            call(&cb, "read_file", json!({"path": "b.txt"}))
        );
        assert!(ra.text.contains("AAAA") && !ra.text.contains("BBBB"), "{}", ra.text);
        assert!(rb.text.contains("BBBB") && !rb.text.contains("AAAA"), "{}", rb.text);
    }
}

#[tokio::test]
async fn h8_oversized_bodies_and_stream_floods_are_bounded() {
    let p = Project::new();
    p.write("codebox.toml", "[http]\nmax_streams = 3\n");
    let s = HttpServer::start(&p.root, Some(TOKEN), &[]).await;
    let huge = vec![b' '; 100 << 20];
    let r = post(&s).bearer_auth(TOKEN).body(huge).send().await;
    // The server may answer 413 or cut the connection while the client is still sending; both refuse the body.
    if let Ok(r) = r {
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
    // Hold three SSE streams open; the fourth request is refused instead of piling up.
    let mut held = Vec::new();
    for _ in 0..3 {
        let id = session(&s).await;
        let r = reqwest::Client::new()
            .get(&s.url)
            .bearer_auth(TOKEN)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", id)
            .header("mcp-protocol-version", "2025-06-18")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        held.push(r);
    }
    let r = post(&s).bearer_auth(TOKEN).json(&initialize_body()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    drop(held);
}

#[tokio::test]
async fn h9_the_token_never_appears_in_logs_errors_or_argv() {
    let p = Project::new();
    let s = HttpServer::start(&p.root, Some(TOKEN), &["--log-level", "trace"]).await;
    let c = s.client().await;
    let e = err(&c, "read_file", json!({"path": "/proc/self/environ"})).await;
    assert!(!e.contains(TOKEN));
    let _ = post(&s).bearer_auth("wrong-token-0123456789abcdef").json(&initialize_body()).send().await.unwrap();
    drop(c);
    let pid = s.child.id().unwrap();
    let argv = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(!String::from_utf8_lossy(&argv).contains(TOKEN));
    let log = s.stderr.lock().unwrap().clone();
    assert!(log.contains("TRACE") || log.contains("DEBUG"), "trace logging was on, yet nothing was logged: {log}");
    assert!(!log.contains(TOKEN), "the token leaked into the log");
}
