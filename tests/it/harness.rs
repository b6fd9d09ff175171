//! Shared test plumbing: fixture projects on disk, the real `codebox` binary over stdio and HTTP, an rmcp client.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

pub type Client = RunningService<RoleClient, ()>;

pub const BIN: &str = env!("CARGO_BIN_EXE_codebox");
pub const CANARY: &str = "CANARY-7f3a9c-outside-the-workspace";

/// A temporary directory holding `proj/` (the workspace root) and `outside/` (a canary the tools must never reach).
pub struct Project {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub outside: PathBuf,
}

impl Project {
    pub fn new() -> Project {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("proj");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("canary.txt"), CANARY).unwrap();
        Project { _dir: dir, root, outside }
    }

    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        p
    }

    pub fn canary(&self) -> PathBuf {
        self.outside.join("canary.txt")
    }

    /// The canary is byte-for-byte what it was.
    pub fn assert_canary_intact(&self) {
        assert_eq!(std::fs::read_to_string(self.canary()).unwrap(), CANARY);
    }
}

/// Starts `codebox serve --root <root> <args>` over stdio and completes the MCP handshake.
pub async fn stdio(root: &Path, args: &[&str]) -> Client {
    stdio_with(root, args, &[], |_| {}).await
}

/// Like `stdio`, with extra environment variables and a hook to adjust the command (inherited fds, filters).
pub async fn stdio_with(
    root: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    adjust: impl FnOnce(&mut tokio::process::Command),
) -> Client {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.arg("serve").arg("--root").arg(root).args(args).stderr(Stdio::null());
    // Undo history and scratch go next to the project, not into the machine's ~/.local/state and /tmp.
    private_dirs(cmd.as_std_mut(), root);
    for (k, v) in env {
        cmd.env(k, v);
    }
    adjust(&mut cmd);
    let cmd = cmd.configure(|_| {});
    ().serve(TokioChildProcess::new(cmd).unwrap()).await.expect("MCP handshake over stdio")
}

/// Points the server's undo history (XDG_STATE_HOME) and scratch space (TMPDIR) next to the project.
pub fn private_dirs(cmd: &mut std::process::Command, root: &Path) {
    let base = root.parent().unwrap();
    let tmp = base.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    cmd.env("XDG_STATE_HOME", base.join("state")).env("TMPDIR", tmp);
}

/// The pid of the process whose environment holds `marker` (tests start servers with a unique marker).
pub fn pid_with_env(marker: &str) -> Option<i32> {
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        if let Ok(env) = std::fs::read(e.path().join("environ"))
            && String::from_utf8_lossy(&env).contains(marker)
            && std::fs::read_link(e.path().join("exe")).is_ok_and(|p| p.to_string_lossy().starts_with(BIN))
        {
            return Some(pid);
        }
    }
    None
}

/// Processes on the host whose command line contains `marker`.
pub fn host_processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if e.file_name().to_string_lossy().parse::<i32>().is_err() {
            continue;
        }
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(marker) {
                found.push(format!("{}: {cmd}", e.file_name().to_string_lossy()));
            }
        }
    }
    found
}

#[derive(Debug)]
pub struct ToolOut {
    pub is_error: bool,
    pub text: String,
    pub structured: Option<Value>,
    /// A failure's kind and its data, from the result's `_meta` (`{"kind": "stale_version", ...}`).
    pub error: Option<Value>,
}

pub async fn call(c: &Client, tool: &str, args: Value) -> ToolOut {
    let Value::Object(map) = args else { panic!("arguments must be an object") };
    let r = c
        .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(map))
        .await
        .unwrap_or_else(|e| panic!("{tool}: protocol error {e}"));
    let text = r.content.iter().filter_map(|c| c.as_text().map(|t| t.text.clone())).collect::<Vec<_>>().join("\n");
    let error = r.meta.as_ref().and_then(|m| m.0.get("codebox/error")).cloned();
    ToolOut { is_error: r.is_error.unwrap_or(false), text, structured: r.structured_content, error }
}

/// Calls a tool that must succeed and returns its text.
pub async fn ok(c: &Client, tool: &str, args: Value) -> String {
    let out = call(c, tool, args.clone()).await;
    assert!(!out.is_error, "{tool} {args} failed: {}", out.text);
    out.text
}

/// Calls a tool that must fail and returns its message.
pub async fn err(c: &Client, tool: &str, args: Value) -> String {
    let out = call(c, tool, args.clone()).await;
    assert!(out.is_error, "{tool} {args} should have failed, got: {}", out.text);
    // Every failure carries its kind beside the message (server::tool_result), whatever the test checks.
    assert!(out.error.as_ref().is_some_and(|e| e["kind"].is_string()), "{tool} {args}: no error kind: {}", out.text);
    out.text
}

/// Calls a tool that must fail with the error kind `kind`; returns the kind's data (`kind` included) and the
/// message.
pub async fn refusal(c: &Client, tool: &str, args: Value, kind: &str) -> (Value, String) {
    let out = call(c, tool, args.clone()).await;
    assert!(out.is_error, "{tool} {args} should have failed, got: {}", out.text);
    let error = out.error.unwrap_or_else(|| panic!("{tool} {args}: a failure without its kind: {}", out.text));
    assert_eq!(error["kind"], kind, "{tool} {args}: {error} {}", out.text);
    (error, out.text)
}

/// `refusal`, for the message only.
pub async fn refused(c: &Client, tool: &str, args: Value, kind: &str) -> String {
    refusal(c, tool, args, kind).await.1
}

/// A `codebox serve --http` child on a free loopback port. Killed on drop.
pub struct HttpServer {
    pub child: tokio::process::Child,
    pub url: String,
    pub token: Option<String>,
    pub stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl HttpServer {
    /// Starts the server with `CODEBOX_TOKEN=token` (or `--no-auth` when None) and waits for its "serving" line.
    pub async fn start(root: &Path, token: Option<&str>, extra: &[&str]) -> HttpServer {
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.arg("serve").arg("--root").arg(root).arg("--http").arg("127.0.0.1:0").args(extra);
        private_dirs(cmd.as_std_mut(), root);
        match token {
            Some(t) => cmd.env("CODEBOX_TOKEN", t),
            None => cmd.arg("--no-auth"),
        };
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).kill_on_drop(true);
        let mut child = cmd.spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let url = loop {
            let line = lines.next_line().await.unwrap().expect("server exited before serving");
            log.lock().unwrap().push_str(&format!("{line}\n"));
            if let Some(rest) = line.split("serving MCP at ").nth(1) {
                break rest.trim().to_string();
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe; tests read what it logged.
        let sink = log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        HttpServer { child, url, token: token.map(str::to_string), stderr: log }
    }

    pub async fn client(&self) -> Client {
        self.client_at(&self.url).await
    }

    /// A client of another URL of this server (a workspace's `/ws/<name>/mcp`).
    pub async fn client_at(&self, url: &str) -> Client {
        use rmcp::transport::streamable_http_client::{
            StreamableHttpClientTransport, StreamableHttpClientTransportConfig,
        };
        let mut cfg = StreamableHttpClientTransportConfig::with_uri(url.to_string());
        if let Some(t) = &self.token {
            cfg = cfg.auth_header(t.clone());
        }
        let transport = StreamableHttpClientTransport::with_client(reqwest::Client::new(), cfg);
        ().serve(transport).await.expect("MCP handshake over HTTP")
    }
}

/// The initialize request body a raw HTTP test posts.
pub fn initialize_body() -> Value {
    serde_json::json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
        "protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"it","version":"1"}}})
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

/// A project holding one fixture of tests/fixtures/projects at its root.
pub fn fixture(name: &str) -> Project {
    let p = Project::new();
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/projects").join(name), &p.root);
    p
}

/// Runs a shell command that the sandbox must start (a refusal fails the test); returns its text.
pub async fn sh_ok(c: &Client, command: &str) -> String {
    let out = call(c, "run_command", serde_json::json!({ "command": command, "timeout_secs": 120 })).await;
    assert!(!out.is_error, "run_command was refused: {}", out.text);
    out.text
}

/// A client that forwards the message of every progress notification it receives.
pub struct ProgressClient(pub tokio::sync::mpsc::UnboundedSender<String>);

impl rmcp::ClientHandler for ProgressClient {
    async fn on_progress(
        &self,
        params: rmcp::model::ProgressNotificationParam,
        _: rmcp::service::NotificationContext<rmcp::RoleClient>,
    ) {
        let _ = self.0.send(params.message.unwrap_or_default());
    }
}

pub type ProgressPeer = RunningService<RoleClient, ProgressClient>;

/// `codebox serve` over stdio with a client that reports progress messages on the returned channel.
pub async fn stdio_with_progress(root: &Path) -> (ProgressPeer, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.arg("serve").arg("--root").arg(root).stderr(Stdio::null());
    private_dirs(cmd.as_std_mut(), root);
    let client = ProgressClient(tx).serve(TokioChildProcess::new(cmd).unwrap()).await.expect("MCP handshake");
    (client, rx)
}

/// Calls `tool` with a progress token and returns, the call still running, once a progress message contains
/// `needle`. No timing is assumed: the caller's command waits for the test to act.
pub async fn call_until_progress(
    client: &ProgressPeer,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
    tool: &str,
    args: Value,
    needle: &str,
) -> tokio::task::JoinHandle<Result<rmcp::model::CallToolResult, rmcp::ServiceError>> {
    let Value::Object(map) = args else { panic!("arguments must be an object") };
    let mut params = CallToolRequestParams::new(tool.to_string()).with_arguments(map);
    params.meta = Some(rmcp::model::RequestMetaObject::with_progress_token(rmcp::model::ProgressToken(
        rmcp::model::NumberOrString::Number(7),
    )));
    let peer = client.peer().clone();
    let call = tokio::spawn(async move { peer.call_tool(params).await });
    loop {
        let msg = rx.recv().await.expect("progress notifications stopped before the line arrived");
        if msg.contains(needle) {
            return call;
        }
    }
}

/// Speaks raw JSON-RPC lines to `codebox serve` over stdio, as a client that is not rmcp would.
pub struct Raw {
    pub child: tokio::process::Child,
    pub stdin: tokio::process::ChildStdin,
    pub lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Raw {
    pub fn start(root: &std::path::Path) -> Raw {
        let mut cmd = tokio::process::Command::new(BIN);
        private_dirs(cmd.as_std_mut(), root);
        let mut child = cmd
            .args(["serve", "--root"])
            .arg(root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Raw { child, stdin, lines }
    }
    pub async fn send(&mut self, msg: Value) {
        self.stdin.write_all(format!("{msg}\n").as_bytes()).await.unwrap();
    }
    /// Bytes as they are, in one write.
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.stdin.write_all(bytes).await.unwrap();
    }
    /// The handshake: initialize (id 1), then the initialized notification.
    pub async fn initialize(&mut self) {
        self.send(json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
            "protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}))
            .await;
        self.reply(json!(1)).await;
        self.send(json!({"jsonrpc":"2.0","method":"notifications/initialized"})).await;
    }
    /// The response with this id (notifications in between are skipped).
    pub async fn reply(&mut self, id: Value) -> Value {
        loop {
            let line = self.lines.next_line().await.unwrap().expect("server closed stdout");
            let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            if v.get("id") == Some(&id) {
                return v;
            }
        }
    }
}
