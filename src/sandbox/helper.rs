//! The code that runs inside the sandbox helper (`codebox __sandbox`) and the namespace's init, up to exec.
//! A fresh single-threaded process, so ordinary Rust is safe here. Every layer is recorded; in strict mode a
//! layer that cannot be applied stops the run with the reason, before the command starts.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::unistd::{ForkResult, fork};

use super::{Layer, Role, SPEC_VAR, Spec, Status, send_status};

/// Device nodes a command gets in its private /dev, bound from the host's.
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

struct Setup {
    strict: bool,
    layers: Vec<Layer>,
}

impl Setup {
    /// Records a layer. In strict mode a failed layer ends the run here, with the reason on the status pipe.
    fn layer(&mut self, name: &str, result: Result<String, String>) -> bool {
        match result {
            Ok(detail) => {
                self.layers.push(Layer { name: name.into(), enforced: true, detail });
                true
            }
            Err(why) => {
                self.layers.push(Layer { name: name.into(), enforced: false, detail: why.clone() });
                if self.strict {
                    refuse(&format!("{name}: {why}"), &self.layers);
                }
                false
            }
        }
    }
}

fn refuse(reason: &str, layers: &[Layer]) -> ! {
    send_status(&Status::Refused {
        reason: format!(
            "{reason}. Run `codebox doctor` to see what this machine offers; sandbox.mode = \"best-effort\" in codebox.toml runs with what is available"
        ),
        layers: layers.to_vec(),
    });
    std::process::exit(125)
}

/// Entry point of `codebox __sandbox`. Never returns: execs the command or exits.
pub fn helper_main() -> ! {
    let spec: Spec = match std::env::var(SPEC_VAR).ok().and_then(|s| serde_json::from_str(&s).ok()) {
        Some(s) => s,
        None => refuse("the sandbox helper got no valid spec", &[]),
    };
    // If codebox dies, the helper dies, and with it init and the whole namespace.
    let parent = nix::unistd::getppid();
    // SAFETY: prctl with constant arguments.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    if nix::unistd::getppid() != parent {
        std::process::exit(125);
    }
    if spec.role == Role::NetKeeper {
        net_keeper(&spec);
    }
    let mut s = Setup { strict: spec.strict, layers: Vec::new() };
    let uid = nix::unistd::getuid();
    let gid = nix::unistd::getgid();
    let mut flags = CloneFlags::CLONE_NEWUSER
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWUTS;
    if spec.join_session_net {
        // The session's namespaces first: its user namespace (whose owner codebox's user is, so joining needs no
        // privilege) and, from inside it, its network. The command's own user namespace then nests in it, so its
        // process limit still counts only its own processes.
        if !s.layer("session-network", join_session_net()) {
            flags |= CloneFlags::CLONE_NEWNET;
        }
    } else if !spec.network {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    let private_net = !spec.network;
    let ns =
        unshare(flags).map_err(|e| format!("unshare failed: {}", e.desc())).and_then(|_| map_ids(uid, gid)).map(|_| {
            format!(
                "user, mount, pid, ipc, uts{}",
                match (spec.network, spec.join_session_net) {
                    (true, _) => "; network: host (sandbox.network = true)",
                    (false, true) => "; net: the session's (loopback only)",
                    (false, false) => ", net (loopback only)",
                }
            )
        });
    let have_ns = s.layer("namespaces", ns);
    let mut fs_built = false;
    if have_ns {
        let fs = build_filesystem(&spec);
        fs_built = s.layer("filesystem", fs);
        let _ = nix::unistd::sethostname("codebox");
        if private_net && !spec.join_session_net {
            let lo = loopback_up();
            s.layer("loopback", lo);
        }
    }
    // SAFETY: the helper is single-threaded (a fresh process that started no threads), so the child may run
    // ordinary code.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => init(&spec, s, have_ns && private_net, fs_built),
        Ok(ForkResult::Parent { child }) => {
            send_status(&Status::Forked { init_pid: child.as_raw() });
            // The helper only waits and reports how the namespace's init ended.
            let (code, signal) = wait_exit(child);
            send_status(&Status::Exited { code, signal });
            std::process::exit(code.unwrap_or(128 + signal.unwrap_or(0)))
        }
        Err(e) => refuse(&format!("fork failed: {e}"), &s.layers),
    }
}

/// Writes the uid and gid maps of a fresh user namespace: codebox's own ids, mapped to themselves.
fn map_ids(uid: nix::unistd::Uid, gid: nix::unistd::Gid) -> Result<(), String> {
    std::fs::write("/proc/self/setgroups", "deny").map_err(|e| format!("setgroups: {e}"))?;
    std::fs::write("/proc/self/uid_map", format!("{uid} {uid} 1")).map_err(|e| format!("uid_map: {e}"))?;
    std::fs::write("/proc/self/gid_map", format!("{gid} {gid} 1")).map_err(|e| format!("gid_map: {e}"))?;
    Ok(())
}

fn join_session_net() -> Result<String, String> {
    use std::os::fd::FromRawFd;
    // SAFETY: codebox placed the namespace fds at these numbers before exec; nothing else owns them.
    let (user, net) = unsafe { (OwnedFd::from_raw_fd(super::USER_NS_FD), OwnedFd::from_raw_fd(super::NET_NS_FD)) };
    nix::sched::setns(&user, CloneFlags::CLONE_NEWUSER)
        .map_err(|e| format!("cannot join the session's user namespace: {}", e.desc()))?;
    nix::sched::setns(&net, CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("cannot join the session's network namespace: {}", e.desc()))?;
    Ok("shared with this session's commands and jobs: loopback only".into())
}

/// `Role::NetKeeper`: a user namespace holding a network namespace with loopback up, kept until codebox has
/// opened both (it closes our stdin).
fn net_keeper(spec: &Spec) -> ! {
    // Always strict: a session network that is not private is no session network (codebox then gives each run
    // its own, or refuses it, as the run's own mode says).
    let mut s = Setup { strict: true, layers: Vec::new() };
    let uid = nix::unistd::getuid();
    let gid = nix::unistd::getgid();
    let ns = unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("unshare failed: {}", e.desc()))
        .and_then(|_| map_ids(uid, gid))
        .map(|_| "user, net".to_string());
    s.layer("namespaces", ns);
    s.layer("loopback", loopback_up());
    if let Some(socket) = &spec.proxy_socket {
        forward_to_proxy(socket, s);
    }
    send_status(&Status::Started { layers: s.layers });
    let mut byte = [0u8; 1];
    while let Ok(n) = nix::unistd::read(std::io::stdin(), &mut byte) {
        if n == 0 {
            break;
        }
    }
    std::process::exit(0)
}

/// The session's way to the proxy: listens on 127.0.0.1 inside the session's network and carries each
/// connection to the proxy's unix socket, until codebox kills it. Listening before reporting, so the first
/// request of the first command finds it.
fn forward_to_proxy(socket: &Path, mut s: Setup) -> ! {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0));
    let listener = match listener.and_then(|l| Ok((l.local_addr()?.port(), l))) {
        Ok((port, l)) => {
            send_status(&Status::Forwarding { port });
            s.layer("proxy-forwarder", Ok(format!("127.0.0.1:{port} → the proxy")));
            l
        }
        Err(e) => {
            s.layer("proxy-forwarder", Err(format!("cannot listen on loopback: {e}")));
            std::process::exit(125)
        }
    };
    send_status(&Status::Started { layers: s.layers });
    for conn in listener.incoming() {
        let Ok(inside) = conn else { continue };
        let socket = socket.to_path_buf();
        let _ = std::thread::Builder::new().spawn(move || forward_one(inside, &socket));
    }
    std::process::exit(0)
}

/// The largest request head the forwarder reads before handing a connection to the proxy.
const MAX_FORWARD_HEAD: usize = 64 << 10;

/// One connection: its request head goes to the proxy, which either refuses (its answer is relayed) or, once it
/// has checked and dialled the destination, hands the connected socket back (`proxy::HANDOFF`): the forwarder
/// then carries bytes between the command and the destination directly, one hop instead of two.
fn forward_one(inside: std::net::TcpStream, socket: &Path) {
    use std::io::{Read, Write};
    let Ok(mut proxy) = std::os::unix::net::UnixStream::connect(socket) else { return };
    let _ = inside.set_nodelay(true);
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 8192];
    let mut reader = &inside;
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_FORWARD_HEAD {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    if proxy.write_all(&head).is_err() {
        return;
    }
    let (first, upstream) = match receive_handoff(&proxy) {
        Some(r) => r,
        None => return,
    };
    let mut to_client = first;
    match upstream {
        Some(upstream) => {
            // The proxy's last words (the CONNECT reply), then it closes; from here the destination is direct.
            let _ = proxy.read_to_end(&mut to_client);
            if (&inside).write_all(&to_client).is_err() {
                return;
            }
            drop(proxy);
            let upstream = std::net::TcpStream::from(upstream);
            // The proxy's async runtime left it non-blocking; the forwarder's copies block.
            if upstream.set_nonblocking(false).is_err() {
                return;
            }
            relay(inside.into(), upstream.into());
        }
        None => {
            if (&inside).write_all(&to_client).is_err() {
                return;
            }
            relay(inside.into(), proxy.into());
        }
    }
}

/// The proxy's first message: bytes for the client, and the destination's socket when the proxy hands it over
/// (the message then starts with the `proxy::HANDOFF` marker, which is not passed on).
fn receive_handoff(proxy: &std::os::unix::net::UnixStream) -> Option<(Vec<u8>, Option<OwnedFd>)> {
    use std::os::fd::FromRawFd;
    let mut buf = vec![0u8; 8192];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let (n, fd) = {
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let msg = nix::sys::socket::recvmsg::<()>(
            proxy.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            nix::sys::socket::MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .ok()?;
        let mut fd = None;
        for c in msg.cmsgs().ok()? {
            if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
                for (i, raw) in fds.into_iter().enumerate() {
                    // SAFETY: the kernel just installed this fd in our table; we own it.
                    let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                    if i == 0 {
                        fd = Some(owned);
                    }
                }
            }
        }
        (msg.bytes, fd)
    };
    buf.truncate(n);
    if n == 0 && fd.is_none() {
        return None;
    }
    if fd.is_some() && buf.first() == Some(&crate::proxy::HANDOFF) {
        buf.remove(0);
    }
    Some((buf, fd))
}

/// Carries bytes both ways between two sockets until each side has closed.
fn relay(a: OwnedFd, b: OwnedFd) {
    let (Ok(a_in), Ok(b_out)) = (a.try_clone(), b.try_clone()) else { return };
    let up = std::thread::spawn(move || {
        copy_large(&a_in, &b_out);
        shut_write(&b_out);
    });
    copy_large(&b, &a);
    shut_write(&a);
    let _ = up.join();
}

fn shut_write(socket: &OwnedFd) {
    let _ = nix::sys::socket::shutdown(socket.as_raw_fd(), nix::sys::socket::Shutdown::Write);
}

/// Copies until EOF or an error: with splice(2) through a pipe (the bytes never enter this process), else with a
/// large buffer.
fn copy_large(from: &OwnedFd, to: &OwnedFd) {
    use std::io::{Read, Write};
    if splice_all(from.as_raw_fd(), to.as_raw_fd()).is_ok() {
        return;
    }
    let (Ok(from), Ok(to)) = (from.try_clone(), to.try_clone()) else { return };
    let (mut from, mut to) = (std::fs::File::from(from), std::fs::File::from(to));
    let mut buf = vec![0u8; 256 << 10];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Moves everything from `from` to `to` through a pipe with splice(2), until EOF. Err when splice cannot be used
/// for these fds before any byte has moved (the caller then copies); errors after that end the copy.
fn splice_all(from: i32, to: i32) -> Result<(), ()> {
    const CHUNK: usize = 1 << 20;
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|_| ())?;
    // A pipe holds 64 KiB by default: a larger one moves more per call (the kernel may cap it; that is fine).
    let _ = nix::fcntl::fcntl(&w, nix::fcntl::FcntlArg::F_SETPIPE_SZ(CHUNK as i32));
    let flags = libc::SPLICE_F_MOVE | libc::SPLICE_F_MORE;
    let mut moved_any = false;
    loop {
        // SAFETY: splice between fds this process owns; null offsets (sockets and pipes have none).
        let n = unsafe { libc::splice(from, std::ptr::null_mut(), w.as_raw_fd(), std::ptr::null_mut(), CHUNK, flags) };
        if n == 0 {
            return Ok(());
        }
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return if moved_any { Ok(()) } else { Err(()) };
        }
        moved_any = true;
        let mut left = n as usize;
        while left > 0 {
            // SAFETY: as above.
            let m = unsafe { libc::splice(r.as_raw_fd(), std::ptr::null_mut(), to, std::ptr::null_mut(), left, flags) };
            if m < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            if m <= 0 {
                return Ok(());
            }
            left -= m as usize;
        }
    }
}

/// Waits for `child` to end, through EINTR and stops.
fn wait_exit(child: nix::unistd::Pid) -> (Option<i32>, Option<i32>) {
    loop {
        match nix::sys::wait::waitpid(child, None) {
            Ok(nix::sys::wait::WaitStatus::Exited(_, c)) => return (Some(c), None),
            Ok(nix::sys::wait::WaitStatus::Signaled(_, sig, _)) => return (None, Some(sig as i32)),
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return (None, None),
        }
    }
}

/// SIGTERM to the namespace's init becomes SIGTERM to every process in the namespace.
extern "C" fn forward_term(_: libc::c_int) {
    // SAFETY: kill is async-signal-safe; -1 from a namespace's init means every other process in it.
    unsafe { libc::kill(-1, libc::SIGTERM) };
}

/// The namespace's init (PID 1 when namespaces are on): mounts /proc, then forks the command and stays as its
/// reaper. A SIGTERM it receives goes to every process of the namespace (a polite stop of a whole tree, setsid
/// and double-forked daemons included); when the command exits, init reports its status and exits, and the
/// kernel kills whatever the command left behind.
/// `fs_built`: the new root is assembled at `NEW_ROOT`; init mounts /proc into it (while the host's /proc is
/// still attached, which the kernel requires of a proc mount in a user namespace) and then makes it the root.
fn init(spec: &Spec, mut s: Setup, private_net: bool, fs_built: bool) -> ! {
    let helper = nix::unistd::getppid();
    // SAFETY: prctl with constant arguments.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    if nix::unistd::getppid() != helper {
        std::process::exit(125);
    }
    let in_pid_ns = nix::unistd::getpid().as_raw() == 1;
    let proc_target = if fs_built { inside(Path::new("/proc")) } else { PathBuf::from("/proc") };
    if in_pid_ns {
        let proc_ = mount(
            Some("proc"),
            &proc_target,
            Some("proc"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None::<&str>,
        )
        .map(|_| "fresh /proc for the PID namespace".to_string())
        .map_err(|e| format!("cannot mount a fresh /proc ({}); the host's processes would be visible", e.desc()));
        s.layer("proc", proc_);
    }
    if fs_built {
        let entered = enter_new_root(Path::new(NEW_ROOT)).map(|_| "pivoted; the host's root detached".to_string());
        s.layer("root", entered);
    }
    if !in_pid_ns {
        // No namespace to reap in: the command is this process.
        command(spec, s, private_net);
    }
    // SAFETY: installing a handler that only calls kill, which is async-signal-safe.
    unsafe {
        let action = nix::sys::signal::SigAction::new(
            nix::sys::signal::SigHandler::Handler(forward_term),
            nix::sys::signal::SaFlags::empty(),
            nix::sys::signal::SigSet::empty(),
        );
        let _ = nix::sys::signal::sigaction(nix::sys::signal::Signal::SIGTERM, &action);
    }
    // SAFETY: this process is single-threaded.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => command(spec, s, private_net),
        Ok(ForkResult::Parent { child }) => {
            // Reap everything (orphans are re-parented here) until the command itself ends.
            let (code, signal) = loop {
                match nix::sys::wait::waitpid(None, None) {
                    Ok(nix::sys::wait::WaitStatus::Exited(pid, c)) if pid == child => break (Some(c), None),
                    Ok(nix::sys::wait::WaitStatus::Signaled(pid, sig, _)) if pid == child => {
                        break (None, Some(sig as i32));
                    }
                    Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
                    Err(_) => break (None, None),
                }
            };
            send_status(&Status::Exited { code, signal });
            std::process::exit(code.unwrap_or(128 + signal.unwrap_or(0)))
        }
        Err(e) => refuse(&format!("fork failed: {e}"), &s.layers),
    }
}

/// The command's process: the last set-up, then exec.
fn command(spec: &Spec, mut s: Setup, private_net: bool) -> ! {
    // The default disposition again: the command must not inherit init's forwarding handler before exec.
    // SAFETY: restoring the default disposition of a signal.
    unsafe {
        let _ = nix::sys::signal::signal(nix::sys::signal::Signal::SIGTERM, nix::sys::signal::SigHandler::SigDfl);
    }
    if let Err(e) = std::env::set_current_dir(&spec.cwd) {
        refuse(&format!("cannot enter {}: {e}", spec.cwd.display()), &s.layers);
    }
    // SAFETY: prctl with constant arguments.
    let nnp = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } == 0;
    s.layer("no_new_privs", if nnp { Ok("set".into()) } else { Err("prctl(PR_SET_NO_NEW_PRIVS) failed".into()) });
    let ll = super::landlock_rules::apply(spec, private_net);
    for (name, r) in ll {
        s.layer(name, r);
    }
    s.layer("capabilities", drop_capabilities());
    s.layer("rlimits", set_rlimits(spec));
    let sid =
        nix::unistd::setsid().map(|_| "new session, no controlling terminal".to_string()).map_err(|e| e.to_string());
    s.layer("session", sid);

    let argv: Vec<CString> = spec.argv.iter().filter_map(|a| CString::new(a.as_bytes()).ok()).collect();
    let envp: Vec<CString> = spec.env.iter().filter_map(|(k, v)| CString::new(format!("{k}={v}")).ok()).collect();
    if argv.is_empty() {
        refuse("empty command", &s.layers);
    }
    let filter = super::seccomp::filter(spec.network);
    let applied = filter.and_then(|f| seccompiler::apply_filter(&f).map_err(|e| e.to_string()));
    s.layer("seccomp", applied.map(|_| super::seccomp::summary(spec.network)));
    send_status(&Status::Started { layers: s.layers });
    // Landlock does not revoke what an inherited fd already grants: close everything but stdio, the status
    // pipe included (the helper keeps its own copy for the exit report).
    // SAFETY: close_range on fds this process owns.
    unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    // execvpe searches the caller's PATH, and the helper's own environment is empty: resolve against the
    // command's PATH instead.
    let program = resolve_program(&spec.argv[0], &spec.env);
    let err = match CString::new(program.as_os_str().as_encoded_bytes()) {
        Ok(p) => nix::unistd::execve(&p, &argv, &envp).err(),
        Err(_) => Some(nix::errno::Errno::EINVAL),
    };
    eprintln!("codebox: cannot run {:?}: {}", spec.argv[0], err.map(|e| e.desc()).unwrap_or("unknown error"));
    std::process::exit(127)
}

/// `name` as execvp would find it on the command's PATH (a name with a `/` is used as it is).
fn resolve_program(name: &str, env: &[(String, String)]) -> PathBuf {
    if name.contains('/') {
        return PathBuf::from(name);
    }
    let path = env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v.as_str()).unwrap_or("/usr/bin:/bin");
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(name);
        if nix::unistd::access(&candidate, nix::unistd::AccessFlags::X_OK).is_ok() && candidate.is_file() {
            return candidate;
        }
    }
    PathBuf::from(name)
}

/// Where the new root is assembled before `pivot_root` (a tmpfs mounted over the old /tmp, which every run's
/// own private /tmp replaces anyway).
const NEW_ROOT: &str = "/tmp";

/// `p` (absolute) inside the new root being assembled.
fn inside(p: &Path) -> PathBuf {
    Path::new(NEW_ROOT).join(p.strip_prefix("/").unwrap_or(p))
}

/// The filesystem view, built from an allowlist: a fresh root (a read-only tmpfs) holding only the system and
/// toolchain directories the policy names (read-only; symlinks such as /bin → usr/bin recreated), with the
/// root-only files of /etc masked; private tmpfs on /tmp, /var/tmp, /run, /dev/shm and home; a minimal /dev; an
/// empty read-only /sys; the workspace bound back read-write with its protected paths read-only. Everything else
/// of the host does not exist inside, and /proc/self/mountinfo lists only these mounts.
fn build_filesystem(spec: &Spec) -> Result<String, String> {
    let m = |src: Option<&str>, target: &Path, fstype: Option<&str>, flags: MsFlags, data: Option<&str>| {
        mount(src, target, fstype, flags, data).map_err(|e| format!("mount {}: {}", target.display(), e.desc()))
    };
    m(None, Path::new("/"), None, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None)?;
    // Hold everything that comes back before the new root hides the old one.
    let open = |p: &Path| -> Result<OwnedFd, String> {
        nix::fcntl::open(p, nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
            .map_err(|e| format!("open {}: {}", p.display(), e.desc()))
    };
    enum System {
        Dir(OwnedFd),
        Link(PathBuf),
    }
    let mut system: Vec<(System, &PathBuf)> = Vec::new();
    // Toolchains under home come back after home's private tmpfs (`rebind`), not here; so do other rebound
    // directories (a workspace's borrowed object store, which may sit under /tmp).
    let under_home = |p: &Path| spec.home.as_ref().is_some_and(|h| p.starts_with(h));
    for p in spec.read_exec.iter().filter(|p| !under_home(p) && !spec.rebind.contains(p)) {
        match std::fs::symlink_metadata(p) {
            Ok(md) if md.file_type().is_symlink() => {
                let target = std::fs::read_link(p).map_err(|e| format!("readlink {}: {e}", p.display()))?;
                system.push((System::Link(target), p));
            }
            Ok(_) => system.push((System::Dir(open(p)?), p)),
            Err(_) => continue,
        }
    }
    let workspace = open(&spec.workspace)?;
    let report = spec.report_dir.as_deref().map(open).transpose()?;
    let mut rebinds: Vec<(OwnedFd, &PathBuf)> = Vec::new();
    for p in &spec.rebind {
        rebinds.push((open(p)?, p));
    }
    let mut devices = Vec::new();
    for d in DEVICES {
        let p = PathBuf::from(format!("/dev/{d}"));
        if let Ok(fd) = open(&p) {
            devices.push((fd, p));
        }
    }
    let mut protected = Vec::new();
    for p in &spec.protected {
        protected.push((open(p)?, p));
    }

    let root = Path::new(NEW_ROOT);
    m(Some("tmpfs"), root, Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some("mode=0755"))?;
    for (src, p) in &system {
        match src {
            System::Link(target) => {
                let at = inside(p);
                if let Some(parent) = at.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| format!("mkdir {}: {e}", parent.display()))?;
                }
                std::os::unix::fs::symlink(target, &at).map_err(|e| format!("symlink {}: {e}", at.display()))?;
            }
            System::Dir(fd) => {
                mkdir_for(fd, &inside(p))?;
                bind(fd, &inside(p), Mount::ReadOnly)?;
            }
        }
    }
    mask(&spec.masked)?;
    let tmpfs = |target: &Path, mode: &str| -> Result<(), String> {
        std::fs::create_dir_all(target).map_err(|e| format!("mkdir {}: {e}", target.display()))?;
        m(Some("tmpfs"), target, Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some(&format!("mode={mode}")))
    };
    tmpfs(&inside(Path::new("/tmp")), "1777")?;
    tmpfs(&inside(Path::new("/var/tmp")), "1777")?;
    tmpfs(&inside(Path::new("/run")), "0755")?;
    if let Some(h) = &spec.home {
        tmpfs(&inside(h), "0700")?;
    }
    // /dev: a tmpfs with the few devices bound in (mknod is not allowed in a user namespace).
    let dev = inside(Path::new("/dev"));
    std::fs::create_dir_all(&dev).map_err(|e| format!("mkdir {}: {e}", dev.display()))?;
    m(Some("tmpfs"), &dev, Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC, Some("mode=0755"))?;
    for (fd, p) in &devices {
        let at = inside(p);
        std::fs::File::create(&at).map_err(|e| format!("create {}: {e}", at.display()))?;
        bind(fd, &at, Mount::ReadWrite)?;
    }
    tmpfs(&dev.join("shm"), "1777")?;
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let _ = std::os::unix::fs::symlink(target, dev.join(link));
    }
    // /sys would show the host's network interfaces and devices: an empty read-only tmpfs instead.
    let sys = inside(Path::new("/sys"));
    std::fs::create_dir_all(&sys).map_err(|e| format!("mkdir {}: {e}", sys.display()))?;
    m(
        Some("tmpfs"),
        &sys,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY,
        Some("mode=0555"),
    )?;
    std::fs::create_dir_all(inside(Path::new("/proc"))).map_err(|e| format!("mkdir /proc: {e}"))?;
    for (fd, p) in &rebinds {
        mkdir_for(fd, &inside(p))?;
        bind(fd, &inside(p), Mount::ReadOnly)?;
    }
    mkdir_for(&workspace, &inside(&spec.workspace))?;
    bind(&workspace, &inside(&spec.workspace), Mount::ReadWrite)?;
    if let Some(fd) = &report {
        let target = inside(Path::new(super::REPORT_MOUNT));
        mkdir_for(fd, &target)?;
        bind(fd, &target, Mount::ReadWrite)?;
    }
    let mut pinned = Vec::new();
    for (fd, p) in &protected {
        // Directories among the protected paths' parents (.git) are bound onto themselves: a mount point cannot
        // be renamed or removed, so `.git` cannot be swapped for a decoy. The protected paths themselves are
        // bound read-only.
        let read_only = !spec.protected.iter().any(|q| q != *p && q.starts_with(p));
        bind(fd, &inside(p), if read_only { Mount::ReadOnly } else { Mount::ReadWrite })?;
        pinned.push(format!(
            "{}{}",
            p.strip_prefix(&spec.workspace).unwrap_or(p).display(),
            if read_only { " (ro)" } else { " (pinned)" }
        ));
    }
    Ok(format!(
        "a fresh root: {} system/toolchain dirs read-only, {} root-only files masked; private /tmp /var/tmp /run \
         /dev/shm{}; minimal /dev; empty /sys; {} toolchain dirs under home{}",
        system.len(),
        spec.masked.len(),
        if spec.home.is_some() { " and home" } else { "" },
        rebinds.len(),
        if pinned.is_empty() { String::new() } else { format!("; protected: {}", pinned.join(", ")) }
    ))
}

/// Hides each masked path inside the new root: files behind an empty mode-000 file, directories behind an
/// empty mode-000 directory. The sources live on a small tmpfs under the new root's /tmp, which the run's own
/// private /tmp then covers (no unmount: each unmount would cost the helper an RCU grace period).
fn mask(masked: &[PathBuf]) -> Result<(), String> {
    if masked.is_empty() {
        return Ok(());
    }
    let scratch = inside(Path::new("/tmp/.codebox-masks"));
    std::fs::create_dir_all(&scratch).map_err(|e| format!("mkdir {}: {e}", scratch.display()))?;
    mount(Some("tmpfs"), &scratch, Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some("mode=0700"))
        .map_err(|e| format!("mount masks: {}", e.desc()))?;
    let empty_file = scratch.join("file");
    std::fs::File::create(&empty_file).map_err(|e| format!("mask file: {e}"))?;
    let empty_dir = scratch.join("dir");
    std::fs::create_dir(&empty_dir).map_err(|e| format!("mask dir: {e}"))?;
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(&empty_file, std::fs::Permissions::from_mode(0o000));
    let _ = std::fs::set_permissions(&empty_dir, std::fs::Permissions::from_mode(0o000));
    for p in masked {
        let at = inside(p);
        let Ok(md) = std::fs::symlink_metadata(&at) else { continue };
        let src = if md.is_dir() {
            &empty_dir
        } else if md.is_file() {
            &empty_file
        } else {
            continue;
        };
        mount(Some(src.as_path()), &at, None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .map_err(|e| format!("mask {}: {}", p.display(), e.desc()))?;
    }
    Ok(())
}

/// Makes the assembled tree the root: pivot_root, then the old root detached, then the new root read-only.
fn enter_new_root(root: &Path) -> Result<(), String> {
    std::env::set_current_dir(root).map_err(|e| format!("chdir {}: {e}", root.display()))?;
    std::fs::create_dir_all(".oldroot").map_err(|e| format!("mkdir .oldroot: {e}"))?;
    nix::unistd::pivot_root(".", ".oldroot").map_err(|e| format!("pivot_root: {}", e.desc()))?;
    std::env::set_current_dir("/").map_err(|e| format!("chdir /: {e}"))?;
    nix::mount::umount2("/.oldroot", nix::mount::MntFlags::MNT_DETACH)
        .map_err(|e| format!("detaching the old root: {}", e.desc()))?;
    let _ = std::fs::remove_dir("/.oldroot");
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        None::<&str>,
    )
    .map_err(|e| format!("read-only root: {}", e.desc()))?;
    Ok(())
}

/// Creates the mount point for a bind of `fd` at `p`: a directory or an empty file, as the source is.
fn mkdir_for(fd: &OwnedFd, p: &Path) -> Result<(), String> {
    let st = nix::sys::stat::fstat(fd).map_err(|e| format!("stat {}: {}", p.display(), e.desc()))?;
    let is_dir = nix::sys::stat::SFlag::from_bits_truncate(st.st_mode).contains(nix::sys::stat::SFlag::S_IFDIR);
    if is_dir {
        std::fs::create_dir_all(p).map_err(|e| format!("mkdir {}: {e}", p.display()))
    } else {
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("mkdir {}: {e}", parent.display()))?;
        }
        if !p.exists() {
            std::fs::File::create(p).map_err(|e| format!("create {}: {e}", p.display()))?;
        }
        Ok(())
    }
}

/// How a bind mount may be used from inside.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mount {
    ReadOnly,
    ReadWrite,
}

/// Binds what `fd` refers to onto `target`, read-only or not (a bind mount takes MS_RDONLY only on remount).
fn bind(fd: &OwnedFd, target: &Path, how: Mount) -> Result<(), String> {
    let src = format!("/proc/self/fd/{}", fd.as_raw_fd());
    mount(Some(src.as_str()), target, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        .map_err(|e| format!("bind {}: {}", target.display(), e.desc()))?;
    if how == Mount::ReadOnly {
        mount(
            None::<&str>,
            target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            None::<&str>,
        )
        .map_err(|e| format!("read-only {}: {}", target.display(), e.desc()))?;
    }
    Ok(())
}

/// Brings up `lo` in the new network namespace, so servers a test starts on 127.0.0.1 can be reached.
fn loopback_up() -> Result<String, String> {
    // SAFETY: plain socket/ioctl calls on a zeroed ifreq naming "lo".
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err("socket for loopback set-up failed".into());
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo\0".iter().enumerate() {
            req.ifr_name[i] = *b as libc::c_char;
        }
        let ok = libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) == 0 && {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) == 0
        };
        libc::close(fd);
        if ok { Ok("lo up; no other interface".into()) } else { Err("cannot bring lo up".into()) }
    }
}

/// Drops every capability: the bounding set (so exec cannot regain them, even as uid 0 inside), the ambient set,
/// and the effective, permitted and inheritable sets.
fn drop_capabilities() -> Result<String, String> {
    // SAFETY: prctl and capset with valid arguments.
    unsafe {
        let mut cap = 0;
        while libc::prctl(libc::PR_CAPBSET_READ, cap, 0, 0, 0) >= 0 {
            if libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 {
                return Err(format!("cannot drop capability {cap} from the bounding set"));
            }
            cap += 1;
        }
        libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
        #[repr(C)]
        struct Header {
            version: u32,
            pid: i32,
        }
        #[repr(C)]
        struct Data {
            effective: u32,
            permitted: u32,
            inheritable: u32,
        }
        const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
        let mut h = Header { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
        let d =
            [Data { effective: 0, permitted: 0, inheritable: 0 }, Data { effective: 0, permitted: 0, inheritable: 0 }];
        if libc::syscall(libc::SYS_capset, &mut h, d.as_ptr()) != 0 {
            return Err("capset failed".into());
        }
        Ok(format!("all {cap} dropped (bounding, ambient, effective, permitted)"))
    }
}

fn set_rlimits(spec: &Spec) -> Result<String, String> {
    use nix::sys::resource::{Resource, setrlimit};
    let r = &spec.rlimits;
    let set = |res: Resource, v: u64, name: &str| setrlimit(res, v, v).map_err(|e| format!("{name}: {}", e.desc()));
    set(Resource::RLIMIT_CORE, 0, "core")?;
    set(Resource::RLIMIT_AS, r.address_space, "address space")?;
    set(Resource::RLIMIT_FSIZE, r.file_size, "file size")?;
    set(Resource::RLIMIT_NOFILE, r.open_files, "open files")?;
    set(Resource::RLIMIT_CPU, r.cpu_secs, "cpu")?;
    set(Resource::RLIMIT_NPROC, r.processes, "processes")?;
    Ok(format!(
        "address space {} MiB, file size {} MiB, {} processes, {} open files, {} s CPU, no core dumps",
        r.address_space >> 20,
        r.file_size >> 20,
        r.processes,
        r.open_files,
        r.cpu_secs
    ))
}
