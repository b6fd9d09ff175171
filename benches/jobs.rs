//! Jobs benchmark (issue 13): how fast a waiting call answers once a job prints its line, and how much memory
//! codebox needs while jobs print a lot.
//!
//! - Line latency: a job prints `tick <i> <CLOCK_MONOTONIC ns>` every 50 ms, 200 times; the client has a
//!   `job_output(wait_for = "^tick <i> ")` call waiting for each line, and takes the clock when the answer
//!   arrives. Latency = answer time − the time in the line. Median and p99 over the 200 lines. Baseline, in the
//!   same run: the same printer started directly by this process, its pipe read line by line (what any reader
//!   of a child's output pays, before codebox does anything).
//! - Peak RSS: codebox's VmHWM after two jobs have each streamed 1 GB (`yes | head -c 1G`) to the end, against
//!   its VmHWM before they started.
//!
//! Targets (issue 13): median ≤ 5 ms, peak RSS ≤ 64 MiB. A report: nothing is asserted.
//! Run with: cargo bench --bench jobs   (CODEBOX_BIN overrides the binary; CODEBOX_BENCH_LINES the line count)

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

const MARKER: &str = "jobs-bench-marker";

fn codebox_bin() -> String {
    std::env::var("CODEBOX_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_codebox").to_string())
}

fn printer(lines: usize) -> String {
    format!(
        "import time\nfor i in range({lines}):\n    time.sleep(0.05)\n    print('tick', i, time.monotonic_ns(), flush=True)\n"
    )
}

/// CLOCK_MONOTONIC in nanoseconds: the clock Python's `time.monotonic_ns` reads (no time namespace in between).
fn now_ns() -> u64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

fn main() {
    let lines: usize = std::env::var("CODEBOX_BENCH_LINES").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("proj");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("printer.py"), printer(lines)).unwrap();

    let base = baseline(&root, lines);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (lat, rss) = rt.block_on(codebox(dir.path(), lines));

    println!("\njobs benchmark: {lines} lines, one every 50 ms; two jobs of 1 GB each for memory");
    println!("{:<44} {:>10} {:>10} {:>10}", "", "median", "p99", "max");
    row("baseline: the printer's pipe read directly", &base);
    row("codebox: job_output(wait_for) answered", &lat);
    let ratio = median(&lat).as_secs_f64() / median(&base).as_secs_f64().max(1e-9);
    println!("codebox / baseline (median): {ratio:.1}×");
    println!("target median ≤ 5 ms: {}", if median(&lat) <= Duration::from_millis(5) { "met" } else { "MISSED" });
    let (before, after) = rss;
    println!(
        "codebox peak RSS (VmHWM): {:.1} MiB before, {:.1} MiB after two jobs streamed 1 GB each; target ≤ 64 MiB: {}",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        if after <= 64 * 1024 { "met" } else { "MISSED" }
    );
}

fn row(name: &str, v: &[Duration]) {
    let mut s = v.to_vec();
    s.sort();
    let p99 = s[(s.len() * 99 / 100).min(s.len() - 1)];
    println!("{name:<44} {:>10} {:>10} {:>10}", fmt(median(v)), fmt(p99), fmt(*s.last().unwrap()));
}

fn median(v: &[Duration]) -> Duration {
    let mut s = v.to_vec();
    s.sort();
    s[s.len() / 2]
}

fn fmt(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// The printer started directly, its stdout read line by line in this process.
fn baseline(root: &std::path::Path, lines: usize) -> Vec<Duration> {
    let mut child = std::process::Command::new("python3")
        .arg(root.join("printer.py"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let out = BufReader::new(child.stdout.take().unwrap());
    let mut lat = Vec::with_capacity(lines);
    for line in out.lines() {
        let now = now_ns();
        let line = line.unwrap();
        let sent: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        lat.push(Duration::from_nanos(now.saturating_sub(sent)));
    }
    let _ = child.wait();
    lat
}

async fn call(c: &RunningService<RoleClient, ()>, tool: &str, args: Value) -> Value {
    let Value::Object(map) = args else { unreachable!() };
    let r = c.call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(map)).await.expect("call");
    let text = r.content.iter().filter_map(|c| c.as_text().map(|t| t.text.clone())).collect::<Vec<_>>().join("\n");
    assert!(r.is_error != Some(true), "{tool}: {text}");
    r.structured_content.unwrap_or(Value::Null)
}

async fn codebox(base: &std::path::Path, lines: usize) -> (Vec<Duration>, (u64, u64)) {
    let root = base.join("proj");
    let tmp = base.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut cmd = tokio::process::Command::new(codebox_bin());
    cmd.arg("serve").arg("--root").arg(&root).env("TMPDIR", &tmp).env("XDG_STATE_HOME", base.join("state"));
    cmd.env("CODEBOX_BENCH", MARKER).stderr(Stdio::null());
    let c = ().serve(TokioChildProcess::new(cmd).unwrap()).await.expect("handshake");
    let pid = server_pid();

    let s = call(&c, "job_start", json!({"command": "python3 printer.py", "name": "ticks"})).await;
    let id = s["id"].as_str().unwrap().to_string();
    let mut lat = Vec::with_capacity(lines);
    for i in 0..lines {
        let s = call(&c, "job_output", json!({"id": id, "wait_for": format!("^tick {i} "), "wait_secs": 10})).await;
        let now = now_ns();
        let matched = s["matched"].as_str().unwrap_or_else(|| panic!("tick {i} did not arrive: {s}"));
        let sent: u64 = matched.rsplit(' ').next().unwrap().parse().unwrap();
        lat.push(Duration::from_nanos(now.saturating_sub(sent)));
    }

    let before = hwm(pid);
    let flood = "yes 0123456789abcdefghijklmnopqrstuvwxyz 2>/dev/null | head -c 1073741824; echo; echo THE-END";
    let a = call(&c, "job_start", json!({"command": flood})).await;
    let b = call(&c, "job_start", json!({"command": flood})).await;
    for s in [a, b] {
        loop {
            let r = call(&c, "job_output", json!({"id": s["id"], "wait_for": "^THE-END$", "wait_secs": 60})).await;
            if r["state"] != "running" || r["matched"].is_string() {
                break;
            }
        }
    }
    let after = hwm(pid);
    let _ = c.cancel().await;
    (lat, (before, after))
}

fn server_pid() -> u32 {
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        if let Ok(env) = std::fs::read(e.path().join("environ"))
            && String::from_utf8_lossy(&env).contains(MARKER)
        {
            return pid;
        }
    }
    panic!("the codebox process was not found");
}

fn hwm(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}
