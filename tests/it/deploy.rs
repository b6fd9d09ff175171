//! Issue 17, running at scale: the HTTP server's probes (`/healthz`, `/readyz`, answered without a token) and its
//! drain on SIGTERM (readiness fails, new requests get 503, the call in flight finishes and its answer arrives,
//! then the sessions end and their jobs with them).

use std::os::unix::fs::OpenOptionsExt;
use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::harness::*;
use crate::jobs::{all_exit_within, marker, pidfds_with, sleeper};

const TOKEN: &str = "deploy-token-0123456789abcdef0123456789";

/// `codebox serve --http` on a free loopback port, with its stderr lines on a channel, so a test waits for what
/// the server says instead of for time to pass.
struct Server {
    child: tokio::process::Child,
    url: String,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl Server {
    async fn start(root: &std::path::Path) -> Server {
        Server::with_drain(root, 600).await
    }

    async fn with_drain(root: &std::path::Path, drain_secs: u32) -> Server {
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.args(["serve", "--http", "127.0.0.1:0", "--log-level", "info", "--root"]).arg(root);
        cmd.arg("--drain-secs").arg(drain_secs.to_string());
        private_dirs(cmd.as_std_mut(), root);
        cmd.env("CODEBOX_TOKEN", TOKEN).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.kill_on_drop(true).spawn().unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                let _ = tx.send(line);
            }
        });
        let mut s = Server { child, url: String::new(), lines };
        let line = s.wait_for("serving MCP at ").await;
        s.url = line.split("serving MCP at ").nth(1).unwrap().trim().to_string();
        s
    }

    /// The next stderr line containing `needle`.
    async fn wait_for(&mut self, needle: &str) -> String {
        loop {
            let line = self.lines.recv().await.unwrap_or_else(|| panic!("codebox exited before saying {needle:?}"));
            if line.contains(needle) {
                return line;
            }
        }
    }

    fn base(&self) -> String {
        self.url.trim_end_matches("/mcp").to_string()
    }

    async fn client(&self) -> Client {
        use rmcp::ServiceExt;
        use rmcp::transport::streamable_http_client::{
            StreamableHttpClientTransport, StreamableHttpClientTransportConfig,
        };
        let cfg = StreamableHttpClientTransportConfig::with_uri(self.url.clone()).auth_header(TOKEN.to_string());
        ().serve(StreamableHttpClientTransport::with_client(reqwest::Client::new(), cfg)).await.unwrap()
    }
}

async fn get(url: String) -> (StatusCode, String) {
    let r = reqwest::get(url).await.unwrap();
    (r.status(), r.text().await.unwrap())
}

/// The probes answer a cluster's kubelet, which sends no token, and say nothing but their state; `/mcp` still
/// wants the token.
#[tokio::test]
async fn probes_answer_without_a_token_and_mcp_still_needs_one() {
    let p = Project::new();
    let s = Server::start(&p.root).await;
    assert_eq!(get(format!("{}/healthz", s.base())).await, (StatusCode::OK, "ok\n".to_string()));
    assert_eq!(get(format!("{}/readyz", s.base())).await, (StatusCode::OK, "ready\n".to_string()));
    let r = reqwest::Client::new()
        .post(&s.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .json(&initialize_body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "the probes open nothing else");
}

type InFlight = tokio::task::JoinHandle<Result<rmcp::model::CallToolResult, rmcp::ServiceError>>;

/// Starts run_command with `command`, which blocks reading `fifo`, and returns once the command has opened it
/// (opening the FIFO's other end returns then), so the call is in flight: the call's task and the writing end.
async fn run_blocked_on(c: &Client, fifo: &std::path::Path, command: String) -> (InFlight, std::fs::File) {
    let peer = c.peer().clone();
    let mut in_flight = tokio::spawn(async move {
        let serde_json::Value::Object(map) = json!({ "command": command }) else { unreachable!() };
        peer.call_tool(rmcp::model::CallToolRequestParams::new("run_command").with_arguments(map)).await
    });
    let opening = {
        let fifo = fifo.to_path_buf();
        tokio::task::spawn_blocking(move || std::fs::OpenOptions::new().write(true).open(fifo).unwrap())
    };
    let writer = tokio::select! {
        w = opening => w.unwrap(),
        ended = &mut in_flight => {
            // The command never opened the FIFO: open its reading end here so the blocked open above returns.
            let _reader = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(fifo);
            panic!("the call ended before it read the FIFO: {ended:?}");
        }
    };
    (in_flight, writer)
}

/// SIGTERM drains: readiness turns 503 and a new session is refused while a call is in flight; the call finishes
/// and its answer arrives; codebox then exits 0 and the session's job is gone.
#[tokio::test]
async fn sigterm_lets_the_call_in_flight_finish_then_stops_the_jobs() {
    let p = Project::new();
    let fifo = p.root.join("drain.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let mut s = Server::start(&p.root).await;
    let c = s.client().await;
    let m = marker("drain");
    let job = call(&c, "job_start", json!({"command": sleeper(&m, "sleeper", false), "wait_for": "^up$"})).await;
    assert!(!job.is_error, "{}", job.text);
    let job_fds = pidfds_with(&m);
    assert_eq!(job_fds.len(), 1, "the job runs: {:?}", host_processes_with(&m));

    // The call blocks reading the FIFO; opening its other end returns once the command has opened it, so the
    // call is in flight when the signal comes.
    let (in_flight, writer) =
        run_blocked_on(&c, &fifo, "read -r word < drain.fifo; echo \"finished $word\"".into()).await;

    let pid = nix::unistd::Pid::from_raw(s.child.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let line = s.wait_for("draining:").await;
    assert!(line.contains("1 call(s) in flight"), "{line}");
    assert_eq!(get(format!("{}/readyz", s.base())).await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(get(format!("{}/healthz", s.base())).await.0, StatusCode::OK, "draining is not dead");
    let r = reqwest::Client::new()
        .post(&s.url)
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .json(&initialize_body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "no new session while draining");
    assert!(r.text().await.unwrap().contains("shutting down"));

    {
        use std::io::Write;
        let mut writer = writer;
        writer.write_all(b"cleanly\n").unwrap();
    }
    let result = in_flight.await.unwrap().expect("the call in flight gets its answer");
    let text = result.content.iter().filter_map(|c| c.as_text().map(|t| t.text.clone())).collect::<String>();
    assert!(!result.is_error.unwrap_or(false) && text.contains("finished cleanly"), "{text}");
    s.wait_for("drained: every call in flight has finished").await;
    let status = tokio::time::timeout(Duration::from_secs(60), s.child.wait())
        .await
        .expect("codebox exits once drained")
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(
        all_exit_within(&job_fds, Duration::from_secs(20)),
        "the job outlived codebox: {:?}",
        host_processes_with(&m)
    );
}

/// A call that does not finish within --drain-secs is stopped: its process tree is killed, and codebox exits 0
/// without waiting for it.
#[tokio::test]
async fn a_call_past_the_drain_limit_is_stopped_and_codebox_exits() {
    let p = Project::new();
    let fifo = p.root.join("stuck.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let mut s = Server::with_drain(&p.root, 1).await;
    let c = s.client().await;
    let m = marker("overrun");
    // argv[0] is the marker, so the test finds the command's process on the host.
    let command = format!("exec -a {m} bash -c 'read -r word < stuck.fifo'");
    let (_in_flight, _writer) = run_blocked_on(&c, &fifo, command).await;
    let stuck = pidfds_with(&m);
    assert_eq!(stuck.len(), 1, "the command runs: {:?}", host_processes_with(&m));

    let pid = nix::unistd::Pid::from_raw(s.child.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let line = s.wait_for("drain limit of 1 s reached").await;
    assert!(line.contains("1 call(s) in flight"), "{line}");
    let status = tokio::time::timeout(Duration::from_secs(60), s.child.wait())
        .await
        .expect("codebox exits once the drain limit has passed")
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(
        all_exit_within(&stuck, Duration::from_secs(20)),
        "the stopped call's process lives: {:?}",
        host_processes_with(&m)
    );
}
