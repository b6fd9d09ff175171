//! Issue 21, confinement that holds as root: a cgroup per command bounds its processes and memory, and the
//! filesystem view is built from an allowlist (ATTACKS.md C1–C6). These machines run the tests as root with
//! memory, pids and cpu on cgroup v1; the v2 paths are covered by `sandbox::cgroup::tests` on a fake tree.

use serde_json::json;

use crate::harness::*;

use crate::harness::sh_ok as sh;

/// C1: a fork bomb stops at the cgroup's process limit (which, unlike RLIMIT_NPROC, holds for root), the result
/// says so, and the server answers the next call.
#[tokio::test]
async fn c1_a_fork_bomb_stops_at_the_process_limit() {
    let p = Project::new();
    p.write("codebox.toml", "[sandbox]\nmax_processes = 64\n");
    let c = stdio(&p.root, &[]).await;
    let out = call(
        &c,
        "run_command",
        json!({"command": "bomb_c1() { bomb_c1 | bomb_c1 & }; bomb_c1; sleep 3; echo peak=$(cat /sys/fs/cgroup/pids.peak 2>/dev/null)", "timeout_secs": 20}),
    )
    .await;
    assert!(!out.is_error, "{}", out.text);
    assert!(out.text.contains("[limits: the process limit (64, sandbox.max_processes) was reached"), "{}", out.text);
    assert!(out.text.contains("sandbox: cgroup"), "{}", out.text);
    assert!(sh(&c, "echo alive").await.contains("alive"));
    assert!(host_processes_with("bomb_c1").is_empty());
}

/// C2: processes that together allocate past the memory limit are killed by the kernel, and the result says the
/// command ran out of memory.
#[tokio::test]
async fn c2_memory_past_the_limit_is_an_oom_kill_reported_in_the_result() {
    let p = Project::new();
    p.write("codebox.toml", "[sandbox]\nmemory_bytes = 268435456\n");
    let c = stdio(&p.root, &[]).await;
    // Each process stays under the address-space limit; together they pass the cgroup's memory limit.
    let out = sh(&c, "for i in 1 2 3; do python3 -c \"b = b'x' * (150 * 1024 * 1024); import time; time.sleep(5)\" & done; wait; echo done").await;
    assert!(out.contains("Killed"), "{out}");
    assert!(out.contains("[limits: OUT OF MEMORY: the kernel killed"), "{out}");
    assert!(out.contains("(256.0 MiB, sandbox.memory_bytes)"), "{out}");
}

/// C3: no cgroup is left behind: after 100 commands codebox's subtree holds no group, and after codebox exits
/// the subtree itself is gone.
#[tokio::test]
async fn c3_no_cgroup_is_left_behind() {
    let p = Project::new();
    let marker = format!("c3-{}", std::process::id());
    let c = stdio_with(&p.root, &[], &[("CODEBOX_TEST_MARKER", &marker)], |_| {}).await;
    let pid = pid_with_env(&marker).expect("the codebox process");
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let mem = own.lines().find_map(|l| l.split_once(":memory:").map(|(_, p)| p.to_string())).expect(&own);
    let base =
        std::path::Path::new("/sys/fs/cgroup/memory").join(mem.trim_start_matches('/')).join(format!("codebox-{pid}"));
    let groups = || std::fs::read_dir(&base).unwrap().flatten().filter(|e| e.path().is_dir()).count();
    let out = sh(&c, "cat /proc/self/cgroup | grep memory").await;
    assert!(out.contains(&format!("codebox-{pid}/run-")), "the command runs in its own group: {out}");
    for i in 0..100 {
        ok(&c, "run_command", json!({"command": format!("echo {i}")})).await;
    }
    assert!(base.is_dir(), "codebox's subtree exists while it serves");
    assert_eq!(groups(), 0, "every run's group was removed");
    // SAFETY: pidfd_open on a pid; the fd is wrapped at once.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    assert!(fd >= 0);
    // SAFETY: a fresh fd we own.
    let pidfd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) };
    c.cancel().await.unwrap();
    // The server removes its subtree before it exits: wait for the exit itself (its pidfd), then look.
    loop {
        let mut p = libc::pollfd { fd: std::os::fd::AsRawFd::as_raw_fd(&pidfd), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        match unsafe { libc::poll(&mut p, 1, 20_000) } {
            1 => break,
            -1 if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) => continue,
            r => panic!("codebox did not exit after its stdin closed ({r})"),
        }
    }
    assert!(!base.exists(), "{} is left behind", base.display());
}

/// C4: a unix socket a host process bound outside the policy (under /var/tmp) does not exist inside, so it
/// cannot be reached (landlock before ABI 9 would not have stopped the connect).
#[tokio::test]
async fn c4_a_host_socket_outside_the_view_does_not_exist() {
    let p = Project::new();
    let path = format!("/var/tmp/codebox-c4-{}.sock", std::process::id());
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    listener.set_nonblocking(true).unwrap();
    let c = stdio(&p.root, &[]).await;
    let out = sh(
        &c,
        &format!("ls -la {path}; python3 -c \"import socket; s=socket.socket(socket.AF_UNIX); s.connect('{path}')\""),
    )
    .await;
    assert!(out.contains("No such file or directory"), "{out}");
    assert!(out.contains("FileNotFoundError"), "{out}");
    assert_eq!(listener.accept().unwrap_err().kind(), std::io::ErrorKind::WouldBlock, "nothing connected");
    let _ = std::fs::remove_file(&path);
}

/// C5: files only root may read (/etc/shadow, and every other one under /etc) are unreadable inside, even though
/// the command runs as uid 0 when codebox does.
#[tokio::test]
async fn c5_root_only_files_are_unreadable() {
    use std::os::unix::fs::PermissionsExt;
    let mut secret = vec!["/etc/shadow".to_string()];
    for e in std::fs::read_dir("/etc").unwrap().flatten() {
        let md = e.path().symlink_metadata().unwrap();
        if md.is_file() && md.permissions().mode() & 0o004 == 0 {
            secret.push(e.path().display().to_string());
        }
    }
    secret.sort();
    secret.dedup();
    let p = Project::new();
    let c = stdio(&p.root, &[]).await;
    let out = sh(
        &c,
        &format!(
            "id -u; for f in {}; do head -c 64 \"$f\" >/dev/null 2>&1 && echo \"READ $f\"; done; echo checked",
            secret.join(" ")
        ),
    )
    .await;
    assert!(out.contains("checked"), "{out}");
    assert!(!out.contains("READ "), "root-only files were readable inside: {out}");
    // Ordinary files of /etc are still there.
    let out = sh(&c, "head -1 /etc/passwd").await;
    assert!(out.starts_with("root:"), "{out}");
}

/// C6: /proc/self/mountinfo inside lists the view's mounts — a tmpfs root, the allowlisted directories — and none
/// of the host's (its cgroup hierarchies, /dev/pts, the rest of its tree).
#[tokio::test]
async fn c6_mountinfo_lists_the_view_not_the_host() {
    let p = Project::new();
    let c = stdio(&p.root, &[]).await;
    let out = sh(&c, "cat /proc/self/mountinfo").await;
    let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(host.contains("/sys/fs/cgroup"), "the host has cgroup mounts to hide: {host}");
    let points: Vec<&str> = out.lines().filter_map(|l| l.split(' ').nth(4)).collect();
    assert!(!points.is_empty(), "{out}");
    let root = out.lines().find(|l| l.split(' ').nth(4) == Some("/")).expect(&out);
    assert!(root.contains(" - tmpfs "), "the root is the view's own tmpfs: {root}");
    for pt in &points {
        assert!(
            !pt.starts_with("/sys/fs") && !pt.starts_with("/dev/pts") && !pt.starts_with("/old_root"),
            "{pt}: {out}"
        );
    }
    assert!(points.contains(&"/usr") && points.contains(&"/tmp") && points.contains(&"/proc"), "{points:?}");
}
