//! The one way codebox starts a process: a confined child built from a policy. Knows nothing of tools or MCP.
//!
//! Shape of a run: codebox spawns its own binary as a helper (`codebox __sandbox`, a fresh single-threaded process,
//! so the set-up is ordinary code rather than async-signal-safe fragments between fork and exec). The helper
//! unshares user, mount, PID, network, IPC and UTS namespaces, maps its uid, rebuilds the filesystem view
//! (private /tmp, /run, /dev/shm and home, a minimal /dev, an empty /sys, the workspace and toolchains bound back)
//! and forks the namespace's init. Init mounts a fresh /proc, applies landlock, drops capabilities, sets rlimits,
//! starts a new session, closes every inherited fd, installs the seccomp filter and execs the command. Killing the
//! helper kills init (parent-death signal), and the kernel then kills everything in the PID namespace.
//!
//! The helper reports, on a status pipe, which layers it enforced before the command starts, or why it refused.

pub(crate) mod cgroup;
mod helper;
mod landlock_rules;
pub(crate) mod policy;
pub(crate) mod seccomp;
pub(crate) mod self_confine;
mod spawner;

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use helper::helper_main;
pub(crate) use landlock_rules::abi as landlock_abi;
pub use policy::Sandbox;

/// Environment variable carrying the spec to the helper (its environment is otherwise empty).
const SPEC_VAR: &str = "CODEBOX_SANDBOX_SPEC";
/// The helper's argv[1]; `main` dispatches on it before parsing flags.
pub const HELPER_ARG: &str = "__sandbox";
/// The fd the status pipe has in the helper and init.
const STATUS_FD: i32 = 3;
/// The fds the session's user and network namespaces have in the helper, when it joins them.
const USER_NS_FD: i32 = 4;
const NET_NS_FD: i32 = 5;
/// After the command's tree is killed, its pipes close at once; this only bounds a pathological wait.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// How long the helper may take to report the end after the command's tree is gone; then it is killed too.
const HELPER_EXIT_GRACE: Duration = Duration::from_secs(10);
/// How often the output loop wakes without output, to notice cancellation and deadlines.
const POLL_TICK_MS: i32 = 100;

/// What the helper needs, serialised into its environment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Spec {
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
    pub workspace: PathBuf,
    /// The user's home: hidden behind an empty private tmpfs, with `rebind` entries bound back read-only.
    pub home: Option<PathBuf>,
    pub rebind: Vec<PathBuf>,
    /// Landlock read+execute beneath these.
    pub read_exec: Vec<PathBuf>,
    /// Absolute paths inside the workspace made read-only (and pinned, so they cannot be renamed away).
    pub protected: Vec<PathBuf>,
    /// Paths under the system directories hidden inside (root-only files such as /etc/shadow).
    pub masked: Vec<PathBuf>,
    pub network: bool,
    pub strict: bool,
    pub rlimits: Rlimits,
    /// A private host directory bound writable at `REPORT_MOUNT`, for files a runner writes for codebox to read
    /// back (pytest's JUnit XML). Outside the workspace, so reports never litter it.
    pub report_dir: Option<PathBuf>,
    /// Join the session's user and network namespaces (fds `USER_NS_FD`, `NET_NS_FD`) instead of a new network.
    pub join_session_net: bool,
    pub role: Role,
    /// `Role::NetKeeper` with the proxy on: the proxy's unix socket, to which the keeper forwards connections made
    /// to 127.0.0.1:<port> inside the session's network.
    pub proxy_socket: Option<PathBuf>,
}

/// What a helper process is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Role {
    /// Confine and run a command.
    Command,
    /// Create a session's user and network namespaces, bring loopback up, report, and wait until codebox has
    /// opened them (stdin closes); with the proxy on, stay and forward 127.0.0.1:<port> to the proxy's socket.
    NetKeeper,
}

impl Spec {
    fn keeper(strict: bool) -> Spec {
        Spec {
            argv: Vec::new(),
            cwd: PathBuf::from("/"),
            env: Vec::new(),
            workspace: PathBuf::from("/"),
            home: None,
            rebind: Vec::new(),
            read_exec: Vec::new(),
            protected: Vec::new(),
            masked: Vec::new(),
            network: false,
            strict,
            rlimits: Rlimits { address_space: 0, file_size: 0, processes: 0, open_files: 0, cpu_secs: 0 },
            report_dir: None,
            join_session_net: false,
            role: Role::NetKeeper,
            proxy_socket: None,
        }
    }
}

/// Where `Spec::report_dir` appears inside the sandbox.
pub(crate) const REPORT_MOUNT: &str = "/run/codebox-report";

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct Rlimits {
    pub address_space: u64,
    pub file_size: u64,
    pub processes: u64,
    pub open_files: u64,
    pub cpu_secs: u64,
}

/// One confinement layer as applied to one run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Layer {
    pub name: String,
    pub enforced: bool,
    pub detail: String,
}

#[derive(Debug, Serialize, Deserialize)]
enum Status {
    /// From the helper: init's pid (in codebox's PID namespace), so a kill can target init directly.
    Forked {
        init_pid: i32,
    },
    Started {
        layers: Vec<Layer>,
    },
    /// From a keeper that forwards to the proxy: the loopback port it listens on.
    Forwarding {
        port: u16,
    },
    Refused {
        reason: String,
        layers: Vec<Layer>,
    },
    Exited {
        code: Option<i32>,
        signal: Option<i32>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
    TimedOut(Duration),
    Cancelled,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub exit: Exit,
    pub duration: Duration,
    pub layers: Vec<Layer>,
    /// What the run's cgroup reported: OOM kills, forks refused at the process limit.
    pub limits: cgroup::Events,
}

/// A run that did not start: a layer the policy requires could not be applied, or the helper failed.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub reason: String,
    pub layers: Vec<Layer>,
}

impl Refusal {
    /// The layer that could not be applied: the first one not enforced, or "sandbox" when the helper itself
    /// failed before reporting layers.
    pub fn layer(&self) -> &str {
        self.layers.iter().find(|l| !l.enforced).map_or("sandbox", |l| l.name.as_str())
    }
}

/// What a caller asks to run.
pub struct Run<'a> {
    pub argv: Vec<String>,
    /// See `Spec::report_dir`.
    pub report_dir: Option<PathBuf>,
    /// Absolute, verified beneath the workspace by the caller.
    pub cwd: PathBuf,
    pub extra_env: &'a [(String, String)],
    /// Wall-clock limit of a call; a job's own deadline is kept by its owner (see `Lifetime`).
    pub timeout: Duration,
    /// The session's network namespace, joined instead of a private one (see `SessionNet`).
    pub net: Option<&'a SessionNet>,
    /// The credentials this run's requests carry to the proxy (with the proxy on).
    pub proxy_token: Option<&'a str>,
    pub lifetime: Lifetime,
}

/// How long a run lives, which decides its stdin and CPU limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// One tool call: stdin is /dev/null, CPU time bounded by twice the timeout.
    Call,
    /// A background job: stdin is a pipe the caller writes, CPU time unlimited unless `cpu_secs` says otherwise
    /// (servers idle for hours).
    Job { cpu_secs: Option<u64> },
}

/// Cancellation as the sandbox sees it: checked between reads.
pub trait Cancelled {
    fn cancelled(&self) -> bool;
}

/// A started run: the helper (or, with the sandbox off, the command itself), its pipes, and how to signal it.
pub struct Running {
    child: std::process::Child,
    /// The run's cgroup, removed (on the spawner thread) when the run is finished.
    group: Option<(cgroup::RunGroup, std::sync::Arc<spawner::Spawner>)>,
    status: Option<StatusReader>,
    signals: Signals,
    /// The layers as they were applied.
    pub layers: Vec<Layer>,
    /// The command's stdin, for `Lifetime::Job`.
    pub stdin: Option<std::process::ChildStdin>,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    start: Instant,
}

/// Sends signals to a run's whole process tree; cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct Signals(std::sync::Arc<SignalTarget>);

enum SignalTarget {
    /// The namespace's init, by pidfd: SIGTERM reaches every process of the namespace (init forwards it),
    /// SIGKILL ends the namespace and everything in it.
    Init(OwnedFd),
    /// No pidfd: the helper by pid (killing it kills init through its parent-death signal).
    Helper(i32),
    /// The sandbox is off: the command's process group.
    Group(i32),
}

impl Signals {
    /// Asks every process of the run to terminate (SIGTERM).
    pub fn terminate(&self) {
        self.send(libc::SIGTERM);
    }

    /// Kills every process of the run (SIGKILL).
    pub fn kill(&self) {
        self.send(libc::SIGKILL);
    }

    fn send(&self, sig: i32) {
        match &*self.0 {
            SignalTarget::Init(fd) => {
                // SAFETY: pidfd_send_signal on a pidfd we own, with no siginfo.
                unsafe { libc::syscall(libc::SYS_pidfd_send_signal, fd.as_raw_fd(), sig, std::ptr::null::<u8>(), 0) };
            }
            SignalTarget::Helper(pid) => {
                // The helper passes nothing on but dies; for a polite stop there is no one to forward SIGTERM.
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), nix::sys::signal::Signal::SIGKILL);
            }
            SignalTarget::Group(pgid) => {
                if let Ok(s) = nix::sys::signal::Signal::try_from(sig) {
                    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(*pgid), s);
                }
            }
        }
    }
}

/// How a pump ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Eof,
    TimedOut,
    Cancelled,
}

impl Sandbox {
    /// Runs `run` confined. Output arrives through `sink` in order of arrival, stream by stream.
    pub fn run(
        &self,
        run: &Run<'_>,
        cancel: &dyn Cancelled,
        sink: &mut dyn FnMut(Stream, &[u8]),
    ) -> Result<Outcome, Refusal> {
        let mut running = self.start(run)?;
        let ended = running.pump(Some(running.start + run.timeout), cancel, sink);
        let mut outcome = running.finish(ended);
        if let Exit::TimedOut(_) = outcome.exit {
            outcome.exit = Exit::TimedOut(run.timeout);
        }
        Ok(outcome)
    }

    /// Starts `run` confined and returns once the command runs (or was refused), without waiting for it.
    pub fn start(&self, run: &Run<'_>) -> Result<Running, Refusal> {
        let start = Instant::now();
        if self.is_off() {
            return self.start_unconfined(run, start);
        }
        let spec = self.spec(run);
        let json = serde_json::to_string(&spec).map_err(|e| refusal(format!("cannot encode the sandbox spec: {e}")))?;
        let (status_r, status_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| refusal(format!("cannot create the status pipe: {e}")))?;
        let (exe, helper_arg) = self.helper();
        let ns_fds = match run.net {
            Some(n) => Some((
                n.user.try_clone().map_err(|e| refusal(format!("cannot pass the session network: {e}")))?,
                n.net.try_clone().map_err(|e| refusal(format!("cannot pass the session network: {e}")))?,
            )),
            None => None,
        };
        let stdin = match run.lifetime {
            Lifetime::Call => Stdio::null(),
            Lifetime::Job { .. } => Stdio::piped(),
        };
        let hierarchy = self.cgroups().cloned().map_err(str::to_string);
        let (group_name, limits) = (self.next_run_name(), self.cgroup_limits());
        // Spawned from the unconfined spawner thread: the helper needs mount rights that codebox's own landlock
        // domain would deny it, and cgroupfs is written from there too.
        let spawned = self.spawner().run(move || {
            let group = hierarchy.and_then(|h| h.create(&group_name, &limits));
            // The helper joins its cgroup before it execs, so everything it starts is in it.
            let procs: Vec<std::ffi::CString> = match &group {
                Ok(g) => g
                    .procs
                    .iter()
                    .filter_map(|p| std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).ok())
                    .collect(),
                Err(_) => Vec::new(),
            };
            let mut cmd = Command::new(exe);
            cmd.args(helper_arg).env_clear().env(SPEC_VAR, json);
            cmd.stdin(stdin).stdout(Stdio::piped()).stderr(Stdio::piped());
            let w = status_w.as_raw_fd();
            let ns = ns_fds.as_ref().map(|(u, n)| (u.as_raw_fd(), n.as_raw_fd()));
            // SAFETY: dup2 is async-signal-safe; it clears FD_CLOEXEC on the new fd so the helper inherits it.
            unsafe {
                cmd.pre_exec(move || {
                    let mut pairs = vec![(w, STATUS_FD)];
                    if let Some((u, n)) = ns {
                        pairs.push((u, USER_NS_FD));
                        pairs.push((n, NET_NS_FD));
                    }
                    for (from, to) in pairs {
                        if libc::dup2(from, to) < 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                    }
                    for p in &procs {
                        let fd = libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                        if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                            return Err(std::io::Error::last_os_error());
                        }
                        libc::close(fd);
                    }
                    Ok(())
                });
            }
            let child = cmd.spawn();
            drop(status_w);
            drop(ns_fds);
            (child, group)
        });
        let (spawned, group) = spawned;
        let (group, group_layer) = match group {
            Ok(g) => {
                let detail = format!(
                    "memory {} MiB (no swap), {} processes{}",
                    limits.memory_bytes >> 20,
                    limits.processes,
                    limits.cpus.map(|c| format!(", {c} CPUs")).unwrap_or_default()
                );
                (Some(g), Layer { name: "cgroup".into(), enforced: true, detail })
            }
            Err(why) => (None, Layer { name: "cgroup".into(), enforced: false, detail: why }),
        };
        let spawner = self.spawner_handle();
        let drop_group = |g: Option<cgroup::RunGroup>| {
            if let Some(g) = g {
                spawner.run(move || g.finish());
            }
        };
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                drop_group(group);
                return Err(refusal(format!("cannot start the sandbox helper: {e}")));
            }
        };
        // As root, RLIMIT_NPROC does not bound a fork bomb: without its cgroup, strict mode does not run it.
        if !group_layer.enforced
            && self.mode() == crate::config::SandboxMode::Strict
            && nix::unistd::geteuid().is_root()
        {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Refusal {
                reason: format!(
                    "cgroup: {}; as root only a cgroup bounds a command's processes and memory. Run `codebox doctor` to \
see what this machine offers; sandbox.mode = \"best-effort\" in codebox.toml runs without it",
                    group_layer.detail
                ),
                layers: vec![group_layer],
            });
        }
        let mut status = StatusReader::new(status_r);
        let deadline = start + run.timeout.min(START_TIMEOUT);
        let mut init_pid = None;
        let mut first = status.next(deadline);
        // The helper's Forked and init's Started come from two processes, in either order.
        while let Some(Status::Forked { init_pid: pid }) = first {
            init_pid = Some(pid);
            first = status.next(deadline);
        }
        let mut layers = match first {
            Some(Status::Started { layers }) => layers,
            Some(Status::Refused { reason, layers }) => {
                let _ = child.kill();
                let _ = child.wait();
                drop_group(group);
                return Err(Refusal { reason, layers });
            }
            other => {
                let _ = child.kill();
                let _ = child.wait();
                drop_group(group);
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                return Err(refusal(format!(
                    "the sandbox helper failed before starting the command ({other:?}): {err}"
                )));
            }
        };
        // The helper sends Forked right after its fork, so when init's Started came first, Forked follows within
        // moments (or the pipe closes): wait for it. Not waiting lost it under load, and with it the namespace's
        // init as the signal target and the job's process count.
        if init_pid.is_none()
            && let Some(Status::Forked { init_pid: pid }) = status.next(deadline)
        {
            init_pid = Some(pid);
        }
        let helper_pid = child.id() as i32;
        let target = init_pid.and_then(pidfd).map(SignalTarget::Init).unwrap_or(SignalTarget::Helper(helper_pid));
        layers.insert(0, group_layer);
        Ok(Running {
            group: group.map(|g| (g, spawner.clone())),
            stdin: child.stdin.take(),
            stdout: child.stdout.take().map(OwnedFd::from),
            stderr: child.stderr.take().map(OwnedFd::from),
            child,
            status: Some(status),
            signals: Signals(std::sync::Arc::new(target)),
            layers,
            start,
        })
    }

    /// `--sandbox off`: the command runs as codebox's own user with only the environment allowlist, a new
    /// process group and the timeout. Every result says so.
    fn start_unconfined(&self, run: &Run<'_>, start: Instant) -> Result<Running, Refusal> {
        let mut cmd = Command::new(&run.argv[0]);
        cmd.args(&run.argv[1..]).current_dir(&run.cwd).env_clear().envs(self.env(run.extra_env));
        let stdin = if run.lifetime == Lifetime::Call { Stdio::null() } else { Stdio::piped() };
        cmd.stdin(stdin).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
        let mut child = self
            .spawner()
            .run(move || cmd.spawn())
            .map_err(|e| refusal(format!("cannot start {:?}: {e}", run.argv[0])))?;
        let pgid = child.id() as i32;
        let layers = vec![Layer { name: "sandbox".into(), enforced: false, detail: "OFF (--sandbox off)".into() }];
        Ok(Running {
            group: None,
            stdin: child.stdin.take(),
            stdout: child.stdout.take().map(OwnedFd::from),
            stderr: child.stderr.take().map(OwnedFd::from),
            child,
            status: None,
            signals: Signals(std::sync::Arc::new(SignalTarget::Group(pgid))),
            layers,
            start,
        })
    }
}

/// How long the helper may take to report that the command started.
const START_TIMEOUT: Duration = Duration::from_secs(30);

fn pidfd(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open on a pid; the fd is wrapped at once.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    // SAFETY: fd is a fresh pidfd we own.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

impl Drop for Running {
    /// A run dropped unfinished still leaves no cgroup behind.
    fn drop(&mut self) {
        if let Some((group, spawner)) = self.group.take() {
            spawner.run(move || group.finish());
        }
    }
}

impl Running {
    /// A handle that signals the whole process tree, from any thread.
    pub fn signals(&self) -> Signals {
        self.signals.clone()
    }

    /// When the run started.
    pub fn started(&self) -> Instant {
        self.start
    }

    /// The init process of the run's PID namespace, as codebox sees it (None with the sandbox off).
    pub fn init_pid(&self) -> Option<i32> {
        match &*self.signals.0 {
            SignalTarget::Init(fd) => fd_pid(fd),
            _ => None,
        }
    }

    /// Drains stdout and stderr to EOF (see `pump`). At `deadline` or on cancellation the tree is killed.
    pub fn pump(
        &mut self,
        deadline: Option<Instant>,
        cancel: &dyn Cancelled,
        sink: &mut dyn FnMut(Stream, &[u8]),
    ) -> Ended {
        let signals = self.signals.clone();
        pump(self.stdout.take(), self.stderr.take(), deadline, cancel, sink, || signals.kill())
    }

    /// Waits for the end once the output is drained: returning means nothing of the command still runs.
    pub fn finish(mut self, ended: Ended) -> Outcome {
        let mut outcome = self.finish_process(ended);
        if let Some((group, spawner)) = self.group.take() {
            outcome.limits = spawner.run(move || group.finish());
        }
        outcome
    }

    fn finish_process(&mut self, ended: Ended) -> Outcome {
        drop(self.stdin.take());
        let Some(mut status) = self.status.take() else {
            let st = self.child.wait().ok();
            let exit = match (ended, st) {
                (Ended::TimedOut, _) => Exit::TimedOut(self.start.elapsed()),
                (Ended::Cancelled, _) => Exit::Cancelled,
                (Ended::Eof, Some(s)) => match s.code() {
                    Some(c) => Exit::Code(c),
                    None => Exit::Signal(s.signal().unwrap_or(0)),
                },
                (Ended::Eof, None) => Exit::Code(-1),
            };
            return Outcome {
                exit,
                duration: self.start.elapsed(),
                layers: std::mem::take(&mut self.layers),
                limits: Default::default(),
            };
        };
        let helper_status = wait_bounded(&mut self.child, HELPER_EXIT_GRACE);
        let exit = match ended {
            Ended::TimedOut => Exit::TimedOut(self.start.elapsed()),
            Ended::Cancelled => Exit::Cancelled,
            Ended::Eof => match status.next_exit(Instant::now() + DRAIN_GRACE) {
                Some(Status::Exited { code: Some(c), .. }) => Exit::Code(c),
                Some(Status::Exited { signal: Some(s), .. }) => Exit::Signal(s),
                _ => match helper_status {
                    Some(s) if s.code().is_some() => Exit::Code(s.code().unwrap_or(-1)),
                    Some(s) => Exit::Signal(s.signal().unwrap_or(0)),
                    None => Exit::Code(-1),
                },
            },
        };
        Outcome {
            exit,
            duration: self.start.elapsed(),
            layers: std::mem::take(&mut self.layers),
            limits: Default::default(),
        }
    }
}

/// The pid a pidfd refers to, from /proc/self/fdinfo.
fn fd_pid(fd: &OwnedFd) -> Option<i32> {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).ok()?;
    info.lines().find_map(|l| l.strip_prefix("Pid:")).and_then(|p| p.trim().parse().ok()).filter(|p: &i32| *p > 0)
}

impl Sandbox {
    /// How many processes live in the PID namespace whose init codebox sees as `init_pid`. Read on the
    /// spawner thread: codebox's own confined threads may not inspect processes outside their landlock domain.
    pub fn namespace_size(&self, init_pid: i32) -> Option<usize> {
        self.spawner().run(move || {
            use std::os::unix::fs::MetadataExt;
            let ns = std::fs::metadata(format!("/proc/{init_pid}/ns/pid")).ok()?;
            let mut n = 0;
            for e in std::fs::read_dir("/proc").ok()?.flatten() {
                let name = e.file_name();
                if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
                    continue;
                }
                if let Ok(m) = std::fs::metadata(e.path().join("ns/pid"))
                    && m.ino() == ns.ino()
                    && m.dev() == ns.dev()
                {
                    n += 1;
                }
            }
            Some(n)
        })
    }
}

/// The network namespace all commands and jobs of one session share: loopback only, so a server started as a
/// job is reachable from the session's later commands and from nothing else. Held as namespace fds; it is gone
/// when they close and its last process exits.
pub struct SessionNet {
    user: OwnedFd,
    net: OwnedFd,
    /// With the proxy on: the keeper that forwards 127.0.0.1:<port> inside the namespace to the proxy.
    forwarder: Option<(std::process::Child, u16)>,
}

impl SessionNet {
    /// The loopback port on which the session's commands reach the proxy.
    pub fn proxy_port(&self) -> Option<u16> {
        self.forwarder.as_ref().map(|(_, p)| *p)
    }
}

impl Drop for SessionNet {
    fn drop(&mut self) {
        if let Some((child, _)) = &mut self.forwarder {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Sandbox {
    /// A fresh session network, or None when runs do not need one (sandbox off, or the host's network).
    pub fn session_net(&self) -> Result<Option<SessionNet>, String> {
        if self.is_off() || self.settings().network == crate::config::NetworkMode::Host {
            return Ok(None);
        }
        let mut spec = Spec::keeper(self.settings().mode == crate::config::SandboxMode::Strict);
        spec.proxy_socket = self.proxy_socket().map(Path::to_path_buf);
        let json = serde_json::to_string(&spec).map_err(|e| format!("cannot encode the sandbox spec: {e}"))?;
        let (exe, helper_arg) = self.helper();
        self.spawner().run(move || {
            let (status_r, status_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(|e| format!("cannot create the status pipe: {e}"))?;
            let mut cmd = Command::new(exe);
            cmd.args(helper_arg).env_clear().env(SPEC_VAR, json);
            cmd.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null());
            let w = status_w.as_raw_fd();
            // SAFETY: dup2 is async-signal-safe.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::dup2(w, STATUS_FD) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            let mut child = cmd.spawn().map_err(|e| format!("cannot start the sandbox helper: {e}"))?;
            drop(status_w);
            let mut status = StatusReader::new(status_r);
            let deadline = Instant::now() + START_TIMEOUT;
            let mut first = status.next(deadline);
            let mut port = None;
            if let Some(Status::Forwarding { port: p }) = first {
                port = Some(p);
                first = status.next(deadline);
            }
            let opened = match first {
                Some(Status::Started { .. }) => {
                    let ns = |kind: &str| {
                        std::fs::File::open(format!("/proc/{}/ns/{kind}", child.id()))
                            .map(OwnedFd::from)
                            .map_err(|e| format!("cannot open the session's {kind} namespace: {e}"))
                    };
                    ns("user").and_then(|user| Ok((user, ns("net")?)))
                }
                Some(Status::Refused { reason, .. }) => Err(reason),
                other => Err(format!("the network namespace helper failed ({other:?})")),
            };
            match (opened, port) {
                // The keeper stays: it is the session's way to the proxy.
                (Ok((user, net)), Some(port)) => Ok(Some(SessionNet { user, net, forwarder: Some((child, port)) })),
                (opened, _) => {
                    // The namespaces live on through the fds; the helper's work is done.
                    let _ = child.kill();
                    let _ = child.wait();
                    opened.map(|(user, net)| Some(SessionNet { user, net, forwarder: None }))
                }
            }
        })
    }
}

/// Waits for a child at most `grace`, then kills it and reaps it. The helper exits once everything in its
/// namespace is gone, so returning from here means nothing of the command still runs.
fn wait_bounded(child: &mut std::process::Child, grace: Duration) -> Option<std::process::ExitStatus> {
    // SAFETY: pidfd_open on our own child's pid; the fd is wrapped at once.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id() as libc::pid_t, 0) };
    if fd >= 0 {
        // SAFETY: fd is a fresh pidfd we own.
        let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let mut p = libc::pollfd { fd: pidfd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let ms = grace.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut p, 1, ms) } == 0 {
            let _ = child.kill();
        }
    }
    child.wait().ok()
}

fn refusal(reason: String) -> Refusal {
    Refusal { reason, layers: Vec::new() }
}

/// Drains both pipes to EOF with bounded memory (the sink decides what to keep), so the child never blocks on a
/// full pipe. On timeout or cancellation it calls `kill` once and keeps draining briefly.
fn pump(
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    deadline: Option<Instant>,
    cancel: &dyn Cancelled,
    sink: &mut dyn FnMut(Stream, &[u8]),
    kill: impl Fn(),
) -> Ended {
    let mut fds: Vec<(OwnedFd, Stream)> = Vec::new();
    fds.extend(stdout.map(|f| (f, Stream::Stdout)));
    fds.extend(stderr.map(|f| (f, Stream::Stderr)));
    let mut buf = vec![0u8; 64 << 10];
    let mut ended: Option<(Ended, Instant)> = None;
    while !fds.is_empty() {
        let now = Instant::now();
        if ended.is_none() {
            if cancel.cancelled() {
                kill();
                ended = Some((Ended::Cancelled, now + DRAIN_GRACE));
            } else if deadline.is_some_and(|d| now >= d) {
                kill();
                ended = Some((Ended::TimedOut, now + DRAIN_GRACE));
            }
        }
        if let Some((_, grace)) = &ended
            && now >= *grace
        {
            break;
        }
        let mut pfds: Vec<libc::pollfd> =
            fds.iter().map(|(f, _)| libc::pollfd { fd: f.as_raw_fd(), events: libc::POLLIN, revents: 0 }).collect();
        // SAFETY: pfds is a valid array of pollfd for the duration of the call.
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, POLL_TICK_MS) };
        if n <= 0 {
            continue;
        }
        let mut closed = Vec::new();
        for (i, p) in pfds.iter().enumerate() {
            if p.revents == 0 {
                continue;
            }
            // SAFETY: reading into a buffer we own from an fd we own.
            let r = unsafe { libc::read(p.fd, buf.as_mut_ptr().cast(), buf.len()) };
            if r > 0 {
                sink(fds[i].1, &buf[..r as usize]);
            } else if r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                closed.push(i);
            }
        }
        for i in closed.into_iter().rev() {
            fds.remove(i);
        }
    }
    ended.map(|(e, _)| e).unwrap_or(Ended::Eof)
}

/// Reads JSON status lines from the helper, waiting at most until a deadline.
struct StatusReader {
    fd: OwnedFd,
    buf: Vec<u8>,
}

impl StatusReader {
    fn new(fd: OwnedFd) -> Self {
        StatusReader { fd, buf: Vec::new() }
    }

    /// The helper's exit report, skipping a late Forked line.
    fn next_exit(&mut self, deadline: Instant) -> Option<Status> {
        loop {
            match self.next(deadline) {
                Some(Status::Forked { .. }) => continue,
                other => return other,
            }
        }
    }

    fn next(&mut self, deadline: Instant) -> Option<Status> {
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return serde_json::from_slice(&line).ok();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let mut p = libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            let ms = left.as_millis().min(i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd.
            if unsafe { libc::poll(&mut p, 1, ms) } <= 0 {
                continue;
            }
            let mut chunk = [0u8; 4096];
            // SAFETY: reading into a local buffer from an fd we own.
            let r = unsafe { libc::read(self.fd.as_raw_fd(), chunk.as_mut_ptr().cast(), chunk.len()) };
            if r <= 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..r as usize]);
        }
    }
}

/// Writes one status line on the status pipe (helper and init side).
fn send_status(status: &Status) {
    let mut line = serde_json::to_vec(status).unwrap_or_default();
    line.push(b'\n');
    // SAFETY: STATUS_FD is the inherited status pipe (or closed, and the write fails harmlessly).
    let f = unsafe { std::fs::File::from_raw_fd(STATUS_FD) };
    let _ = std::io::Write::write_all(&mut &f, &line);
    std::mem::forget(f);
}
