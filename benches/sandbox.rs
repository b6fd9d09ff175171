//! Sandbox overhead benchmark: what the kernel sandbox adds to one command, measured through the real tool.
//!
//! Two codebox servers run side by side over stdio on the same temporary workspace: `codebox serve --root DIR`
//! (strict sandbox, the default) and `codebox serve --root DIR --sandbox off`. Each is sent `run_command`
//! `{"command": "true"}` and `{"command": "cargo --version"}`: a few warm-up calls, then at least 200 timed calls
//! per case, alternating between the two servers so that machine load affects both alike. Both include the same
//! MCP round trip and the `bash -c` wrapper, so sandbox overhead = median(strict) − median(off).
//! The first call of every case must end with `[exit 0 · …]`; otherwise the bench stops and prints the result
//! (a sandbox refusal, a missing `cargo`).
//!
//! For comparison, when `bwrap` is on PATH, the bench itself spawns `true` and
//! `bwrap --unshare-all --die-with-parent --ro-bind / / true` directly (no MCP, no shell), alternating, the same
//! number of times: bubblewrap overhead = median(bwrap) − median(true). Without bwrap it prints
//! "bwrap not installed: comparison skipped".
//!
//! It prints a table (case, median, p90, overhead vs its baseline, ratio) and whether each target is met:
//! sandbox overhead ≤ 5 ms per command, and no worse than bubblewrap's. It is a report: nothing is asserted on
//! timings.
//!
//! Run with: cargo bench --bench sandbox
//!
//! Environment:
//! - `CODEBOX_BENCH_RUNS`: timed calls per case (default 200, at least 200 recommended).
//! - `CODEBOX_BIN`: the codebox binary (default: the one cargo built for this bench).

use std::process::Stdio;
use std::time::{Duration, Instant};

use rmcp::model::CallToolRequestParams;
use rmcp::service::{Peer, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

const WARMUP: usize = 20;
const TARGET_OVERHEAD: Duration = Duration::from_millis(5);
const BWRAP_ARGS: [&str; 5] = ["--unshare-all", "--die-with-parent", "--ro-bind", "/", "/"];

fn codebox_bin() -> String {
    std::env::var("CODEBOX_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_codebox").to_string())
}

/// Median and p90 of one case.
#[derive(Clone, Copy)]
struct Stats {
    median: Duration,
    p90: Duration,
}

fn stats(mut v: Vec<Duration>) -> Stats {
    v.sort();
    let pct = |q: f64| v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1];
    Stats { median: pct(0.5), p90: pct(0.9) }
}

struct Client {
    service: RunningService<RoleClient, ()>,
    peer: Peer<RoleClient>,
}

async fn start(root: &std::path::Path, sandbox_off: bool) -> Client {
    let mut cmd = tokio::process::Command::new(codebox_bin());
    cmd.arg("serve").arg("--root").arg(root);
    if sandbox_off {
        cmd.args(["--sandbox", "off"]);
    }
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", codebox_bin()));
    let service: RunningService<RoleClient, ()> = ().serve(transport).await.expect("MCP handshake");
    let peer = service.peer().clone();
    Client { service, peer }
}

fn params(command: &str) -> CallToolRequestParams {
    let Value::Object(map) = json!({ "command": command }) else { unreachable!() };
    CallToolRequestParams::new("run_command").with_arguments(map)
}

fn text_of(r: &rmcp::model::CallToolResult) -> String {
    r.content.iter().filter_map(|c| c.as_text().map(|t| t.text.clone())).collect()
}

/// One call; returns its latency and result text.
async fn call(peer: &Peer<RoleClient>, p: &CallToolRequestParams) -> (Duration, String, bool) {
    let t = Instant::now();
    let r = peer.call_tool(p.clone()).await.expect("run_command: protocol error");
    let dt = t.elapsed();
    (dt, text_of(&r), r.is_error == Some(true))
}

/// The `[exit 0 · 0.01 s · sandbox: …]` status line, or a loud stop.
async fn check_first(peer: &Peer<RoleClient>, p: &CallToolRequestParams, label: &str) -> String {
    let (_, text, is_error) = call(peer, p).await;
    let status = text.lines().rev().find(|l| l.starts_with("[exit ")).unwrap_or("");
    if is_error || !status.starts_with("[exit 0 ") {
        eprintln!("sandbox bench: the first `{label}` call did not exit 0 — result:\n{text}");
        panic!("`{label}` did not run cleanly (sandbox refusal or missing command?)");
    }
    status.to_string()
}

fn main() {
    let runs: usize = std::env::var("CODEBOX_BENCH_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(200).max(1);
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().canonicalize().expect("canonical temp dir");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let t_all = Instant::now();
    eprintln!("sandbox: codebox {}, {runs} timed calls per case", codebox_bin());

    // (command, strict stats, off stats, strict status line)
    let mut tool_rows = Vec::new();
    rt.block_on(async {
        let strict = start(&root, false).await;
        let off = start(&root, true).await;
        for command in ["true", "cargo --version"] {
            let p = params(command);
            let status = check_first(&strict.peer, &p, &format!("{command} (strict)")).await;
            check_first(&off.peer, &p, &format!("{command} (--sandbox off)")).await;
            eprintln!("  `{command}`: strict status {status}");
            for _ in 0..WARMUP {
                call(&strict.peer, &p).await;
                call(&off.peer, &p).await;
            }
            let (mut s, mut o) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
            for i in 0..runs {
                // Alternate which goes first, so neither always follows the other.
                if i % 2 == 0 {
                    s.push(call(&strict.peer, &p).await.0);
                    o.push(call(&off.peer, &p).await.0);
                } else {
                    o.push(call(&off.peer, &p).await.0);
                    s.push(call(&strict.peer, &p).await.0);
                }
            }
            tool_rows.push((command, stats(s), stats(o), status));
        }
        let _ = strict.service.cancel().await;
        let _ = off.service.cancel().await;
    });

    let bwrap = bwrap_direct(runs);
    print_report(runs, &tool_rows, bwrap.as_ref());
    println!("total bench time {:.1} s", t_all.elapsed().as_secs_f64());
}

fn on_path(prog: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
}

fn spawn_wait(prog: &str, args: &[&str]) -> Duration {
    let t = Instant::now();
    let st = std::process::Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("spawn {prog}: {e}"));
    let dt = t.elapsed();
    assert!(st.success(), "`{prog} {}` failed: {st}", args.join(" "));
    dt
}

/// Direct spawns of `true` and `bwrap … true`, alternating: (true, bwrap), or None without bwrap.
fn bwrap_direct(runs: usize) -> Option<(Stats, Stats)> {
    if !on_path("bwrap") {
        return None;
    }
    let mut bargs: Vec<&str> = BWRAP_ARGS.to_vec();
    bargs.push("true");
    // Loud failure if bwrap cannot create its namespaces here.
    let out = std::process::Command::new("bwrap").args(&bargs).output().expect("spawn bwrap");
    if !out.status.success() {
        eprintln!("sandbox bench: bwrap failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
        return None;
    }
    eprintln!("  direct spawns: true vs bwrap … true");
    for _ in 0..WARMUP {
        spawn_wait("true", &[]);
        spawn_wait("bwrap", &bargs);
    }
    let (mut t, mut b) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    for i in 0..runs {
        if i % 2 == 0 {
            t.push(spawn_wait("true", &[]));
            b.push(spawn_wait("bwrap", &bargs));
        } else {
            b.push(spawn_wait("bwrap", &bargs));
            t.push(spawn_wait("true", &[]));
        }
    }
    Some((stats(t), stats(b)))
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn signed_ms(a: Duration, b: Duration) -> String {
    format!("{:+.2} ms", (a.as_secs_f64() - b.as_secs_f64()) * 1e3)
}

fn over(a: Stats, b: Stats) -> f64 {
    a.median.as_secs_f64() - b.median.as_secs_f64()
}

fn print_report(runs: usize, tool: &[(&str, Stats, Stats, String)], bwrap: Option<&(Stats, Stats)>) {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    println!();
    println!(
        "sandbox benchmark — run_command over stdio, {runs} timed calls per case after {WARMUP} warm-up; \
         load average {}",
        load.join(" ")
    );
    if let Some((_, _, _, status)) = tool.first() {
        println!("strict status line: {status}");
    }
    println!("{:-<92}", "");
    println!("{:<44} {:>10} {:>10} {:>14} {:>8}", "case", "median", "p90", "overhead", "ratio");
    println!("{:-<92}", "");
    let row = |case: &str, s: Stats, base: Option<Stats>| {
        let (o, r) = match base {
            Some(b) => {
                (signed_ms(s.median, b.median), format!("{:.2}×", s.median.as_secs_f64() / b.median.as_secs_f64()))
            }
            None => ("(baseline)".into(), "".into()),
        };
        println!("{case:<44} {:>10} {:>10} {o:>14} {r:>8}", ms(s.median), ms(s.p90));
    };
    for (command, s, o, _) in tool {
        row(&format!("run_command `{command}` --sandbox off"), *o, None);
        row(&format!("run_command `{command}` strict"), *s, Some(*o));
    }
    match bwrap {
        Some((t, b)) => {
            row("direct spawn `true`", *t, None);
            row("direct `bwrap --unshare-all … true`", *b, Some(*t));
        }
        None => println!("bwrap not installed: comparison skipped"),
    }
    println!("{:-<92}", "");
    let verdict = |ok: bool| if ok { "MET" } else { "MISSED" };
    for (command, s, o, _) in tool {
        let ov = over(*s, *o);
        println!(
            "target: sandbox overhead ≤ 5 ms for `{command}`: {:+.3} ms — {}",
            ov * 1e3,
            verdict(ov <= TARGET_OVERHEAD.as_secs_f64())
        );
    }
    if let Some((t, b)) = bwrap {
        let bw = over(*b, *t);
        for (command, s, o, _) in tool {
            let ov = over(*s, *o);
            println!(
                "target: sandbox overhead ≤ bubblewrap's ({:+.3} ms) for `{command}`: {:+.3} ms — {}",
                bw * 1e3,
                ov * 1e3,
                verdict(ov <= bw)
            );
        }
    } else {
        println!("target: sandbox overhead ≤ bubblewrap's: n/a (bwrap not installed)");
    }
}
