//! Issue 16, load: 16 concurrent HTTP sessions on 16 workspaces (created on first use), each making 500 mixed
//! calls (read_file, write_file, edit_file, search, run_command, run_tests on the pytest fixture). Every call must
//! succeed, and every session must only ever see its own workspace: each writes the same relative path with its
//! own tag, and any read, search or command that shows another tag is a cross-workspace effect.
//! Bounded: 8,000 calls, of which 1,120 start a sandboxed program.

use std::process::Command;

use serde_json::json;

use crate::harness::*;

const SESSIONS: usize = 16;
const CALLS: usize = 500;

fn tag(k: usize) -> String {
    format!("owner-{k:02}-x")
}

/// One session's 500 calls; returns the failures (call number, tool, message) and the PORT its commands saw.
async fn session(c: Client, k: usize) -> (Vec<String>, String) {
    let mine = tag(k);
    let foreign = |text: &str| (0..SESSIONS).filter(|&o| o != k).any(|o| text.contains(&tag(o)));
    let mut failures = Vec::new();
    let mut count = 0usize;
    let mut port = String::new();
    for i in 0..CALLS {
        let (tool, args) = match i % 25 {
            0 => {
                count = 0;
                ("write_file", json!({"path": "load.txt", "content": format!("{mine}\ncount=0\n")}))
            }
            1..=10 => ("read_file", json!({"path": "load.txt"})),
            11..=15 => ("search", json!({"pattern": "owner-\\d+-x"})),
            16..=20 => {
                count += 1;
                let edit =
                    json!({"old_string": format!("count={}", count - 1), "new_string": format!("count={count}")});
                ("edit_file", json!({"path": "load.txt", "edits": [edit]}))
            }
            21..=23 => ("run_command", json!({"command": "cat load.txt; echo port=$PORT"})),
            _ if i % 50 == 24 => ("run_tests", json!({})),
            _ => ("list_directory", json!({})),
        };
        let out = call(&c, tool, args).await;
        let wrong = if out.is_error {
            Some("error")
        } else if foreign(&out.text) {
            Some("another workspace's tag")
        } else if matches!(tool, "read_file" | "search" | "run_command") && !out.text.contains(&mine) {
            Some("its own tag missing")
        } else if tool == "run_tests" && !out.text.contains("passed") {
            Some("tests did not pass")
        } else {
            None
        };
        if tool == "run_command" && port.is_empty() {
            port = out.text.split("port=").nth(1).unwrap_or("").lines().next().unwrap_or("").to_string();
        }
        if let Some(w) = wrong {
            failures
                .push(format!("session {k} call {i} {tool}: {w}: {}", out.text.chars().take(300).collect::<String>()));
        }
    }
    let _ = c.cancel().await;
    (failures, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_sessions_on_sixteen_workspaces_make_500_calls_each_without_errors_or_crosstalk() {
    let p = fixture("py_pass");
    p.write(".gitignore", "__pycache__/\n.pytest_cache/\n");
    p.write("codebox.toml", "[workspaces]\ncreate_on_use = true\n");
    for args in [&["init", "-q", "-b", "main"][..], &["add", "-A"], &["commit", "-q", "-m", "base"]] {
        let ok = Command::new("git")
            .arg("-C")
            .arg(&p.root)
            .args(args)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.org")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.org")
            .status()
            .unwrap();
        assert!(ok.success());
    }
    let s = HttpServer::start(&p.root, Some("load-token-0123456789abcdef0123456789"), &[]).await;
    let mut clients = Vec::new();
    for k in 0..SESSIONS {
        clients.push(s.client_at(&s.url.replace("/mcp", &format!("/ws/load{k}/mcp"))).await);
    }
    let runs: Vec<_> = clients.into_iter().enumerate().map(|(k, c)| tokio::spawn(session(c, k))).collect();
    let mut failures = Vec::new();
    let mut ports = std::collections::HashSet::new();
    for r in runs {
        let (f, port) = r.await.unwrap();
        failures.extend(f);
        assert!(port.parse::<u16>().is_ok_and(|p| p >= 20000), "PORT {port:?}");
        ports.insert(port);
    }
    assert_eq!(ports.len(), SESSIONS, "each workspace has its own PORT: {ports:?}");
    assert!(
        failures.is_empty(),
        "{} failed calls, first ones:\n{}",
        failures.len(),
        failures[..failures.len().min(10)].join("\n")
    );
    // The main checkout saw none of it.
    assert!(!p.root.join("load.txt").exists());
    let st = Command::new("git").arg("-C").arg(&p.root).args(["status", "--porcelain"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&st.stdout), "");
}
