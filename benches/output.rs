//! Output benchmark: the server's peak memory while shaping a huge command output.
//!
//! codebox runs as `codebox serve --root DIR` (strict sandbox) over stdio, driven by an rmcp client; one fresh
//! server per case, so each peak is that case's own. Cases (`run_command`, `timeout_secs` 600):
//! - `log`: 1 GiB of realistic build/test log lines — a 1 MiB block of varied lines (compiler progress, test
//!   results, warnings, some `error:` / `error[E…]` lines, a few ANSI colours and `\r` progress updates, 2% of
//!   lines with non-ASCII characters) written
//!   into the workspace, `cat` 1,024 times;
//! - `line`: one 200 MB line without a newline, `head -c 209715200 /dev/zero | tr '\0' x`.
//!
//! While a call runs, the server's VmRSS is sampled every 20 ms from /proc/<pid>/status (the pid of the child the
//! rmcp transport spawned); at the end its VmHWM is read. The largest RSS of the server's other `codebox`
//! descendants (the sandbox helper) is shown for information. For each case it prints bytes streamed, wall time,
//! throughput, the same command's time run directly by the bench into /dev/null (what the producer alone costs),
//! peak RSS against the 64 MiB target, the result's length in chars (≤ 20,000) and whether it names a
//! `read_output(id=` marker. It is a report: nothing is asserted on timings or memory.
//!
//! Run with: cargo bench --bench output
//!
//! Environment:
//! - `CODEBOX_BENCH_LOG_MIB`: size of the `log` case in MiB (default 1024).
//! - `CODEBOX_BENCH_LINE_BYTES`: size of the `line` case in bytes (default 209715200).
//! - `CODEBOX_BENCH_DUMP`: a directory where each case's result text is written (`output-<case>.txt`).
//! - `CODEBOX_BIN`: the codebox binary (default: the one cargo built for this bench).

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

const TARGET_RSS_KIB: u64 = 64 * 1024;
const MAX_RESULT_CHARS: usize = 20_000;
const BLOCK_BYTES: usize = 1 << 20;
const SAMPLE_EVERY: Duration = Duration::from_millis(20);

fn codebox_bin() -> String {
    std::env::var("CODEBOX_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_codebox").to_string())
}

struct Case {
    name: &'static str,
    command: String,
    bytes: u64,
}

#[derive(Default)]
struct Outcome {
    wall: Duration,
    direct: Option<Duration>,
    hwm_kib: Option<u64>,
    max_rss_kib: u64,
    helper_rss_kib: u64,
    chars: usize,
    has_marker: bool,
    status: String,
    kept_note: Option<String>,
    error: Option<String>,
}

fn main() {
    let log_mib: u64 = std::env::var("CODEBOX_BENCH_LOG_MIB").ok().and_then(|s| s.parse().ok()).unwrap_or(1024);
    let line_bytes: u64 =
        std::env::var("CODEBOX_BENCH_LINE_BYTES").ok().and_then(|s| s.parse().ok()).unwrap_or(200 << 20);
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().canonicalize().expect("canonical temp dir");
    std::fs::write(root.join("block.log"), log_block()).expect("write log block");

    let cases = [
        Case {
            name: "log",
            command: format!("for i in $(seq {log_mib}); do cat block.log; done"),
            bytes: log_mib * BLOCK_BYTES as u64,
        },
        Case { name: "line", command: format!("head -c {line_bytes} /dev/zero | tr '\\0' x"), bytes: line_bytes },
    ];

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let t_all = Instant::now();
    let mut results = Vec::new();
    for case in &cases {
        eprintln!("output: {} — `{}` ({} bytes)", case.name, case.command, case.bytes);
        let mut o = rt.block_on(run_case(&root, case));
        o.direct = direct(&root, &case.command);
        results.push(o);
    }
    print_report(&cases, &results);
    println!("total bench time {:.1} s", t_all.elapsed().as_secs_f64());
}

/// Exactly BLOCK_BYTES of varied log lines.
fn log_block() -> Vec<u8> {
    let crates = ["serde", "tokio", "regex", "rmcp", "hyper", "axum", "clap", "memchr", "libc", "syn"];
    let mut out = String::with_capacity(BLOCK_BYTES + 4096);
    let mut i = 0u64;
    // Stops while a padding line of at least 1 byte still fits.
    while out.len() < BLOCK_BYTES - 400 {
        let c = crates[(i % crates.len() as u64) as usize];
        let line = match i % 50 {
            0 => format!("\x1b[1m\x1b[32m   Compiling\x1b[0m {c} v1.{}.{}\n", i % 17, i % 7),
            1..=29 => format!(
                "test {c}::tests::case_{i:06}_{} ... ok ({} ms)\n",
                ["parses_input", "round_trips", "rejects_garbage", "handles_empty"][(i % 4) as usize],
                (i * 37) % 900
            ),
            30..=35 => format!(
                "[{:02}:{:02}:{:02}.{:03}] INFO  {c}::worker{}: processed batch {i} ({} items, {} bytes)\n",
                (i / 3600) % 24,
                (i / 60) % 60,
                i % 60,
                (i * 7) % 1000,
                i % 8,
                i % 1000,
                (i * 131) % 65536
            ),
            36 => format!(
                "\x1b[33mwarning\x1b[0m: unused variable: `x{i}`\n  --> src/{c}/mod.rs:{}:{}\n",
                i % 900 + 1,
                i % 40 + 1
            ),
            37 if i % 200 == 37 => format!(
                "error[E0308]: mismatched types in {c}::convert (case {i})\n  --> src/{c}/lib.rs:{}:9\n",
                i % 500 + 1
            ),
            38 if i % 150 == 38 => {
                format!("error: could not compile `{c}` (lib test) due to 1 previous error; run {i}\n")
            }
            39 => format!("Downloading crates ... {}%\r Downloading crates ... {}%\r", i % 100, (i + 50) % 100),
            40..=44 => format!(
                "    Finished `test` profile [unoptimized + debuginfo] target(s) in {}.{:02}s, step {i}\n",
                i % 60,
                i % 100
            ),
            // Some non-ASCII, as in real tool output (test runners' ticks, typographic quotes).
            45 => format!("  ✓ {c} › handles “quoted” input #{i} ({} ms)\n", i % 90),
            _ => format!(
                "DEBUG {c}: request id={:016x} path=/api/v1/items/{} status=200 latency_us={}\n",
                i.wrapping_mul(0x9e3779b97f4a7c15),
                i % 10_000,
                (i * 13) % 5000
            ),
        };
        out.push_str(&line);
        i += 1;
    }
    // The last line pads the block to exactly BLOCK_BYTES, so the blocks join into whole lines.
    let pad = BLOCK_BYTES - out.len() - 1;
    out.push_str(&format!("{:#<pad$}\n", ""));
    debug_assert_eq!(out.len(), BLOCK_BYTES);
    out.into_bytes()
}

fn proc_status_kib(pid: u32, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].trim().trim_end_matches("kB").trim().parse().ok()
}

/// Largest VmRSS among the sandbox helpers (`/proc/self/exe __sandbox`, shown as `exe`) below `pid`, in KiB.
fn helper_rss_kib(pid: u32) -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0 };
    let mut parents = Vec::new();
    for e in dir.flatten() {
        let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else { continue };
        // comm is in parentheses and may hold spaces: fields after the last ')'.
        let Some(close) = stat.rfind(')') else { continue };
        let ppid = stat[close + 1..].split_whitespace().nth(1).and_then(|s| s.parse::<u32>().ok()).unwrap_or(0);
        parents.push((p, ppid));
    }
    let below = |mut p: u32| {
        for _ in 0..64 {
            let Some(&(_, pp)) = parents.iter().find(|(q, _)| *q == p) else { return false };
            if pp == pid {
                return true;
            }
            if pp <= 1 {
                return false;
            }
            p = pp;
        }
        false
    };
    parents
        .iter()
        .filter(|(p, _)| *p != pid && below(*p) && is_helper(*p))
        .filter_map(|(p, _)| proc_status_kib(*p, "VmRSS:"))
        .max()
        .unwrap_or(0)
}

fn is_helper(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.split(|b| *b == 0).nth(1) == Some(b"__sandbox"))
}

async fn run_case(root: &Path, case: &Case) -> Outcome {
    let mut o = Outcome::default();
    let mut cmd = tokio::process::Command::new(codebox_bin());
    cmd.arg("serve").arg("--root").arg(root);
    let (transport, _) = match TokioChildProcess::builder(cmd).stderr(Stdio::null()).spawn() {
        Ok(t) => t,
        Err(e) => {
            o.error = Some(format!("spawn {}: {e}", codebox_bin()));
            return o;
        }
    };
    let Some(pid) = transport.id() else {
        o.error = Some("no server pid".into());
        return o;
    };
    let client: RunningService<RoleClient, ()> = match ().serve(transport).await {
        Ok(c) => c,
        Err(e) => {
            o.error = Some(format!("handshake: {e}"));
            return o;
        }
    };

    // RSS sampler: the server's VmRSS, and the largest codebox descendant's, every SAMPLE_EVERY.
    let stop = Arc::new(AtomicBool::new(false));
    let max_rss = Arc::new(AtomicU64::new(0));
    let max_helper = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (stop, max_rss, max_helper) = (stop.clone(), max_rss.clone(), max_helper.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if let Some(k) = proc_status_kib(pid, "VmRSS:") {
                    max_rss.fetch_max(k, Ordering::Relaxed);
                }
                if n.is_multiple_of(5) {
                    max_helper.fetch_max(helper_rss_kib(pid), Ordering::Relaxed);
                }
                n += 1;
                std::thread::sleep(SAMPLE_EVERY);
            }
        })
    };

    let Value::Object(args) = json!({ "command": case.command, "timeout_secs": 600 }) else { unreachable!() };
    let t = Instant::now();
    let r = client.peer().call_tool(CallToolRequestParams::new("run_command").with_arguments(args)).await;
    o.wall = t.elapsed();
    o.hwm_kib = proc_status_kib(pid, "VmHWM:");
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    o.max_rss_kib = max_rss.load(Ordering::Relaxed);
    o.helper_rss_kib = max_helper.load(Ordering::Relaxed);

    match r {
        Ok(r) => {
            let text: String = r.content.iter().filter_map(|c| c.as_text().map(|t| t.text.clone())).collect();
            o.chars = text.chars().count();
            if let Some(d) = std::env::var_os("CODEBOX_BENCH_DUMP") {
                let _ = std::fs::write(Path::new(&d).join(format!("output-{}.txt", case.name)), &text);
            }
            o.has_marker = text.contains("read_output(id=");
            o.status = text.lines().rev().find(|l| l.starts_with("[exit ")).unwrap_or("").to_string();
            o.kept_note = text.lines().find(|l| l.starts_with("[only the first ")).map(str::to_string);
            if r.is_error == Some(true) || !o.status.starts_with("[exit 0 ") {
                let tail: String = text.chars().rev().take(600).collect::<Vec<_>>().into_iter().rev().collect();
                o.error = Some(format!("the command did not exit 0; result ends with:\n{tail}"));
            }
        }
        Err(e) => o.error = Some(format!("protocol error: {e}")),
    }
    let _ = client.cancel().await;
    o
}

/// The same command run by the bench into /dev/null: the producer's own time.
fn direct(root: &Path, command: &str) -> Option<Duration> {
    let t = Instant::now();
    let st = std::process::Command::new("bash")
        .args(["-c", command])
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    st.success().then(|| t.elapsed())
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn print_report(cases: &[Case], results: &[Outcome]) {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    println!();
    println!("output benchmark — run_command over stdio, strict sandbox; load average {}", load.join(" "));
    println!("{:-<96}", "");
    println!(
        "{:<6} {:>10} {:>9} {:>9} {:>9} {:>10} {:>10} {:>10} {:>8} {:>7}",
        "case", "bytes", "wall", "MB/s", "direct", "peak HWM", "max RSS", "helper", "chars", "marker"
    );
    println!("{:-<96}", "");
    for (c, o) in cases.iter().zip(results) {
        let secs = o.wall.as_secs_f64();
        println!(
            "{:<6} {:>10} {:>8.1}s {:>9.0} {:>9} {:>10} {:>10} {:>10} {:>8} {:>7}",
            c.name,
            format!("{:.0} MB", c.bytes as f64 / 1e6),
            secs,
            c.bytes as f64 / 1e6 / secs,
            o.direct.map_or("-".into(), |d| format!("{:.1}s", d.as_secs_f64())),
            o.hwm_kib.map_or("-".into(), mib),
            mib(o.max_rss_kib),
            mib(o.helper_rss_kib),
            o.chars,
            if o.has_marker { "yes" } else { "NO" }
        );
    }
    println!("{:-<96}", "");
    let verdict = |ok: bool| if ok { "MET" } else { "MISSED" };
    for (c, o) in cases.iter().zip(results) {
        if let Some(e) = &o.error {
            println!("ERROR {}: {e}", c.name);
            continue;
        }
        println!("{}: {}", c.name, o.status);
        if let Some(k) = &o.kept_note {
            println!("{}: {k}", c.name);
        }
        let hwm = o.hwm_kib.unwrap_or(u64::MAX);
        println!(
            "{}: target peak RSS ≤ 64 MiB: {} — {}; result ≤ {MAX_RESULT_CHARS} chars: {} — {}; names read_output(id=: {}",
            c.name,
            o.hwm_kib.map_or("-".into(), mib),
            verdict(hwm <= TARGET_RSS_KIB),
            o.chars,
            verdict(o.chars <= MAX_RESULT_CHARS),
            verdict(o.has_marker)
        );
    }
}
