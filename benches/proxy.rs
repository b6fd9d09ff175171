//! Proxy benchmark (issue 20), against baselines measured in the same run, all on loopback:
//! - throughput: 1 GiB downloaded with curl from a local server, from inside the sandbox through the proxy
//!   (`network = "proxy"`, the name mapped to 127.0.0.1), against curl on the host straight to the server;
//! - added latency per request: 200 sequential small GETs (a new connection each) by Python from inside the
//!   sandbox through the proxy, against the same script on the host straight to the server (median, p99);
//! - spawn overhead: run_command("true") with the proxy on against the network off (median of 40, after the
//!   session's first call, which makes the session's network).
//!
//! Targets (issue 20): throughput ratio ≥ 0.8, added latency p50 ≤ 1 ms, spawn overhead ≤ +2 ms.
//! Run with: cargo bench --bench proxy   (CODEBOX_BIN overrides the binary)

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

const GIB: u64 = 1 << 30;

fn codebox_bin() -> String {
    std::env::var("CODEBOX_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_codebox").to_string())
}

/// A tiny HTTP/1.1 server: `/big` answers 1 GiB of zeros, anything else a short body; one request per
/// connection.
fn serve() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut conn = conn;
                let _ = conn.set_nodelay(true);
                let mut buf = [0u8; 4096];
                let mut head = Vec::new();
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let big = head.starts_with(b"GET /big");
                let len = if big { GIB } else { 2 };
                let _ = write!(conn, "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n");
                if big {
                    let chunk = vec![0u8; 1 << 20];
                    for _ in 0..(GIB >> 20) {
                        if conn.write_all(&chunk).is_err() {
                            return;
                        }
                    }
                } else {
                    let _ = conn.write_all(b"ok");
                }
            });
        }
    });
    port
}

const LATENCY_PY: &str = r#"
import sys, time, urllib.request
url, n = sys.argv[1], int(sys.argv[2])
opener = urllib.request.build_opener() if len(sys.argv) < 4 else urllib.request.build_opener(urllib.request.ProxyHandler({}))
ts = []
for _ in range(n):
    t = time.perf_counter_ns()
    opener.open(url).read()
    ts.append(time.perf_counter_ns() - t)
print(" ".join(map(str, ts)))
"#;

async fn call(c: &RunningService<RoleClient, ()>, tool: &str, args: Value) -> String {
    let Value::Object(map) = args else { unreachable!() };
    let r = c.call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(map)).await.expect("call");
    let text = r.content.iter().filter_map(|c| c.as_text().map(|t| t.text.clone())).collect::<Vec<_>>().join("\n");
    assert!(r.is_error != Some(true), "{tool}: {text}");
    text
}

async fn client(base: &std::path::Path, network: &str) -> RunningService<RoleClient, ()> {
    let root = base.join(format!("proj-{network}"));
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("latency.py"), LATENCY_PY).unwrap();
    std::fs::write(
        root.join("codebox.toml"),
        format!(
            "[sandbox]\nnetwork = \"{network}\"\n[sandbox.proxy]\nallow = [\"files.example.test\"]\nhosts = {{ \"files.example.test\" = \"127.0.0.1\" }}\n"
        ),
    )
    .unwrap();
    let tmp = base.join(format!("tmp-{network}"));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut cmd = tokio::process::Command::new(codebox_bin());
    cmd.arg("serve").arg("--root").arg(&root).env("TMPDIR", &tmp).env("XDG_STATE_HOME", base.join("state"));
    cmd.stderr(std::process::Stdio::null());
    ().serve(TokioChildProcess::new(cmd).unwrap()).await.expect("handshake")
}

fn nums(text: &str) -> Vec<Duration> {
    let line = text.lines().find(|l| l.split(' ').all(|w| w.parse::<u64>().is_ok()) && !l.is_empty()).expect(text);
    line.split(' ').map(|w| Duration::from_nanos(w.parse().unwrap())).collect()
}

fn stats(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[(v.len() * 99 / 100).min(v.len() - 1)])
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let port = serve();
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();

    // Throughput, direct: curl on the host.
    let direct = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{speed_download}", &format!("http://127.0.0.1:{port}/big")])
        .output()
        .unwrap();
    let direct_bps: f64 = String::from_utf8_lossy(&direct.stdout).trim().parse().unwrap();
    // Latency, direct: the script on the host.
    std::fs::write(dir.path().join("latency.py"), LATENCY_PY).unwrap();
    let out = std::process::Command::new("python3")
        .arg(dir.path().join("latency.py"))
        .args([&format!("http://127.0.0.1:{port}/small"), "200", "direct"])
        .output()
        .unwrap();
    let (direct_p50, direct_p99) = stats(nums(&String::from_utf8_lossy(&out.stdout)));

    let (proxy_bps, proxy_lat, spawn_proxy, spawn_off) = rt.block_on(async {
        let c = client(dir.path(), "proxy").await;
        let url = format!("http://files.example.test:{port}");
        let text = call(
            &c,
            "run_command",
            json!({"command": format!("curl -s -o /dev/null -w '%{{speed_download}}' {url}/big"), "timeout_secs": 600}),
        )
        .await;
        let proxy_bps: f64 = text.lines().next().unwrap().trim().parse().unwrap_or_else(|_| panic!("{text}"));
        let text = call(&c, "run_command", json!({"command": format!("python3 latency.py {url}/small 200")})).await;
        let proxy_lat = stats(nums(&text));
        let spawn_proxy = spawn_median(&c).await;
        let off = client(dir.path(), "off").await;
        let spawn_off = spawn_median(&off).await;
        (proxy_bps, proxy_lat, spawn_proxy, spawn_off)
    });

    println!("\nproxy benchmark (all on loopback)");
    println!(
        "throughput, 1 GiB: direct {:.0} MiB/s, through the proxy {:.0} MiB/s: ratio {:.2} (target ≥ 0.8: {})",
        direct_bps / 1048576.0,
        proxy_bps / 1048576.0,
        proxy_bps / direct_bps,
        if proxy_bps / direct_bps >= 0.8 { "met" } else { "MISSED" }
    );
    let added = proxy_lat.0.saturating_sub(direct_p50);
    println!(
        "request latency, 200 GETs: direct p50 {} p99 {}; through the proxy p50 {} p99 {}; added p50 {} (target ≤ 1 ms: {})",
        ms(direct_p50),
        ms(direct_p99),
        ms(proxy_lat.0),
        ms(proxy_lat.1),
        ms(added),
        if added <= Duration::from_millis(1) { "met" } else { "MISSED" }
    );
    let extra = spawn_proxy.saturating_sub(spawn_off);
    println!(
        "run_command(\"true\"), median of 40: network off {}, proxy {}; overhead {} (target ≤ 2 ms: {})",
        ms(spawn_off),
        ms(spawn_proxy),
        ms(extra),
        if extra <= Duration::from_millis(2) { "met" } else { "MISSED" }
    );
}

async fn spawn_median(c: &RunningService<RoleClient, ()>) -> Duration {
    call(c, "run_command", json!({"command": "true"})).await;
    let mut v = Vec::new();
    for _ in 0..40 {
        let t = Instant::now();
        call(c, "run_command", json!({"command": "true"})).await;
        v.push(t.elapsed());
    }
    stats(v).0
}
