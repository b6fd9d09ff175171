//! Symbols benchmark (issue 15): codebox's symbol tools end to end (MCP request to complete response over stdio)
//! on a large real corpus, with universal-ctags on the same files as the baseline for the cold index.
//!
//! Corpus: `CODEBOX_BENCH_CORPUS`, else `target/symbols-corpus` when it exists (the Cargo registry crates and a
//! Python sdist; see scripts/measure/symbols_corpus.sh), else the Cargo registry sources. Measured:
//! - cold index: the first repo_map on a fresh server (walk, read, parse and index every file), against
//!   `ctags -L` over the same file list (the files the index covers: its languages, ignore rules honoured);
//! - warm map: repo_map again (every file re-stamped, nothing re-parsed), median of `CODEBOX_BENCH_RUNS` (5);
//! - outline of the corpus file closest to 10,000 lines, first call and warm, with read_file of it for scale;
//! - find_symbol and find_references of a common name across the corpus, warm;
//! - the server's resident memory before and after indexing (VmRSS), and the index's own estimate.
//!
//! A report: nothing is asserted on timings. Run with: cargo bench --bench symbols   (needs `ctags`)

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use codebox::engine::Lang;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};

fn corpus() -> PathBuf {
    if let Ok(c) = std::env::var("CODEBOX_BENCH_CORPUS") {
        return PathBuf::from(c);
    }
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/symbols-corpus");
    if local.is_dir() {
        return local;
    }
    let home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cargo"));
    home.join("registry/src")
}

/// The files the index parses, as the server's walk sees them (larger files are listed without symbols, and left
/// out of ctags' list too).
fn indexed_files(root: &Path) -> Vec<PathBuf> {
    let mut b = ignore::WalkBuilder::new(root);
    b.follow_links(false).hidden(true).require_git(false).filter_entry(|e| e.file_name() != ".git");
    let mut out = Vec::new();
    for e in b.build().flatten() {
        if !e.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let p = e.path().to_string_lossy().to_string();
        let small = e.metadata().is_ok_and(|m| m.len() <= codebox::engine::index::MAX_FILE_BYTES);
        let lang = Lang::detect(&p, "").filter(|l| *l != Lang::Json);
        if small && lang.is_some_and(codebox::engine::supported) {
            out.push(e.into_path());
        }
    }
    out
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

async fn call(c: &RunningService<rmcp::RoleClient, ()>, tool: &str, args: Value) -> (Duration, String) {
    let Value::Object(map) = args else { unreachable!() };
    let t = Instant::now();
    let r = c.peer().call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(map)).await.unwrap();
    let took = t.elapsed();
    let text = r.content.iter().filter_map(|c| c.as_text().map(|t| t.text.clone())).collect::<Vec<_>>().join("\n");
    assert!(!r.is_error.unwrap_or(false), "{tool}: {text}");
    (took, text)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

#[tokio::main]
async fn main() {
    let corpus = corpus();
    let runs: usize = std::env::var("CODEBOX_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    if Command::new("ctags").arg("--version").output().is_err() {
        println!("ctags is not installed (apt-get install universal-ctags): the baseline needs it");
        return;
    }
    let files = indexed_files(&corpus);
    let bytes: u64 = files.iter().filter_map(|f| f.metadata().ok()).map(|m| m.len()).sum();
    println!(
        "corpus {}: {} indexable files, {:.1} MiB; {runs} runs, median",
        corpus.display(),
        files.len(),
        bytes as f64 / 1048576.0
    );

    // Baseline: ctags over the same files, output discarded (the page cache is warmed by a first run).
    let list = std::env::temp_dir().join(format!("codebox-bench-ctags-{}.txt", std::process::id()));
    std::fs::write(&list, files.iter().map(|f| f.to_string_lossy() + "\n").collect::<String>()).unwrap();
    let ctags = || {
        let t = Instant::now();
        let st = Command::new("ctags")
            .args(["-L"])
            .arg(&list)
            .args(["-f", "-"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
        t.elapsed()
    };
    let _ = ctags();
    let ctags_time = median((0..3).map(|_| ctags()).collect());
    let _ = std::fs::remove_file(&list);

    let bin = std::env::var("CODEBOX_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_codebox").to_string());
    let mut cmd = tokio::process::Command::new(&bin);
    cmd.arg("serve").arg("--root").arg(&corpus).stderr(Stdio::null());
    let child = TokioChildProcess::new(cmd).unwrap();
    let pid = child.id().unwrap();
    let client = ().serve(child).await.unwrap();
    let rss_before = rss_kib(pid);

    let (cold, map) = call(&client, "repo_map", json!({})).await;
    let rss_after = rss_kib(pid);
    let mut warm = Vec::new();
    for _ in 0..runs {
        warm.push(call(&client, "repo_map", json!({})).await.0);
    }
    let warm = median(warm);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "cold index (first repo_map)   {:>10}   ctags {:>10}   ratio {:.2}× (target ≤ 1.5×; codebox on {cores} threads, ctags on 1)",
        ms(cold),
        ms(ctags_time),
        cold.as_secs_f64() / ctags_time.as_secs_f64()
    );
    println!("warm repo_map                 {:>10}   (target ≤ 200 ms); map of {} chars", ms(warm), map.len());
    println!(
        "server memory                 {:.1} MiB before indexing, {:.1} MiB after: +{:.1} MiB (target ≤ 100 MiB)",
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0,
        rss_after.saturating_sub(rss_before) as f64 / 1024.0
    );

    // The file closest to 10,000 lines.
    let mut best: Option<(usize, PathBuf)> = None;
    for f in &files {
        // Code, not data: a 10,000-line JSON file is not what the target is about.
        let code = Lang::detect(&f.to_string_lossy(), "")
            .is_some_and(|l| !matches!(l, Lang::Json | Lang::Yaml | Lang::Toml | Lang::Css));
        let Ok(t) = std::fs::read(f) else { continue };
        if !code {
            continue;
        }
        let n = t.iter().filter(|b| **b == b'\n').count();
        if best.as_ref().is_none_or(|(m, _)| n.abs_diff(10_000) < m.abs_diff(10_000)) {
            best = Some((n, f.clone()));
        }
    }
    if let Some((n, f)) = best {
        let rel = f.strip_prefix(&corpus).unwrap().to_string_lossy().to_string();
        // The index holds it already (cold index above); a fresh server parses it on the first outline.
        let mut cmd = tokio::process::Command::new(&bin);
        cmd.arg("serve").arg("--root").arg(&corpus).stderr(Stdio::null());
        let fresh = ().serve(TokioChildProcess::new(cmd).unwrap()).await.unwrap();
        let (first, text) = call(&fresh, "outline", json!({"path": rel})).await;
        let mut again = Vec::new();
        for _ in 0..runs {
            again.push(call(&fresh, "outline", json!({"path": rel})).await.0);
        }
        let (_, read) = call(&fresh, "read_file", json!({"path": rel, "limit": 20000})).await;
        println!(
            "outline of {rel} ({n} lines)   first {:>9}, warm {:>9} (target ≤ 20 ms); {} chars vs read_file's {}",
            ms(first),
            ms(median(again)),
            text.len(),
            read.len()
        );
        let _ = fresh.cancel().await;
    }
    for (tool, name) in [
        ("find_symbol", "new"),
        ("find_symbol", "Error"),
        ("find_references", "len"),
        ("find_references", "Deserialize"),
    ] {
        let (_, text) = call(&client, tool, json!({"name": name})).await;
        let mut t = Vec::new();
        for _ in 0..runs {
            t.push(call(&client, tool, json!({"name": name})).await.0);
        }
        let last = text.lines().last().unwrap_or_default();
        println!("{tool:<16} {name:<12} {:>10}   {}", ms(median(t)), last.chars().take(110).collect::<String>());
    }
    let _ = client.cancel().await;

    // The index alone, in this process: the same files through the library, and what it holds.
    let index = codebox::engine::index::Index::default();
    let candidates: Vec<_> = files
        .iter()
        .filter_map(|f| {
            let rel = f.strip_prefix(&corpus).ok()?.to_string_lossy().to_string();
            let meta = std::fs::symlink_metadata(f).ok()?;
            let lang = Lang::detect(&rel, "")?;
            Some(codebox::engine::index::Candidate { rel, lang, stamp: codebox::engine::index::Stamp::of(&meta) })
        })
        .collect();
    let read = |rel: &str| {
        let p = corpus.join(rel);
        let meta = std::fs::metadata(&p).ok()?;
        Some((std::fs::read(&p).ok()?, codebox::engine::index::Stamp::of(&meta)))
    };
    let t = Instant::now();
    let snap = index.refresh(Some(""), &candidates, read, &std::sync::atomic::AtomicBool::new(false));
    let took = t.elapsed();
    let (nfiles, syms, refs, names, bytes) = index.stats();
    println!(
        "index in process              {:>10}   {nfiles} files, {syms} symbols, {refs} identifier entries, {names} names: about {:.1} MiB of data",
        ms(took),
        bytes as f64 / 1048576.0
    );
    drop(snap);
}
