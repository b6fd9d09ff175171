//! Workspaces benchmark (issue 16): the time and disk a new workspace costs on a repository of 10,000 files and
//! about 100 MB of history, against `git worktree add`, `git clone` (local: objects hard-linked) and
//! `git clone --no-hardlinks` of the same repository, in the same run.
//!
//! The repository is made with `git fast-import`: a first commit of 10,000 files of 1 KiB, then commits that each
//! rewrite the same 100 files (a busy corner of the tree) with 10 KiB of pseudo-random text until the packed
//! history passes 100 MB; the checkout stays at 10,000 files of about 11 MB. Each method runs
//! three times, interleaved; the median time is reported. Disk = allocated blocks of the new directory, not
//! counting inodes the main repository already holds (hard links), so a shared object costs nothing.
//! Targets (issue 16): ≤ 1 s and ≤ 10% of the repository's disk. A report: nothing is asserted.
//! Run with: cargo bench --bench workspaces   (CODEBOX_BIN overrides the binary)

use std::collections::HashSet;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const FILES: usize = 10_000;
const HISTORY_BYTES: u64 = 100_000_000;
const ROUNDS: usize = 3;

fn codebox_bin() -> String {
    std::env::var("CODEBOX_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_codebox").to_string())
}

/// xorshift64*: reproducible text without a dependency.
struct Rng(u64);
impl Rng {
    fn text(&mut self, len: usize) -> Vec<u8> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let mut v = self.0.wrapping_mul(0x2545F4914F6CDD1D);
            for _ in 0..10 {
                out.push(if out.len() % 77 == 76 { b'\n' } else { ALPHABET[(v & 63) as usize] });
                v >>= 6;
            }
        }
        out.truncate(len);
        out
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output().expect("git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn make_repo(root: &Path) {
    std::fs::create_dir_all(root).unwrap();
    git(root, &["init", "-q", "-b", "main"]);
    let mut fi =
        Command::new("git").arg("-C").arg(root).args(["fast-import", "--quiet"]).stdin(Stdio::piped()).spawn().unwrap();
    let mut w = std::io::BufWriter::new(fi.stdin.take().unwrap());
    let mut rng = Rng(0x9E3779B97F4A7C15);
    let commit = |w: &mut dyn Write, n: usize, files: &mut dyn Iterator<Item = (String, Vec<u8>)>| {
        writeln!(w, "commit refs/heads/main\ncommitter b <b@example.org> {} +0000", 1_700_000_000 + n).unwrap();
        let msg = format!("commit {n}");
        writeln!(w, "data {}\n{msg}", msg.len()).unwrap();
        // Later commits continue the branch: fast-import keeps its tip.
        for (path, data) in files {
            writeln!(w, "M 100644 inline {path}\ndata {}", data.len()).unwrap();
            w.write_all(&data).unwrap();
            writeln!(w).unwrap();
        }
        writeln!(w).unwrap();
    };
    let path = |i: usize| format!("src/m{:03}/f{:05}.txt", i / 100, i);
    let mut first = (0..FILES).map(|i| (path(i), rng.text(1024)));
    commit(&mut w, 0, &mut first);
    let per_commit: u64 = 100 * 10 * 1024;
    let commits = (HISTORY_BYTES * 4 / 3 / per_commit) as usize + 1;
    for n in 1..=commits {
        let mut files = (0..100).map(|k| (path(k * 100), rng.text(10 * 1024)));
        commit(&mut w, n, &mut files);
    }
    drop(w);
    assert!(fi.wait().unwrap().success());
    git(root, &["checkout", "-q", "-f", "main"]);
}

/// Allocated bytes under `dir`, skipping inodes in `shared` and counting each inode once.
fn disk(dir: &Path, shared: &HashSet<(u64, u64)>) -> u64 {
    let mut seen = HashSet::new();
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let md = e.metadata().unwrap();
            let id = (md.dev(), md.ino());
            if shared.contains(&id) || !seen.insert(id) {
                continue;
            }
            total += md.blocks() * 512;
            if md.is_dir() {
                stack.push(e.path());
            }
        }
    }
    total
}

fn inodes(dir: &Path) -> HashSet<(u64, u64)> {
    let mut set = HashSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let md = e.metadata().unwrap();
            set.insert((md.dev(), md.ino()));
            if md.is_dir() {
                stack.push(e.path());
            }
        }
    }
    set
}

fn timed(mut cmd: Command) -> Duration {
    let start = Instant::now();
    let out = cmd.output().unwrap();
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1 << 20) as f64)
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path();
    let root = base.join("proj");
    let t = Instant::now();
    make_repo(&root);
    let git_dir_bytes = disk(&root.join(".git"), &HashSet::new());
    let repo_bytes = disk(&root, &HashSet::new());
    let shared = inodes(&root);
    println!(
        "repository: {FILES} files, .git {} , whole {} (made in {:.1} s)",
        mib(git_dir_bytes),
        mib(repo_bytes),
        t.elapsed().as_secs_f64()
    );
    let state = base.join("state");
    let methods = ["codebox ws new", "git worktree add", "git clone (local)", "git clone --no-hardlinks"];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); methods.len()];
    let mut disks: Vec<u64> = vec![0; methods.len()];
    let mut git_disks: Vec<u64> = vec![0; methods.len()];
    for round in 0..ROUNDS {
        for m in 0..methods.len() {
            let target = base.join(format!("m{m}-r{round}"));
            let (cmd, made) = match m {
                0 => {
                    let mut c = Command::new(codebox_bin());
                    let ws = format!("bench{round}");
                    c.args(["ws", "new", &ws, "--root"]).arg(&root).env("XDG_STATE_HOME", &state);
                    c.env("TMPDIR", base);
                    let dir = state.join("codebox/workspaces");
                    (c, Box::new(move || find_dir(&dir, &ws)) as Box<dyn Fn() -> PathBuf>)
                }
                1 => {
                    let mut c = Command::new("git");
                    c.arg("-C").arg(&root).args(["worktree", "add", "-q", "-b", &format!("wt{round}")]).arg(&target);
                    let t = target.clone();
                    (c, Box::new(move || t.clone()) as Box<dyn Fn() -> PathBuf>)
                }
                2 | 3 => {
                    let mut c = Command::new("git");
                    c.args(["clone", "-q"]);
                    if m == 3 {
                        c.arg("--no-hardlinks");
                    }
                    c.arg(&root).arg(&target);
                    let t = target.clone();
                    (c, Box::new(move || t.clone()) as Box<dyn Fn() -> PathBuf>)
                }
                _ => unreachable!(),
            };
            times[m].push(timed(cmd));
            disks[m] = disk(&made(), &shared);
            // A worktree's git metadata lives in the main repository's .git/worktrees/<name>.
            let meta = if m == 1 {
                root.join(".git/worktrees").join(target.file_name().unwrap())
            } else {
                made().join(".git")
            };
            git_disks[m] = disk(&meta, &shared);
        }
    }
    println!(
        "{:<26} {:>10} {:>12} {:>12} {:>14} {:>14}",
        "method", "median s", "disk", "disk / repo", "of it .git", ".git / repo"
    );
    for (m, name) in methods.iter().enumerate() {
        let mut t = times[m].clone();
        t.sort();
        println!(
            "{:<26} {:>10.3} {:>12} {:>11.1}% {:>14} {:>13.2}%",
            name,
            t[t.len() / 2].as_secs_f64(),
            mib(disks[m]),
            100.0 * disks[m] as f64 / repo_bytes as f64,
            mib(git_disks[m]),
            100.0 * git_disks[m] as f64 / repo_bytes as f64
        );
    }
    println!(
        "codebox ws new vs git worktree add: {:.2}x the time, {:.2}x the disk",
        median(&times[0]) / median(&times[1]),
        disks[0] as f64 / disks[1].max(1) as f64
    );
}

fn median(t: &[Duration]) -> f64 {
    let mut t = t.to_vec();
    t.sort();
    t[t.len() / 2].as_secs_f64()
}

fn find_dir(dir: &Path, name: &str) -> PathBuf {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path().join(name);
        if p.is_dir() {
            return p;
        }
    }
    panic!("workspace {name} not found under {}", dir.display());
}
