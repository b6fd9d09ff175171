//! Search benchmark (issue 5): codebox's `search` end to end (MCP request to complete response over stdio) against
//! the `rg` binary given the same pattern and flags, output to a pipe, on a large real corpus.
//!
//! Corpus: `CODEBOX_BENCH_CORPUS`, or the Cargo registry sources that building codebox downloaded
//! (`$CARGO_HOME/registry/src`). Patterns: a rare literal, a common literal, a regex with classes and repetition,
//! a case-insensitive word. For each: `files` mode against `rg -l`, `count` mode against `rg -c` (both visit every
//! file and find every match; the totals are compared and printed), and `content` mode with default caps against
//! `rg -n` (codebox stops early there; reported, not a target). Median of `CODEBOX_BENCH_RUNS` (default 5) after
//! one warm-up of each. rg gets `--no-require-git`, because codebox honours .gitignore files outside git
//! repositories too. A report: nothing is asserted on timings.
//!
//! Run with: cargo bench --bench search   (needs `rg` on PATH: apt-get install ripgrep)

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use serde_json::json;

fn corpus() -> PathBuf {
    if let Ok(c) = std::env::var("CODEBOX_BENCH_CORPUS") {
        return PathBuf::from(c);
    }
    let home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cargo"));
    home.join("registry/src")
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// (label, pattern, case-insensitive)
const PATTERNS: &[(&str, &str, bool)] = &[
    ("rare literal", "PM_RESUME_SYNC_EXPECTED", false),
    ("common literal", "return", false),
    ("regex", r"fn [a-z_]+\(&mut self, [a-z]+: u(8|16|32|64)", false),
    ("case-insensitive word", r"\bdeprecated\b", true),
];

#[tokio::main]
async fn main() {
    let corpus = corpus();
    let runs: usize = std::env::var("CODEBOX_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    if Command::new("rg").arg("--version").output().is_err() {
        println!("rg is not installed (apt-get install ripgrep): the comparison needs it");
        return;
    }
    let files = Command::new("rg").args(["--files", "--no-require-git"]).arg(&corpus).output().unwrap();
    println!(
        "corpus {}: {} files (as rg lists them); {} runs each, median",
        corpus.display(),
        String::from_utf8_lossy(&files.stdout).lines().count(),
        runs
    );
    let bin = std::env::var("CODEBOX_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_codebox").to_string());
    let mut cmd = tokio::process::Command::new(&bin);
    cmd.arg("serve").arg("--root").arg(&corpus).stderr(Stdio::null());
    let client = ().serve(TokioChildProcess::new(cmd).unwrap()).await.unwrap();

    println!("{:<24} {:<8} {:>11} {:>11} {:>7}  check", "pattern", "mode", "codebox", "rg", "ratio");
    let mut worst: f64 = 0.0;
    for (label, pattern, insensitive) in PATTERNS {
        for (mode, rg_flag) in [("files", "-l"), ("count", "-c"), ("content", "-n")] {
            let args = json!({"pattern": pattern, "output": mode, "case": if *insensitive { "insensitive" } else { "sensitive" },
                "max_results": 10000, "max_output_chars": 200000});
            let args = if mode == "content" {
                json!({"pattern": pattern, "case": if *insensitive { "insensitive" } else { "sensitive" }})
            } else {
                args
            };
            let call = || {
                let a = args.as_object().unwrap().clone();
                let peer = client.peer().clone();
                async move { peer.call_tool(CallToolRequestParams::new("search").with_arguments(a)).await.unwrap() }
            };
            let mut rg = Command::new("rg");
            rg.arg(rg_flag).arg("--no-require-git").arg("--no-config");
            if *insensitive {
                rg.arg("-i");
            } else {
                rg.arg("-s");
            }
            rg.arg("--").arg(pattern).arg(&corpus).stdout(Stdio::piped()).stderr(Stdio::null());
            // Warm-up: both read the corpus once, so the page cache is equally hot.
            let first = call().await;
            let rg_out = rg.output().unwrap();
            let mut cb_times = Vec::new();
            let mut rg_times = Vec::new();
            for _ in 0..runs {
                let t = Instant::now();
                let _ = call().await;
                cb_times.push(t.elapsed());
                let t = Instant::now();
                let _ = rg.output().unwrap();
                rg_times.push(t.elapsed());
            }
            let (cb, r) = (median(cb_times), median(rg_times));
            let ratio = cb.as_secs_f64() / r.as_secs_f64();
            let text = first.content[0].as_text().map(|t| t.text.clone()).unwrap_or_default();
            let rg_text = String::from_utf8_lossy(&rg_out.stdout);
            let check = match mode {
                "files" => {
                    let n = rg_text.lines().count();
                    let ours: usize = text
                        .rsplit("\n[")
                        .next()
                        .and_then(|f| f.split(' ').next())
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0);
                    format!("files: codebox {ours}, rg {n}{}", if ours == n { " (same)" } else { " DIFFER" })
                }
                "count" => {
                    let total: u64 = rg_text.lines().filter_map(|l| l.rsplit(':').next()?.parse::<u64>().ok()).sum();
                    // The closing line: `[N matching files, M matching lines]` (a path may contain ", ").
                    let footer = text.lines().rev().find(|l| l.ends_with("matching lines]")).unwrap_or("");
                    let ours: u64 = footer
                        .split(", ")
                        .nth(1)
                        .and_then(|s| s.split(' ').next())
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0);
                    format!(
                        "matching lines: codebox {ours}, rg {total}{}",
                        if ours == total { " (same)" } else { " DIFFER" }
                    )
                }
                _ => "capped result; not a target".to_string(),
            };
            if mode != "content" {
                worst = worst.max(ratio);
            }
            println!(
                "{label:<24} {mode:<8} {:>9.1}ms {:>9.1}ms {ratio:>6.2}×  {check}",
                cb.as_secs_f64() * 1e3,
                r.as_secs_f64() * 1e3
            );
        }
    }
    println!(
        "target: every files/count ratio ≤ 1.2 — worst {worst:.2}× — {}",
        if worst <= 1.2 { "MET" } else { "MISSED" }
    );
}
