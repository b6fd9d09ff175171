//! Issue 6, the red-team suite: every command attack S1–S22 of ATTACKS.md through the real run_command tool,
//! each asserted stopped by the layer the table names, with canaries outside the workspace unchanged and unread.
//! Then the positive side: real toolchains work inside the sandbox.
//!
//! These tests need user namespaces, landlock (ABI 6+ for scoping) and seccomp. On a machine without them the
//! strict sandbox refuses every command and the tests fail with that refusal, never pass silently.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{UnixDatagram, UnixListener};

use serde_json::json;

use crate::harness::*;

/// Runs a command; returns its text. The sandbox must have started it (a refusal fails the test).
async fn sh(c: &Client, command: &str) -> String {
    let out = call(c, "run_command", json!({ "command": command })).await;
    assert!(!out.is_error, "run_command was refused: {}", out.text);
    out.text
}

/// The status line's exit code.
fn exit_code(text: &str) -> i32 {
    let s = text.rsplit("[exit ").next().unwrap();
    s.split(|c: char| !c.is_ascii_digit() && c != '-')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("no exit code in {text}"))
}

/// Asserts the layer named was enforced for this run.
fn enforced(text: &str, layer: &str) {
    let status = text.rsplit("sandbox: ").next().unwrap();
    let on = status.split("; SKIPPED").next().unwrap();
    assert!(on.split([',', ' ', ']']).any(|w| w == layer), "layer {layer} not enforced: {text}");
}

fn py(code: &str) -> String {
    format!("python3 - <<'PY'\n{code}\nPY")
}

#[tokio::test]
async fn s1_arguments_never_reach_a_shell() {
    let p = Project::new();
    let canary = p.outside.join("s1");
    let c = stdio(&p.root, &[]).await;
    let msg = err(&c, "run_command", json!({"command": "true", "cwd": format!("x; touch {}", canary.display())})).await;
    assert!(msg.contains("does not exist"), "{msg}");
    let out = call(
        &c,
        "run_command",
        json!({"command": "printf '%s' \"$V\"", "env": {"V": format!("$(touch {})", canary.display())}}),
    )
    .await;
    assert!(out.text.starts_with("$(touch "), "env values are data: {}", out.text);
    assert!(
        err(&c, "run_command", json!({"command": "true", "env": {"A;B": "x"}}))
            .await
            .contains("not a valid variable name")
    );
    assert!(!canary.exists());
}

#[tokio::test]
async fn s2_writes_outside_the_workspace_fail() {
    let p = Project::new();
    let c = stdio(&p.root, &[]).await;
    let out =
        sh(&c, &format!("echo pwned > {} ; echo x > /etc/codebox-s2; echo y > /usr/codebox-s2", p.canary().display()))
            .await;
    // The canary's directory is under the host's /tmp, which the command sees as a private tmpfs.
    assert!(out.contains("No such file or directory"), "{out}");
    enforced(&out, "filesystem");
    // /etc and /usr are bound read-only into the view (and read-only to landlock too).
    assert_eq!(out.matches("Read-only file system").count(), 2, "{out}");
    enforced(&out, "landlock");
    let home = std::env::var("HOME").unwrap();
    let out = sh(&c, "echo pwned >> ~/.bashrc && echo wrote-private-home").await;
    assert!(out.contains("wrote-private-home"), "home is a private tmpfs inside: {out}");
    assert!(!std::fs::read_to_string(format!("{home}/.bashrc")).unwrap_or_default().contains("pwned"));
    p.assert_canary_intact();
    assert!(!std::path::Path::new("/etc/codebox-s2").exists() && !std::path::Path::new("/usr/codebox-s2").exists());
}

/// S3: TCP egress fails: the command's network namespace (the session's) has only loopback, so no route leads
/// out. Landlock's TCP rule is not needed there (it would also close loopback, where a session's own test
/// servers live); it applies only when no private network namespace could be made.
#[tokio::test]
async fn s3_tcp_egress_is_denied() {
    let p = Project::new();
    let c = stdio(&p.root, &[]).await;
    let out = sh(&c, "echo x > /dev/tcp/1.1.1.1/80; echo rc=$?").await;
    assert!(out.contains("Network is unreachable") && out.contains("rc=1"), "{out}");
    enforced(&out, "namespaces");
    let out = sh(&c, &py("import socket\ntry:\n    socket.create_connection(('1.1.1.1', 443), timeout=5)\n    print('CONNECTED')\nexcept OSError as e:\n    print('blocked', e.errno)")).await;
    assert!(out.contains("blocked 101"), "ENETUNREACH: only loopback exists: {out}");
    // Issue 14: a session is told its layers once; a run with the same layers does not repeat them.
    assert!(!out.contains("sandbox: "), "the same layers are said once per session: {out}");
    // Loopback TCP works inside the private network: a test server and its client in one command.
    let out = sh(&c, &py("import socket\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\ns.listen()\nc = socket.create_connection(s.getsockname())\na, _ = s.accept()\nc.sendall(b'ping')\nprint('got', a.recv(4).decode())")).await;
    assert!(out.contains("got ping"), "{out}");
}

#[tokio::test]
async fn s4_udp_dns_and_icmp_egress_are_denied() {
    let p = Project::new();
    let c = stdio(&p.root, &[]).await;
    let out = sh(&c, &py("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ntry:\n    s.sendto(b'x', ('1.1.1.1', 53))\n    print('SENT')\nexcept OSError as e:\n    print('udp blocked', e.errno)\ntry:\n    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)\n    print('RAW')\nexcept OSError as e:\n    print('raw blocked', e.errno)")).await;
    assert!(out.contains("udp blocked 101"), "ENETUNREACH: the namespace has no route: {out}");
    assert!(out.contains("raw blocked 1"), "EPERM from seccomp: {out}");
    enforced(&out, "seccomp");
    let out = sh(&c, "getent hosts example.com; echo rc=$?").await;
    assert!(out.contains("rc=2"), "no DNS: {out}");
}

#[tokio::test]
async fn s5_host_loopback_services_are_unreachable() {
    let p = Project::new();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_nonblocking(true).unwrap();
    let port = udp.local_addr().unwrap().port();
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    tcp.set_nonblocking(true).unwrap();
    let tport = tcp.local_addr().unwrap().port();
    let c = stdio(&p.root, &[]).await;
    let out = sh(&c, &py(&format!("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.sendto(b'hello', ('127.0.0.1', {port}))\nprint('sent into the sandbox loopback')\ntry:\n    socket.create_connection(('127.0.0.1', {tport}), timeout=5)\n    print('CONNECTED')\nexcept OSError as e:\n    print('tcp blocked', e.errno)"))).await;
    assert!(out.contains("sent into the sandbox loopback") && out.contains("tcp blocked"), "{out}");
    let mut buf = [0u8; 16];
    assert!(udp.recv_from(&mut buf).is_err(), "the host's loopback service received a datagram");
    assert!(tcp.accept().is_err(), "the host's loopback service accepted a connection");
    enforced(&out, "namespaces");
}

#[tokio::test]
async fn s6_s7_host_unix_sockets_are_unreachable() {
    let p = Project::new();
    let nonce = std::process::id();
    let path = format!("/tmp/codebox-s6-{nonce}.sock");
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    listener.set_nonblocking(true).unwrap();
    let abstract_name = format!("codebox-s7-{nonce}");
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(abstract_name.as_bytes()).unwrap();
    let abs = UnixDatagram::bind_addr(&addr).unwrap();
    abs.set_nonblocking(true).unwrap();
    let c = stdio(&p.root, &[]).await;
    let out = sh(&c, &py(&format!("import socket\nfor name in ['{path}', '\\0{abstract_name}']:\n    for kind in [socket.SOCK_STREAM, socket.SOCK_DGRAM]:\n        s = socket.socket(socket.AF_UNIX, kind)\n        try:\n            s.connect(name)\n            s.send(b'x')\n            print('REACHED', repr(name))\n        except OSError as e:\n            print('blocked', e.errno)"))).await;
    assert!(!out.contains("REACHED"), "{out}");
    assert!(listener.accept().is_err());
    let mut buf = [0u8; 4];
    assert!(abs.recv(&mut buf).is_err());
    enforced(&out, "filesystem");
    enforced(&out, "landlock-scope");
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn s8_tiocsti_is_denied() {
    let p = Project::new();
    let c = stdio(&p.root, &[]).await;
    let out = sh(&c, &py("import fcntl, termios, sys\nfor fd in (0, 1, 2):\n    try:\n        fcntl.ioctl(fd, termios.TIOCSTI, b'x')\n        print('INJECTED')\n    except OSError as e:\n        print('denied', fd, e.errno)\ntry:\n    open('/dev/tty')\n    print('HAS TTY')\nexcept OSError as e:\n    print('no tty', e.errno)")).await;
    for fd in 0..3 {
        assert!(out.contains(&format!("denied {fd} 1\n")), "EPERM from seccomp on fd {fd}: {out}");
    }
    assert!(out.contains("no tty 6"), "setsid: no controlling terminal: {out}");
    enforced(&out, "session");
}

#[tokio::test]
async fn s9_ptrace_and_signals_to_codebox_fail() {
    let p = Project::new();
    let marker = format!("CODEBOX_TEST_MARKER=s9-{}", std::process::id());
    let c = stdio_with(&p.root, &[], &[("CODEBOX_TEST_MARKER", marker.split('=').nth(1).unwrap())], |_| {}).await;
    let pid = pid_with_env(&marker).expect("server pid");
    let out = sh(&c, &format!("kill -9 {pid}; echo kill=$?; kill -9 1; echo init=$?; {}", py("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nprint('ptrace', libc.ptrace(0, 0, 0, 0), ctypes.get_errno())\nprint('vm_readv', libc.syscall(310, 1, 0, 0, 0, 0, 0), ctypes.get_errno())"))).await;
    assert!(out.contains("No such process") && out.contains("kill=1"), "the pid namespace hides codebox: {out}");
    assert!(out.contains("ptrace -1 1") && out.contains("vm_readv -1 1"), "EPERM from seccomp: {out}");
    // The server is alive and answers.
    assert!(sh(&c, "echo still-here").await.contains("still-here"));
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
}

#[tokio::test]
async fn s10_setuid_binaries_gain_nothing() {
    let p = Project::new();
    let c = stdio(&p.root, &[]).await;
    let out = sh(&c, "cp /bin/bash ./suid && chmod u+s ./suid && ./suid -p -c 'grep -E \"^(CapEff|CapPrm|CapBnd|NoNewPrivs)\" /proc/self/status'; rm -f suid").await;
    assert!(out.contains("CapEff:\t0000000000000000") && out.contains("CapBnd:\t0000000000000000"), "{out}");
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
    enforced(&out, "capabilities");
    enforced(&out, "no_new_privs");
}

#[tokio::test]
async fn s11_inherited_descriptors_are_closed() {
    let p = Project::new();
    let leaked = std::fs::OpenOptions::new().append(true).open(p.canary()).unwrap();
    let c = stdio_with(&p.root, &[], &[], |cmd| {
        use std::os::fd::AsRawFd;
        let fd = leaked.as_raw_fd();
        // SAFETY: dup2 in the forked child, before exec: the server inherits the canary as fd 7 without CLOEXEC.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(fd, 7) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    })
    .await;
    let out = sh(&c, "ls /proc/self/fd | tr '\\n' ' '; echo; echo pwned >&7; echo rc=$?").await;
    assert!(out.contains("Bad file descriptor") && out.contains("rc=1"), "{out}");
    assert!(out.starts_with("0 1 2 3 "), "only stdio (and ls's own directory fd): {out}");
    p.assert_canary_intact();
}

#[tokio::test]
async fn s12_host_processes_are_invisible() {
    let p = Project::new();
    let marker = format!("s12-{}", std::process::id());
    let c = stdio_with(&p.root, &[], &[("CODEBOX_TEST_MARKER", &marker)], |_| {}).await;
    let pid = pid_with_env(&marker).unwrap();
    let out = sh(
        &c,
        &format!(
            "tr '\\0' ' ' < /proc/1/cmdline; echo; cat /proc/{pid}/environ; echo rc=$?; ls /proc | grep -c '^[0-9]'"
        ),
    )
    .await;
    assert!(
        out.starts_with("/") && out.contains("codebox"),
        "PID 1 is codebox's init (the reaper), no host process: {out}"
    );
    assert!(out.contains("No such file") && !out.contains(&marker), "{out}");
    enforced(&out, "proc");
}

#[tokio::test]
async fn s13_secrets_in_the_environment_are_dropped() {
    let p = Project::new();
    let secrets = [
        ("CODEBOX_TOKEN", "tok-s13"),
        ("AWS_SECRET_ACCESS_KEY", "aws-s13"),
        ("GITHUB_TOKEN", "gh-s13"),
        ("OPENAI_API_KEY", "oa-s13"),
    ];
    let c = stdio_with(&p.root, &[], &secrets, |_| {}).await;
    let out = sh(&c, "env").await;
    for (k, v) in secrets {
        assert!(!out.contains(k) && !out.contains(v), "{k} leaked: {out}");
    }
    assert!(out.contains("PATH=") && out.contains("TERM=dumb"), "{out}");
}

#[tokio::test]
async fn s14_user_secrets_are_unreadable() {
    let p = Project::new();
    let home = p.outside.join("home");
    for (f, body) in
        [(".ssh/id_ed25519", "ssh-s14"), (".aws/credentials", "aws-s14"), (".cargo/credentials.toml", "cargo-s14")]
    {
        std::fs::create_dir_all(home.join(f).parent().unwrap()).unwrap();
        std::fs::write(home.join(f), body).unwrap();
    }
    std::fs::create_dir_all(home.join(".cargo/bin")).unwrap();
    let var_canary = format!("/var/tmp/codebox-s14-{}", std::process::id());
    std::fs::write(&var_canary, "var-s14").unwrap();
    let c = stdio_with(&p.root, &[], &[("HOME", home.to_str().unwrap())], |_| {}).await;
    let out = sh(
        &c,
        &format!("cat ~/.ssh/id_ed25519 ~/.aws/credentials ~/.cargo/credentials.toml {var_canary}; ls -a ~ ~/.cargo"),
    )
    .await;
    for s in ["ssh-s14", "aws-s14", "cargo-s14", "var-s14"] {
        assert!(!out.contains(s), "{s} was read: {out}");
    }
    assert_eq!(out.matches("No such file or directory").count(), 4, "home and /var/tmp are private: {out}");
    assert!(out.contains("bin"), "toolchain parts of CARGO_HOME come back: {out}");
    enforced(&out, "landlock");
    let _ = std::fs::remove_file(&var_canary);
}

#[tokio::test]
async fn s15_nothing_outlives_the_call() {
    let p = Project::new();
    let c = stdio(&p.root, &[]).await;
    let out = sh(
        &c,
        "(sleep 987601 &) ; setsid nohup sleep 987602 >/dev/null 2>&1 & disown; nohup sleep 987603 & echo started",
    )
    .await;
    assert!(out.contains("started"), "{out}");
    let left = host_processes_with("sleep 98760");
    assert!(left.is_empty(), "processes outlived the call: {left:?}");
}

#[tokio::test]
async fn s16_a_fork_bomb_is_contained() {
    let p = Project::new();
    let c = stdio(&p.root, &[]).await;
    let out = call(
        &c,
        "run_command",
        json!({"command": "bomb_s16() { bomb_s16 | bomb_s16 & }; bomb_s16; wait", "timeout_secs": 5}),
    )
    .await;
    assert!(!out.is_error, "{}", out.text);
    assert!(out.text.contains("[exit") || out.text.contains("TIMED OUT"), "{}", out.text);
    assert!(sh(&c, "echo alive").await.contains("alive"));
    assert!(host_processes_with("bomb_s16").is_empty());
    enforced(&out.text, "rlimits");
}

#[tokio::test]
async fn s17_disk_and_memory_exhaustion_hit_limits() {
    let p = Project::new();
    p.write("codebox.toml", "[sandbox]\nfile_size_bytes = 10485760\nmemory_bytes = 1073741824\n");
    let c = stdio(&p.root, &[]).await;
    let out = sh(&c, &format!("dd if=/dev/zero of=big bs=1M count=100 2>/dev/null; echo dd=$?\n{}", py("try:\n    b = bytearray(50 * 1024**3)\n    print('ALLOCATED')\nexcept MemoryError:\n    print('MemoryError')"))).await;
    assert!(out.contains("dd=153"), "SIGXFSZ (128+25) at the file size limit: {out}");
    assert!(out.contains("MemoryError"), "{out}");
    assert!(std::fs::metadata(p.root.join("big")).unwrap().len() <= 10 << 20);
}

#[tokio::test]
async fn s18_output_floods_stay_within_budget() {
    let p = Project::new();
    let c = stdio(&p.root, &[]).await;
    let out = sh(&c, "yes | head -c 100000000; head -c 50000000 /dev/zero | tr '\\0' x").await;
    assert!(out.chars().count() <= 20_500, "{} chars", out.chars().count());
    assert!(out.contains("read_output(id="), "the cut names where the rest is: {}", &out[..300]);
    assert!(out.contains("[exit 0"), "{}", &out[out.len() - 300..]);
}

#[tokio::test]
async fn s19_io_uring_and_32bit_entry_are_refused() {
    let p = Project::new();
    p.write(
        "int80.c",
        "int main(void){ int r; __asm__ volatile (\"int $0x80\" : \"=a\"(r) : \"a\"(20)); return 0; }\n",
    );
    let c = stdio(&p.root, &[]).await;
    let out = sh(&c, &format!("{}\ncc -o int80 int80.c && ./int80; echo rc=$?", py("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nprint('io_uring_setup', libc.syscall(425, 1, 0), ctypes.get_errno())"))).await;
    assert!(out.contains("io_uring_setup -1 1"), "EPERM: {out}");
    assert!(out.contains("rc=159"), "32-bit entry kills the process with SIGSYS (128+31): {out}");
    enforced(&out, "seccomp");
}

#[tokio::test]
async fn s20_other_socket_families_are_refused() {
    let p = Project::new();
    let c = stdio(&p.root, &[]).await;
    let out = sh(&c, &py("import socket\nfor fam, kind in [(40, socket.SOCK_STREAM), (16, socket.SOCK_RAW), (17, socket.SOCK_RAW), (socket.AF_INET, 10)]:\n    try:\n        socket.socket(fam, kind)\n        print('OPENED', fam)\n    except OSError as e:\n        print('refused', fam, e.errno)")).await;
    assert!(!out.contains("OPENED"), "{out}");
    for fam in [40, 16, 17, 2] {
        assert!(out.contains(&format!("refused {fam} 1")), "family {fam}: EPERM from seccomp: {out}");
    }
}

#[tokio::test]
async fn s21_the_sandbox_cannot_be_undone_from_inside() {
    let p = Project::new();
    let c = stdio(&p.root, &[]).await;
    let out = sh(&c, "unshare -r true; echo unshare=$?; mount -o remount,rw /usr; echo remount=$?; chroot / true; echo chroot=$?; mount -t tmpfs none /mnt; echo mount=$?").await;
    for step in ["unshare=1", "remount=32", "chroot=125", "mount=32"] {
        assert!(out.contains(step), "{step}: {out}");
    }
    enforced(&out, "seccomp");
}

#[tokio::test]
async fn s22_no_leftovers_in_the_workspace() {
    let p = Project::new();
    p.write("src/a.txt", "a");
    std::fs::create_dir_all(p.root.join(".git/hooks")).unwrap();
    std::fs::write(p.root.join(".git/config"), "[core]\n").unwrap();
    let before = listing(&p.root);
    let c = stdio(&p.root, &[]).await;
    sh(&c, "true").await;
    sh(&c, "cat .git/config >/dev/null; ls").await;
    assert_eq!(listing(&p.root), before);
}

fn listing(root: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> =
        walk(root).into_iter().map(|p| p.strip_prefix(root).unwrap().display().to_string()).collect();
    v.sort();
    v
}

fn walk(d: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap().flatten() {
        out.push(e.path());
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&e.path()));
        }
    }
    out
}

#[tokio::test]
async fn f11_f12_git_internals_are_read_only_and_pinned() {
    let p = Project::new();
    std::fs::create_dir_all(p.root.join(".git/hooks")).unwrap();
    std::fs::write(p.root.join(".git/config"), "[core]\n").unwrap();
    let c = stdio(&p.root, &[]).await;
    let out = sh(&c, "echo 'touch /tmp/pwn' > .git/hooks/pre-commit; echo hook=$?; echo x >> .git/config; echo config=$?; mv .git .g; echo mv=$?; rm -rf .git; echo rm=$?").await;
    for step in ["hook=1", "config=1", "mv=1"] {
        assert!(out.contains(step), "{step}: {out}");
    }
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(!p.root.join(".git/hooks/pre-commit").exists());
    assert_eq!(std::fs::read_to_string(p.root.join(".git/config")).unwrap(), "[core]\n");
    assert!(p.root.join(".git").is_dir() && !p.root.join(".g").exists());
}

#[tokio::test]
async fn strict_mode_refuses_when_a_layer_cannot_be_applied_and_best_effort_says_what_it_skipped() {
    let p = Project::new();
    // Start the server under a seccomp filter that makes unshare fail, as a locked-down container would.
    let deny_unshare = |cmd: &mut tokio::process::Command| {
        // SAFETY: the closure runs in the forked child before exec; it only builds and installs a filter.
        unsafe {
            cmd.pre_exec(|| {
                let mut rules = std::collections::BTreeMap::new();
                rules.insert(libc::SYS_unshare, vec![]);
                let f = seccompiler::SeccompFilter::new(
                    rules,
                    seccompiler::SeccompAction::Allow,
                    seccompiler::SeccompAction::Errno(libc::EPERM as u32),
                    seccompiler::TargetArch::x86_64,
                )
                .map_err(std::io::Error::other)?;
                let prog: seccompiler::BpfProgram = f.try_into().map_err(std::io::Error::other)?;
                seccompiler::apply_filter(&prog).map_err(std::io::Error::other)?;
                Ok(())
            });
        }
    };
    let strict = stdio_with(&p.root, &[], &[], deny_unshare).await;
    let (kind, msg) =
        refusal(&strict, "run_command", json!({"command": "echo should-not-run"}), "sandbox_refused").await;
    assert_eq!(kind["layer"], "namespaces", "{kind}");
    assert!(msg.contains("not run") && msg.contains("namespaces") && msg.contains("codebox doctor"), "{msg}");
    assert!(!msg.contains("should-not-run"));
    let best = stdio_with(&p.root, &["--sandbox", "best-effort"], &[], deny_unshare).await;
    let out = sh(&best, "echo ran").await;
    assert!(out.contains("ran") && out.contains("SKIPPED: namespaces"), "{out}");
    enforced(&out, "landlock");
    enforced(&out, "seccomp");
}

#[tokio::test]
async fn sandbox_off_is_explicit_and_announced() {
    let p = Project::new();
    let c = stdio(&p.root, &["--sandbox", "off"]).await;
    let tools = c.peer().list_all_tools().await.unwrap();
    let run = tools.iter().find(|t| t.name == "run_command").unwrap();
    assert!(run.description.as_deref().unwrap().contains("sandbox is OFF"));
    let out = sh(&c, "echo hi").await;
    assert!(out.contains("hi") && out.contains("WARNING: sandbox OFF"), "{out}");
    p.write("codebox.toml", "[sandbox]\nmode = \"off\"\n");
    let st = std::process::Command::new(BIN).args(["serve", "--root"]).arg(&p.root).output().unwrap();
    assert_eq!(st.status.code(), Some(2), "off only from the command line");
}

#[tokio::test]
async fn timeouts_and_cancellation_kill_the_whole_tree() {
    let p = Project::new();
    let c = stdio(&p.root, &[]).await;
    let out = call(&c, "run_command", json!({"command": "sleep 987611 & sleep 987612", "timeout_secs": 1})).await;
    assert!(out.text.contains("TIMED OUT after 1 s"), "{}", out.text);
    assert!(host_processes_with("sleep 98761").is_empty());
    assert!(
        refused(&c, "run_command", json!({"command": "true", "timeout_secs": 0}), "invalid_argument")
            .await
            .contains("timeout_secs")
    );
}

// ---- positive: real work inside the sandbox ----

#[tokio::test]
async fn toolchains_work_inside_the_sandbox() {
    toolchains("").await;
}

/// Issue 20: the same toolchains with the network proxy on (its variables set, its forwarder in the session).
#[tokio::test]
async fn toolchains_work_inside_the_sandbox_with_the_proxy_on() {
    toolchains("[sandbox]\nnetwork = \"proxy\"\n[sandbox.proxy]\nallow = [\"registry.example.org\"]\n").await;
}

/// cargo, pytest, go, node, git and make, each doing real work in the sandbox.
async fn toolchains(config: &str) {
    let p = Project::new();
    p.write("codebox.toml", config);
    p.write("crate/Cargo.toml", "[package]\nname = \"tiny\"\nversion = \"0.1.0\"\nedition = \"2021\"\n");
    p.write("crate/src/main.rs", "fn main() { println!(\"tiny-ok\"); }\n");
    p.write("py/test_x.py", "def test_one():\n    assert 1 + 1 == 2\n");
    p.write("go/hello.go", "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"go-ok\") }\n");
    p.write("node/hello.js", "console.log(['node', 'ok'].join('-'));\n");
    p.write("Makefile", "all:\n\techo make-ok\n");
    let c = stdio(&p.root, &[]).await;
    let out =
        call(&c, "run_command", json!({"command": "cd crate && cargo run --offline -q", "timeout_secs": 300})).await;
    assert!(out.text.contains("tiny-ok") && exit_code(&out.text) == 0, "{}", out.text);
    let out = sh(&c, "cd py && python3 -m pytest -q 2>&1 | tail -2").await;
    assert!(out.contains("1 passed"), "pytest (scripts/test installs it): {out}");
    let out =
        call(&c, "run_command", json!({"command": "cd go && GOFLAGS=-mod=mod go run hello.go", "timeout_secs": 300}))
            .await;
    assert!(out.text.contains("go-ok") && exit_code(&out.text) == 0, "{}", out.text);
    let out = sh(&c, "node node/hello.js").await;
    assert!(out.contains("node-ok") && exit_code(&out) == 0, "{out}");
    let out = sh(&c, "git init -q . && git status --short | head -3 && make").await;
    assert!(out.contains("make-ok") && exit_code(&out) == 0, "{out}");
    let out = sh(&c, "seq 1 100 | grep 7 | wc -l; (sleep 0.2; echo bg-done) & wait").await;
    assert!(out.starts_with("19\n") && out.contains("bg-done"), "{out}");
}

#[tokio::test]
async fn stderr_lines_are_recoverable_and_progress_is_reported() {
    let p = Project::new();
    let c = stdio(&p.root, &[]).await;
    // Two pipes keep the streams apart; lines are ordered by arrival, and the result says which came from stderr.
    let out = sh(&c, "echo out1; echo err1 >&2; echo out2").await;
    let n: usize = out.split("stderr lines ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert_eq!(out.lines().nth(n - 1), Some("err1"), "{out}");

    // A command that waits for the test: it prints a line, then blocks until the test has seen that line in a
    // progress notification and creates `go`. No timing is assumed anywhere.
    let (client, mut rx) = stdio_with_progress(&p.root).await;
    let command = "echo waiting-for-go; while [ ! -e go ]; do sleep 0.05; done; echo got-go";
    let call =
        call_until_progress(&client, &mut rx, "run_command", json!({"command": command}), "last line: waiting-for-go")
            .await;
    std::fs::write(p.root.join("go"), "").unwrap();
    let r = call.await.unwrap().unwrap();
    let text = r.content[0].as_text().unwrap().text.clone();
    assert!(text.contains("got-go"), "{text}");
}
