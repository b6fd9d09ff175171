//! Foundation benchmark (issue 2): codebox over stdio, side by side with the official MCP filesystem server.
//!
//! For each server it measures, on the same ~1 KB file:
//! - cold start: spawn → raw `initialize` JSON line on stdin → response line on stdout (no rmcp client set-up
//!   counted); median / min / max of 20 runs, after one discarded warm-up spawn (binary in page cache);
//! - read latency: after the rmcp handshake and a short warm-up, 2,000 sequential reads (p50 / p99 / mean, calls/s),
//!   then 2,000 reads from 8 concurrent tasks sharing one peer (8 in flight: p50 / p99, calls/s); and, to separate
//!   the server's latency from the rmcp client's, 2,000 sequential reads as raw JSON lines over blocking pipes;
//! - idle RSS: VmRSS and VmHWM of the server process (for the filesystem server, the `node` process itself)
//!   after the handshake, some calls and ~1 s idle.
//!
//! codebox runs as `codebox serve --root DIR`, tool `read_file {path}`; the filesystem server
//! (npm `@modelcontextprotocol/server-filesystem`) as `node …/dist/index.js DIR`, tool `read_text_file {path}`
//! with an absolute path. Both are driven by the same rmcp client, so client overhead is common to both.
//! It prints a table with the ratio codebox/filesystem and whether each target is met
//! (start ≤ 10 ms, read p50 ≤ 60 µs, ≥ 10× the filesystem server's calls/s, idle RSS ≤ 10 MiB).
//! It is a report: nothing is asserted on timings.
//!
//! A third column is the floor of this machine: the benchmark binary itself re-executed as the smallest stdio MCP
//! server that can answer these calls (`FOUNDATION_FLOOR_SERVER` set: blocking line reads, one `read` of the file
//! per call, a canned JSON line out, no JSON parsing). Its round trip is what process wake-ups and pipes cost here,
//! before any server does any work; on a VM whose cross-CPU wake-ups are slow it explains most of every figure.
//!
//! Per-call cost (issue 18): for the floor server and codebox, N sequential calls over a raw pipe after 100 warm-up
//! calls — `ping`, and reads of a 1 KB and a 100 KB file — each with p50/p99 latency, calls/s, and the server's
//! CPU per call from its own accounting (utime+stime in /proc/<pid>/stat, before and after, over N calls; the
//! kernel counts in clock ticks, so N is large enough that one tick is well under 1% of the total). codebox answers
//! these on its stdio fast path (`src/server/stdio.rs`). Time on a shared VM swings by 2× between runs; for a figure
//! that does not, count instructions per call: `python3 scripts/measure/per_call_profile.py BINARY ping|read|big|list|search`
//! (callgrind; `perf` as a third argument for a profile).
//!
//! Run with: cargo bench --bench foundation
//! (`CODEBOX_BENCH_ONLY_COST=1`: only the per-call cost phase; `CODEBOX_BENCH_COST_CALLS`: its N, default 20000)
//!
//! Environment:
//! - `CODEBOX_BENCH_CACHE`: npm prefix where the filesystem server is installed on first use
//!   (default `target/bench-cache`).
//! - `CODEBOX_BENCH_SKIP_FS=1`: skip the filesystem server comparison.
//! - `CODEBOX_BENCH_CALLS`: reads per latency phase (default 2000).
//! - `NODE`, `NPM`: the node and npm executables (default `node`, `npm` from PATH).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rmcp::model::CallToolRequestParams;
use rmcp::service::{Peer, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

/// codebox serving `root`, reading `small.txt` in the read phases.
fn codebox_server(root: &Path) -> Server {
    Server {
        name: "codebox".into(),
        program: codebox_bin(),
        args: vec!["serve".into(), "--root".into(), root.display().to_string()],
        env: vec![],
        tool: "read_file",
        path_arg: "small.txt".into(),
    }
}

/// The codebox binary under test.
fn codebox_bin() -> String {
    std::env::var("CODEBOX_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_codebox").to_string())
}

const STARTS: usize = 20;
const IN_FLIGHT: usize = 8;
const WARMUP_CALLS: usize = 100;
const FS_PACKAGE: &str = "@modelcontextprotocol/server-filesystem";
const MARKER: &str = "foundation-bench-marker";

const INIT_LINE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"foundation-bench","version":"0"}}}"#;

/// How to start one server and read the benchmark file through it.
struct Server {
    name: String,
    program: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    tool: &'static str,
    path_arg: String,
}

impl Server {
    fn command(&self) -> std::process::Command {
        let mut c = std::process::Command::new(&self.program);
        c.args(&self.args).envs(self.env.iter().cloned());
        c
    }

    /// The server with piped stdin and stdout, for raw JSON lines.
    fn spawn_piped(&self) -> Result<std::process::Child, String> {
        self.command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", self.program))
    }
}

#[derive(Default)]
struct Lat {
    p50: Duration,
    p99: Duration,
    mean: Duration,
    per_sec: f64,
}

#[derive(Default)]
struct Report {
    start: Option<(Duration, Duration, Duration)>, // median, min, max
    seq: Option<Lat>,
    raw: Option<Lat>,
    raw_par: Option<Lat>,
    par: Option<Lat>,
    rss_kib: Option<u64>,
    hwm_kib: Option<u64>,
    errors: Vec<String>,
}

/// The floor server (see the module docs): answers `initialize` and every `tools/call` with canned lines, the
/// call's id spliced in, the file read fresh each time. Exits at end of input.
fn floor_server(file: &str) {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    let mut line = String::new();
    let mut input = stdin.lock();
    while input.read_line(&mut line).is_ok_and(|n| n > 0) {
        // The id, textually: `"id":N` as every client here writes it (with or without a space).
        let id = line.split("\"id\":").nth(1).map(|rest| {
            let rest = rest.trim_start();
            rest[..rest.find([',', '}']).unwrap_or(rest.len())].trim().to_string()
        });
        if let Some(id) = id {
            let result = if line.contains("\"initialize\"") {
                r#"{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"floor","version":"0"}}"#.to_string()
            } else if line.contains("\"ping\"") {
                "{}".to_string()
            } else {
                let text = std::fs::read_to_string(file).unwrap_or_default();
                format!(r#"{{"content":[{{"type":"text","text":{}}}]}}"#, Value::String(text))
            };
            let _ = writeln!(out, r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}"#);
            let _ = out.flush();
        }
        line.clear();
    }
}

fn main() {
    if let Ok(file) = std::env::var("FOUNDATION_FLOOR_SERVER") {
        return floor_server(&file);
    }
    if std::env::var_os("CODEBOX_BENCH_ONLY_COST").is_some() {
        return per_call_costs();
    }
    let calls: usize = std::env::var("CODEBOX_BENCH_CALLS").ok().and_then(|s| s.parse().ok()).unwrap_or(2000);
    let dir = tempfile::tempdir().expect("temp dir");
    // Canonical, so the filesystem server (which resolves symlinks of allowed dirs) sees the same path.
    let root = dir.path().canonicalize().expect("canonical temp dir");
    let file = root.join("small.txt");
    let mut text = format!("{MARKER}\n");
    for i in 1..20 {
        text.push_str(&format!("line {i:02}: the quick brown fox jumps over the lazy dog, again.\n"));
    }
    std::fs::write(&file, &text).expect("write bench file");

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let t_all = Instant::now();

    let codebox = codebox_server(&root);
    eprintln!("foundation: codebox {} on a {}-byte file, {calls} calls per phase", codebox.program, text.len());
    let cb = run_server(&rt, &codebox, calls);
    let floor = Server {
        name: "floor".into(),
        program: std::env::current_exe().expect("the benchmark's own path").display().to_string(),
        args: vec![],
        env: vec![("FOUNDATION_FLOOR_SERVER".into(), file.display().to_string())],
        tool: "read_file",
        path_arg: "small.txt".into(),
    };
    eprintln!("foundation: floor server (this binary, FOUNDATION_FLOOR_SERVER)");
    let fl = run_server(&rt, &floor, calls);

    let (fs, fs_note) = match filesystem_server(&root, &file) {
        Ok((server, version)) => {
            eprintln!("foundation: filesystem server {version}");
            (Some(run_server(&rt, &server, calls)), format!("{FS_PACKAGE} {version}"))
        }
        Err(why) => {
            eprintln!("foundation: filesystem server comparison SKIPPED: {why}");
            (None, format!("SKIPPED: {why}"))
        }
    };

    print_table(&cb, fs.as_ref(), &fl, &fs_note, text.len(), calls);
    per_call_costs();
    println!("total bench time {:.1} s", t_all.elapsed().as_secs_f64());
}

/// One kind of call for the per-call cost phase: the request line for an id, and a text its answer must hold.
struct Call {
    label: &'static str,
    request: Box<dyn Fn(usize) -> String>,
    expect: &'static str,
}

impl Call {
    fn ping() -> Call {
        Call {
            label: "ping",
            request: Box::new(|id| format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"ping\"}}\n")),
            expect: "\"result\":{}",
        }
    }

    fn read(label: &'static str, path: &str) -> Call {
        let args = json!({ "name": "read_file", "arguments": { "path": path } }).to_string();
        Call {
            label,
            request: Box::new(move |id| {
                format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"tools/call\",\"params\":{args}}}\n")
            }),
            expect: MARKER,
        }
    }
}

/// Latency, throughput and the server's CPU per call.
struct Cost {
    lat: Lat,
    cpu_per_call: Duration,
}

/// utime + stime of a process, all its threads, from /proc/<pid>/stat.
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_nanos(ticks * 1_000_000_000 / hz))
}

/// `calls` sequential calls of one kind over a raw pipe, after the handshake and WARMUP_CALLS of the same kind.
fn call_cost(server: &Server, call: &Call, calls: usize) -> Result<Cost, String> {
    let mut child = server.spawn_piped()?;
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let res = (|| -> std::io::Result<Cost> {
        let mut line = String::new();
        let answer = |out: &mut BufReader<_>, line: &mut String, id: usize| -> std::io::Result<()> {
            let want = format!("\"id\":{id}");
            loop {
                line.clear();
                if out.read_line(line)? == 0 {
                    return Err(std::io::Error::other("server closed stdout"));
                }
                if line.contains(&want) {
                    return Ok(());
                }
            }
        };
        writeln!(stdin, "{INIT_LINE}")?;
        answer(&mut out, &mut line, 1)?;
        writeln!(stdin, r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#)?;
        for id in 2..2 + WARMUP_CALLS {
            stdin.write_all((call.request)(id).as_bytes())?;
            stdin.flush()?;
            answer(&mut out, &mut line, id)?;
            if id == 2 && (!line.contains(call.expect) || line.contains(r#""isError":true"#)) {
                return Err(std::io::Error::other(format!("{} did not answer as expected: {line:.200}", call.label)));
            }
        }
        let first = 2 + WARMUP_CALLS;
        let cpu0 = cpu_time(pid).ok_or_else(|| std::io::Error::other("no /proc/<pid>/stat"))?;
        let wall = Instant::now();
        let mut lat = Vec::with_capacity(calls);
        for id in first..first + calls {
            let t = Instant::now();
            stdin.write_all((call.request)(id).as_bytes())?;
            stdin.flush()?;
            answer(&mut out, &mut line, id)?;
            lat.push(t.elapsed());
        }
        let wall = wall.elapsed();
        let cpu1 = cpu_time(pid).ok_or_else(|| std::io::Error::other("no /proc/<pid>/stat"))?;
        Ok(Cost { lat: summarize(lat, wall), cpu_per_call: (cpu1 - cpu0) / calls as u32 })
    })();
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    res.map_err(|e| format!("{} {}: {e}", server.name, call.label))
}

/// The per-call cost table (issue 18): the floor and codebox, ping and reads, in one run.
fn per_call_costs() {
    let calls: usize = std::env::var("CODEBOX_BENCH_COST_CALLS").ok().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().canonicalize().expect("canonical temp dir");
    let line = "the quick brown fox jumps over the lazy dog, again and again.\n";
    let small = format!("{MARKER}\n{}", line.repeat(16));
    let big = format!("{MARKER}\n{}", line.repeat(100 * 1024 / line.len()));
    std::fs::write(root.join("small.txt"), &small).expect("write");
    std::fs::write(root.join("big.txt"), &big).expect("write");
    let codebox = codebox_server(&root);
    let floor = |file: &str| Server {
        name: "floor".into(),
        program: std::env::current_exe().expect("the benchmark's own path").display().to_string(),
        args: vec![],
        env: vec![("FOUNDATION_FLOOR_SERVER".into(), root.join(file).display().to_string())],
        tool: "read_file",
        path_arg: file.into(),
    };
    eprintln!("foundation: per-call cost, {calls} sequential calls each ({} and {} bytes)", small.len(), big.len());
    let runs: Vec<(String, Result<Cost, String>)> = vec![
        ("floor: echo (ping)".into(), call_cost(&floor("small.txt"), &Call::ping(), calls)),
        ("codebox: ping".into(), call_cost(&codebox, &Call::ping(), calls)),
        ("floor: read 1 KB".into(), call_cost(&floor("small.txt"), &Call::read("read 1 KB", "small.txt"), calls)),
        ("codebox: read_file 1 KB".into(), call_cost(&codebox, &Call::read("read 1 KB", "small.txt"), calls)),
        ("floor: read 100 KB".into(), call_cost(&floor("big.txt"), &Call::read("read 100 KB", "big.txt"), calls)),
        ("codebox: read_file 100 KB".into(), call_cost(&codebox, &Call::read("read 100 KB", "big.txt"), calls)),
    ];
    println!();
    println!(
        "per-call cost: {calls} sequential calls over a raw pipe after {WARMUP_CALLS} warm-up; CPU = the server's utime+stime / calls"
    );
    println!("| call | p50 | p99 | calls/s | server CPU per call |");
    println!("|---|---|---|---|---|");
    for (label, r) in &runs {
        match r {
            Ok(c) => println!(
                "| {label} | {} | {} | {:.0} | {} |",
                fmt_d(c.lat.p50),
                fmt_d(c.lat.p99),
                c.lat.per_sec,
                fmt_d(c.cpu_per_call)
            ),
            Err(e) => println!("| {label} | failed: {e} | | | |"),
        }
    }
    let get = |i: usize| runs[i].1.as_ref().ok();
    if let (Some(echo), Some(ping), Some(read)) = (get(0), get(1), get(3)) {
        let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-12);
        let (r1, r2, r3) = (
            ratio(ping.cpu_per_call, echo.cpu_per_call),
            ratio(read.cpu_per_call, ping.cpu_per_call),
            read.lat.per_sec / echo.lat.per_sec.max(1e-9),
        );
        println!(
            "codebox ping CPU / floor echo CPU = {r1:.2} (target ≤ 1.3: {}); codebox read 1 KB CPU / codebox ping CPU = {r2:.2} (target ≤ 1.5: {}); codebox read 1 KB calls/s / floor echo calls/s = {r3:.2} (target ≥ 0.8: {})",
            if r1 <= 1.3 { "met" } else { "NOT met" },
            if r2 <= 1.5 { "met" } else { "NOT met" },
            if r3 >= 0.8 { "met" } else { "NOT met" },
        );
    }
}

/// All measurements for one server; failures are recorded, not fatal.
fn run_server(rt: &tokio::runtime::Runtime, server: &Server, calls: usize) -> Report {
    let mut r = Report::default();
    eprintln!("  {}: cold start ×{STARTS}", server.name);
    match cold_start(server) {
        Ok(s) => r.start = Some(s),
        Err(e) => r.errors.push(format!("cold start: {e}")),
    }
    eprintln!("  {}: reads over a raw pipe", server.name);
    match raw_latency(server, calls, 1) {
        Ok(l) => r.raw = Some(l),
        Err(e) => r.errors.push(format!("raw reads: {e}")),
    }
    match raw_latency(server, calls, IN_FLIGHT) {
        Ok(l) => r.raw_par = Some(l),
        Err(e) => r.errors.push(format!("raw reads, {IN_FLIGHT} in flight: {e}")),
    }
    eprintln!("  {}: reads through rmcp", server.name);
    if let Err(e) = rt.block_on(latency(server, calls, &mut r)) {
        r.errors.push(e);
    }
    r
}

/// Spawn → initialize line in → response line out, STARTS times (plus one discarded warm-up).
fn cold_start(server: &Server) -> Result<(Duration, Duration, Duration), String> {
    let mut times = Vec::with_capacity(STARTS);
    for i in 0..=STARTS {
        let t0 = Instant::now();
        let mut child = server.spawn_piped()?;
        let mut stdin = child.stdin.take().unwrap();
        let res = (|| {
            stdin.write_all(INIT_LINE.as_bytes())?;
            stdin.write_all(b"\n")?;
            stdin.flush()?;
            let mut out = BufReader::new(child.stdout.take().unwrap());
            let mut line = String::new();
            loop {
                line.clear();
                if out.read_line(&mut line)? == 0 {
                    return Err(std::io::Error::other("stdout closed before the initialize response"));
                }
                if serde_json::from_str::<Value>(&line).is_ok_and(|v| v["id"] == 1) {
                    return Ok(t0.elapsed());
                }
            }
        })();
        drop(stdin);
        let _ = child.kill();
        let _ = child.wait();
        let dt = res.map_err(|e| e.to_string())?;
        if i > 0 {
            times.push(dt);
        }
    }
    times.sort();
    Ok((times[times.len() / 2], times[0], times[times.len() - 1]))
}

/// Reads with hand-written JSON lines over blocking pipes, `in_flight` outstanding at a time (1: sequential): the
/// server's own latency and throughput, without the rmcp client (its tasks and channels add a fixed cost to every
/// call in the other phases, enough that even the floor server cannot go past a few times node's rate through it).
fn raw_latency(server: &Server, calls: usize, in_flight: usize) -> Result<Lat, String> {
    let mut child = server.spawn_piped()?;
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let args = json!({ "name": server.tool, "arguments": { "path": server.path_arg } }).to_string();
    let res = (|| -> std::io::Result<Lat> {
        let mut line = String::new();
        // The id of the next response line (matched textually: cheap, and every server here writes `"id":N`;
        // the file's text cannot hold that unescaped). Lines without one (notifications) are skipped.
        let mut next_response = |out: &mut BufReader<_>| -> std::io::Result<(usize, String)> {
            loop {
                line.clear();
                if out.read_line(&mut line)? == 0 {
                    return Err(std::io::Error::other("server closed stdout"));
                }
                let id = line.split("\"id\":").nth(1).and_then(|rest| {
                    let digits: String = rest.trim_start().chars().take_while(char::is_ascii_digit).collect();
                    digits.parse().ok()
                });
                if let Some(id) = id {
                    return Ok((id, line.clone()));
                }
            }
        };
        let request =
            |id: usize| format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"tools/call\",\"params\":{args}}}\n");
        writeln!(stdin, "{INIT_LINE}")?;
        while next_response(&mut out)?.0 != 1 {}
        writeln!(stdin, r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#)?;
        // Warm-up, one at a time; the first must really return the file.
        for id in 2..2 + WARMUP_CALLS {
            stdin.write_all(request(id).as_bytes())?;
            stdin.flush()?;
            let (got, resp) = next_response(&mut out)?;
            if got != id || (id == 2 && (!resp.contains(MARKER) || resp.contains(r#""isError":true"#))) {
                return Err(std::io::Error::other(format!("read {id} did not return the file: {resp:.200}")));
            }
        }
        let first = 2 + WARMUP_CALLS;
        let mut sent_at = std::collections::HashMap::with_capacity(in_flight);
        let mut lat = Vec::with_capacity(calls);
        let (mut next_id, end) = (first, first + calls);
        let wall = Instant::now();
        while lat.len() < calls {
            while sent_at.len() < in_flight && next_id < end {
                stdin.write_all(request(next_id).as_bytes())?;
                sent_at.insert(next_id, Instant::now());
                next_id += 1;
            }
            stdin.flush()?;
            let (id, resp) = next_response(&mut out)?;
            let Some(t) = sent_at.remove(&id) else {
                return Err(std::io::Error::other(format!("response to an id not in flight: {resp:.200}")));
            };
            lat.push(t.elapsed());
        }
        Ok(summarize(lat, wall.elapsed()))
    })();
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    res.map_err(|e| e.to_string())
}

fn params(server: &Server) -> CallToolRequestParams {
    let Value::Object(map) = json!({ "path": server.path_arg }) else { unreachable!() };
    CallToolRequestParams::new(server.tool).with_arguments(map)
}

async fn read_once(peer: &Peer<RoleClient>, p: &CallToolRequestParams) -> Result<Duration, String> {
    let t = Instant::now();
    let r = peer.call_tool(p.clone()).await.map_err(|e| format!("protocol error: {e}"))?;
    let dt = t.elapsed();
    if r.is_error == Some(true) {
        return Err(format!("tool error: {:?}", r.content));
    }
    Ok(dt)
}

async fn latency(server: &Server, calls: usize, r: &mut Report) -> Result<(), String> {
    let mut cmd = tokio::process::Command::new(&server.program);
    cmd.args(&server.args).envs(server.env.iter().cloned());
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", server.program))?;
    let pid = transport.id();
    let client: RunningService<RoleClient, ()> = ().serve(transport).await.map_err(|e| format!("handshake: {e}"))?;
    let peer = client.peer().clone();
    let p = params(server);

    // The read must really return the file.
    let first = peer.call_tool(p.clone()).await.map_err(|e| format!("first read: {e}"))?;
    let body: String = first.content.iter().filter_map(|c| c.as_text().map(|t| t.text.clone())).collect();
    if first.is_error == Some(true) || !body.contains(MARKER) {
        return Err(format!("first read did not return the file: {body:.200}"));
    }
    for _ in 0..WARMUP_CALLS {
        read_once(&peer, &p).await?;
    }

    // Idle RSS after handshake and a few calls.
    tokio::time::sleep(Duration::from_secs(1)).await;
    if let Some(pid) = pid {
        r.rss_kib = proc_status_kib(pid, "VmRSS:");
        r.hwm_kib = proc_status_kib(pid, "VmHWM:");
    }

    // Sequential.
    let mut lat = Vec::with_capacity(calls);
    let t = Instant::now();
    for _ in 0..calls {
        lat.push(read_once(&peer, &p).await?);
    }
    r.seq = Some(summarize(lat, t.elapsed()));

    // 8 in flight: IN_FLIGHT tasks sharing the peer, `calls` in total.
    let t = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..IN_FLIGHT {
        let (peer, p) = (peer.clone(), p.clone());
        let n = calls / IN_FLIGHT + usize::from(k < calls % IN_FLIGHT);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(n);
            for _ in 0..n {
                lat.push(read_once(&peer, &p).await?);
            }
            Ok::<_, String>(lat)
        }));
    }
    let mut lat = Vec::with_capacity(calls);
    for task in tasks {
        lat.extend(task.await.map_err(|e| format!("task: {e}"))??);
    }
    r.par = Some(summarize(lat, t.elapsed()));

    let _ = client.cancel().await;
    Ok(())
}

fn summarize(mut lat: Vec<Duration>, wall: Duration) -> Lat {
    lat.sort();
    let pct = |q: f64| lat[((lat.len() as f64 * q).ceil() as usize).clamp(1, lat.len()) - 1];
    Lat {
        p50: pct(0.50),
        p99: pct(0.99),
        mean: lat.iter().sum::<Duration>() / lat.len() as u32,
        per_sec: lat.len() as f64 / wall.as_secs_f64(),
    }
}

fn proc_status_kib(pid: u32, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].trim().trim_end_matches("kB").trim().parse().ok()
}

/// Installs the filesystem server into the cache if needed; returns how to run it and its version.
fn filesystem_server(root: &Path, file: &Path) -> Result<(Server, String), String> {
    if std::env::var("CODEBOX_BENCH_SKIP_FS").is_ok_and(|v| !v.is_empty() && v != "0") {
        return Err("CODEBOX_BENCH_SKIP_FS is set".into());
    }
    let node = std::env::var("NODE").unwrap_or_else(|_| "node".into());
    let npm = std::env::var("NPM").unwrap_or_else(|_| "npm".into());
    let node_version = std::process::Command::new(&node)
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run `{node}` ({e}); install Node.js or set NODE"))?;
    let node_version = String::from_utf8_lossy(&node_version.stdout).trim().to_string();

    let cache = PathBuf::from(std::env::var("CODEBOX_BENCH_CACHE").unwrap_or_else(|_| "target/bench-cache".into()));
    let pkg = cache.join("node_modules").join(FS_PACKAGE);
    let entry = pkg.join("dist/index.js");
    if !entry.is_file() {
        eprintln!("foundation: installing {FS_PACKAGE} into {} (once)", cache.display());
        std::fs::create_dir_all(&cache).map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
        let st = std::process::Command::new(&npm)
            .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
            .arg(&cache)
            .arg(FS_PACKAGE)
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run `{npm}` ({e}); install npm or set NPM"))?;
        if !st.success() || !entry.is_file() {
            return Err(format!("`{npm} install {FS_PACKAGE}` failed ({st}); is the registry reachable?"));
        }
    }
    let version = std::fs::read_to_string(pkg.join("package.json"))
        .ok()
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .and_then(|v| v["version"].as_str().map(str::to_string))
        .unwrap_or_else(|| "?".into());
    let entry = entry.canonicalize().map_err(|e| format!("{}: {e}", entry.display()))?;
    Ok((
        Server {
            name: "filesystem".into(),
            program: node,
            args: vec![entry.display().to_string(), root.display().to_string()],
            env: vec![],
            tool: "read_text_file",
            path_arg: file.display().to_string(),
        },
        format!("{version}, node {node_version}"),
    ))
}

fn fmt_d(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 10_000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.1} µs")
    }
}

fn fmt_mib(kib: Option<u64>) -> String {
    kib.map_or("-".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "MET",
        Some(false) => "MISSED",
        None => "n/a",
    }
}

fn print_table(cb: &Report, fs: Option<&Report>, fl: &Report, fs_note: &str, bytes: usize, calls: usize) {
    let empty = Report::default();
    let f = fs.unwrap_or(&empty);
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.1}×", a / b),
        _ => "-".into(),
    };
    let start = |r: &Report, i: usize| {
        r.start.map_or("-".into(), |s| {
            fmt_d(match i {
                0 => s.0,
                1 => s.1,
                _ => s.2,
            })
        })
    };
    let lat = |l: &Option<Lat>, g: fn(&Lat) -> Duration| l.as_ref().map_or("-".into(), |l| fmt_d(g(l)));
    let rate = |l: &Option<Lat>| l.as_ref().map(|l| l.per_sec);
    let fmt_rate = |x: Option<f64>| x.map_or("-".into(), |x| format!("{x:.0}/s"));

    println!();
    println!("foundation benchmark — stdio, {bytes}-byte file, {calls} calls per phase, {IN_FLIGHT} in flight");
    println!("filesystem server: {fs_note}");
    println!("floor: the smallest stdio server that answers these calls (see the source), same run");
    println!("{:-<92}", "");
    println!("{:<28} {:>12} {:>12} {:>12} {:>9}  target", "metric", "codebox", "filesystem", "floor", "cb/fs");
    println!("{:-<92}", "");
    let row = |m: &str, a: String, b: String, c: String, r: String, t: String| {
        println!("{m:<28} {a:>12} {b:>12} {c:>12} {r:>9}  {t}")
    };
    let cb_start_ok = cb.start.map(|s| s.0 <= Duration::from_millis(10));
    row(
        "cold start median (×20)",
        start(cb, 0),
        start(f, 0),
        start(fl, 0),
        "".into(),
        format!("≤ 10 ms: {}", verdict(cb_start_ok)),
    );
    row("cold start min", start(cb, 1), start(f, 1), start(fl, 1), "".into(), "".into());
    row("cold start max", start(cb, 2), start(f, 2), start(fl, 2), "".into(), "".into());
    let cb_p50_ok = cb.seq.as_ref().map(|l| l.p50 <= Duration::from_micros(60));
    row(
        "read seq p50",
        lat(&cb.seq, |l| l.p50),
        lat(&f.seq, |l| l.p50),
        lat(&fl.seq, |l| l.p50),
        "".into(),
        format!("≤ 60 µs: {}", verdict(cb_p50_ok)),
    );
    row("read seq p99", lat(&cb.seq, |l| l.p99), lat(&f.seq, |l| l.p99), lat(&fl.seq, |l| l.p99), "".into(), "".into());
    row(
        "read seq mean",
        lat(&cb.seq, |l| l.mean),
        lat(&f.seq, |l| l.mean),
        lat(&fl.seq, |l| l.mean),
        "".into(),
        "".into(),
    );
    let x_ok = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b >= 10.0),
        _ => None,
    };
    let (cs, fsq) = (rate(&cb.seq), rate(&f.seq));
    row(
        "read seq calls/s",
        fmt_rate(cs),
        fmt_rate(fsq),
        fmt_rate(rate(&fl.seq)),
        ratio(cs, fsq),
        format!("≥ 10×: {}", verdict(x_ok(cs, fsq))),
    );
    row(
        "read seq p50, raw pipe",
        lat(&cb.raw, |l| l.p50),
        lat(&f.raw, |l| l.p50),
        lat(&fl.raw, |l| l.p50),
        "".into(),
        "(no rmcp client)".into(),
    );
    row(
        "read seq p99, raw pipe",
        lat(&cb.raw, |l| l.p99),
        lat(&f.raw, |l| l.p99),
        lat(&fl.raw, |l| l.p99),
        "".into(),
        "".into(),
    );
    let (cr, fr) = (rate(&cb.raw), rate(&f.raw));
    row(
        "read seq calls/s, raw pipe",
        fmt_rate(cr),
        fmt_rate(fr),
        fmt_rate(rate(&fl.raw)),
        ratio(cr, fr),
        format!("≥ 10×: {}", verdict(x_ok(cr, fr))),
    );
    row(
        "read ×8 p50, raw pipe",
        lat(&cb.raw_par, |l| l.p50),
        lat(&f.raw_par, |l| l.p50),
        lat(&fl.raw_par, |l| l.p50),
        "".into(),
        "".into(),
    );
    let (crp, frp) = (rate(&cb.raw_par), rate(&f.raw_par));
    row(
        "read ×8 calls/s, raw pipe",
        fmt_rate(crp),
        fmt_rate(frp),
        fmt_rate(rate(&fl.raw_par)),
        ratio(crp, frp),
        format!("≥ 10×: {}", verdict(x_ok(crp, frp))),
    );
    row("read ×8 p50", lat(&cb.par, |l| l.p50), lat(&f.par, |l| l.p50), lat(&fl.par, |l| l.p50), "".into(), "".into());
    row("read ×8 p99", lat(&cb.par, |l| l.p99), lat(&f.par, |l| l.p99), lat(&fl.par, |l| l.p99), "".into(), "".into());
    let (cp, fp) = (rate(&cb.par), rate(&f.par));
    row(
        "read ×8 calls/s",
        fmt_rate(cp),
        fmt_rate(fp),
        fmt_rate(rate(&fl.par)),
        ratio(cp, fp),
        format!("≥ 10×: {}", verdict(x_ok(cp, fp))),
    );
    let rss_ok = cb.rss_kib.map(|k| k <= 10 * 1024);
    row(
        "idle RSS (VmRSS)",
        fmt_mib(cb.rss_kib),
        fmt_mib(f.rss_kib),
        fmt_mib(fl.rss_kib),
        "".into(),
        format!("≤ 10 MiB: {}", verdict(rss_ok)),
    );
    row("peak RSS (VmHWM)", fmt_mib(cb.hwm_kib), fmt_mib(f.hwm_kib), fmt_mib(fl.hwm_kib), "".into(), "".into());
    println!("{:-<92}", "");
    for (name, r) in [("codebox", cb), ("filesystem", f), ("floor", fl)] {
        for e in &r.errors {
            println!("ERROR {name}: {e}");
        }
    }
}
