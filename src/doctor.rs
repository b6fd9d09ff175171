//! What this machine offers for confinement, probed for real (a forked child tries each layer), and what codebox
//! will enforce. `codebox doctor` prints it; the sandbox reads the same probes when it decides what it can apply.

use std::path::Path;

use crate::workspace::{Resolver, Workspace};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Available and enforced by codebox under the current policy.
    Enforced(String),
    /// Available; codebox does not use it yet under this policy.
    Available(String),
    /// Missing; the text says why and what to change.
    Missing(String),
}

#[derive(Debug, Clone)]
pub struct Layer {
    pub name: String,
    pub status: Status,
    /// True when the current policy needs this layer, so its absence makes doctor fail.
    pub required: bool,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub layers: Vec<Layer>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.layers.iter().all(|l| !l.required || !matches!(l.status, Status::Missing(_)))
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for l in &self.layers {
            let (word, text) = match &l.status {
                Status::Enforced(t) => ("enforced", t),
                Status::Available(t) => ("available", t),
                Status::Missing(t) => (if l.required { "MISSING (required)" } else { "missing" }, t),
            };
            out.push_str(&format!("{:<18} {:<20} {}\n", l.name, word, text));
        }
        out.push_str(if self.ok() {
            "\nok: every layer the policy asks for can be enforced\n"
        } else {
            "\nFAIL: the policy asks for a layer this machine cannot enforce (see above)\n"
        });
        out
    }
}

/// Probes every layer under the given sandbox settings. `root` is the workspace the server would serve.
pub fn probe(root: &Path, settings: &crate::config::SandboxSettings) -> Report {
    let path_confinement = Layer {
        name: "path confinement".into(),
        required: true,
        status: match Workspace::open(root) {
            Ok(ws) => match ws.resolver() {
                Resolver::Openat2 => Status::Enforced("openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)".into()),
                Resolver::Walk => Status::Enforced(
                    "no openat2 on this kernel (needs Linux 5.6+): component walk with O_NOFOLLOW, same semantics"
                        .into(),
                ),
            },
            Err(e) => Status::Missing(e),
        },
    };
    let mut layers = vec![path_confinement];
    layers.push(Layer { name: "landlock".into(), required: false, status: landlock_status() });
    layers.push(Layer {
        name: "user namespaces".into(),
        required: false,
        status: in_child("user namespaces", try_userns),
    });
    layers.push(Layer { name: "seccomp filter".into(), required: false, status: in_child("seccomp", try_seccomp) });
    let strict = settings.mode == crate::config::SandboxMode::Strict;
    if let Ok(ws) = Workspace::open(root) {
        layers.extend(command_layers(&ws, settings, strict));
        let ws_root = ws.root().to_path_buf();
        let own =
            std::thread::spawn(move || crate::sandbox::self_confine::confine_self(&ws_root, &[std::env::temp_dir()]))
                .join()
                .unwrap_or_else(|_| Err("the probe thread panicked".into()));
        layers.push(Layer {
            name: "self-confinement".into(),
            required: strict,
            status: match own {
                Ok(d) => Status::Enforced(d),
                Err(e) => Status::Missing(format!("{e}; codebox's own threads would run unconfined")),
            },
        });
    }
    layers.push(network_layer(settings));
    layers.push(cgroup_layer(strict));
    if let Some(runtime) = container() {
        for l in &mut layers {
            if let Status::Missing(text) = &mut l.status
                && let Some(flag) = container_fix(&l.name, text)
            {
                text.push_str(&format!(". In a container: {flag}"));
            }
        }
        layers.insert(
            0,
            Layer {
                name: "container".into(),
                required: false,
                status: Status::Available(format!(
                    "{runtime}: the run flags under which every layer holds are in deploy/container/README.md"
                )),
            },
        );
    }
    Report { layers }
}

/// The container runtime codebox runs under, if it can tell: podman and Docker leave a marker file, Kubernetes
/// sets its service variables, and systemd-style runtimes set `container`.
fn container() -> Option<String> {
    let kubernetes = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
    let runtime = if Path::new("/run/.containerenv").exists() {
        Some("podman")
    } else if Path::new("/.dockerenv").exists() {
        Some("Docker")
    } else {
        None
    };
    match (kubernetes, runtime) {
        (true, _) => Some("in a Kubernetes pod".into()),
        (false, Some(r)) => Some(format!("in a {r} container")),
        (false, None) => {
            std::env::var("container").ok().filter(|v| !v.is_empty()).map(|v| format!("in a {v} container"))
        }
    }
}

/// The run flag (podman/Docker) and pod setting (Kubernetes) that gives a container what a missing layer needs.
fn container_fix(layer: &str, detail: &str) -> Option<&'static str> {
    let eperm = detail.contains("Operation not permitted");
    match layer {
        // A fresh procfs may be mounted only where the container's /proc is fully visible (the kernel's
        // mount_too_revealing check): the runtime's masks over /proc/kcore, /proc/sys and the like forbid it.
        "cmd: proc" => Some(
            "the runtime masks parts of /proc, which forbids mounting a fresh one: podman run --security-opt \
             unmask=/proc/*, docker run --security-opt systempaths=unconfined, Kubernetes securityContext.procMount: \
             Unmasked (with hostUsers: false)",
        ),
        "user namespaces" | "cmd: namespaces" if detail.contains("No space left") => Some(
            "the node allows no user namespaces (sysctl user.max_user_namespaces=0): raise it on the host; no \
             container flag can",
        ),
        "user namespaces" | "cmd: namespaces" | "cmd: sandbox"
            if eperm && (detail.contains("namespace") || detail.contains("unshare")) =>
        {
            Some(
                "the runtime's seccomp profile forbids unshare without CAP_SYS_ADMIN (Docker's and containerd's \
             default): run with a profile from deploy/container/seccomp-profile (--security-opt seccomp=FILE, \
             Kubernetes seccompProfile type Localhost), or podman's default profile, which allows it",
            )
        }
        "cmd: root" | "cmd: filesystem" if detail.contains("Permission denied") => Some(
            "an AppArmor profile forbids mount and pivot_root (docker-default): --security-opt apparmor=unconfined, \
             Kubernetes securityContext.appArmorProfile type Unconfined",
        ),
        "landlock" | "cmd: landlock" => Some(
            "the node's kernel lacks landlock, or the runtime's seccomp profile predates it and answers ENOSYS: run \
             with a profile from deploy/container/seccomp-profile",
        ),
        "cmd: cgroup" | "cgroups" if nix::unistd::geteuid().is_root() => Some(
            "the container's cgroup filesystem is read-only to codebox: run as the image's non-root user (the \
             default; RLIMIT_NPROC and RLIMIT_AS then bound each command, and the container's own --memory and \
             --pids-limit bound them all)",
        ),
        _ => None,
    }
}

/// Whether each command can get a cgroup (memory, pids, cpu); as root in strict mode it is required, because
/// RLIMIT_NPROC does not bound root.
fn cgroup_layer(strict: bool) -> Layer {
    let root = nix::unistd::geteuid().is_root();
    let status = match crate::sandbox::cgroup::Hierarchy::detect() {
        Ok(h) => {
            h.remove_base();
            Status::Enforced(format!(
                "{}: memory (no swap), processes and CPU bounded per command and job",
                h.describe()
            ))
        }
        Err(why) if root => Status::Missing(format!("{why}; as root nothing else bounds a command's processes")),
        Err(why) => Status::Missing(format!("{why}; RLIMIT_NPROC and RLIMIT_AS bound each command instead")),
    };
    Layer { name: "cgroups".into(), required: strict && root, status }
}

/// What network commands get under this configuration, and whether the proxy's rules are valid.
fn network_layer(settings: &crate::config::SandboxSettings) -> Layer {
    use crate::config::NetworkMode;
    let p = &settings.proxy;
    let status = match settings.network {
        NetworkMode::Off => Status::Enforced("off: each session's commands share a loopback-only network".into()),
        NetworkMode::Host => Status::Available(
            "HOST: commands reach everything this machine can (network = \"host\"); \"proxy\" allows only listed hosts"
                .into(),
        ),
        NetworkMode::Proxy => match crate::proxy::rules::Rules::from_settings(p) {
            Ok(_) if p.allow.is_empty() => Status::Enforced(
                "proxy with an empty allow list: every request is refused; list hosts in [sandbox.proxy] allow".into(),
            ),
            Ok(_) => Status::Enforced(format!(
                "proxy: HTTP(S) to {} allow rule(s) ({}), {} deny rule(s), {} static name(s); everything else refused",
                p.allow.len(),
                p.allow.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
                p.deny.len(),
                p.hosts.len()
            )),
            Err(e) => Status::Missing(e),
        },
    };
    Layer { name: "network".into(), required: true, status }
}

/// Runs `true` through the command sandbox and reports each layer as it was applied.
fn command_layers(ws: &Workspace, settings: &crate::config::SandboxSettings, strict: bool) -> Vec<Layer> {
    let sandbox = crate::sandbox::Sandbox::new(settings, ws.root(), None);
    let run = crate::sandbox::Run {
        argv: vec!["true".into()],
        report_dir: None,
        cwd: ws.root().to_path_buf(),
        extra_env: &[],
        timeout: std::time::Duration::from_secs(30),
        net: None,
        proxy_token: None,
        lifetime: crate::sandbox::Lifetime::Call,
    };
    struct Never;
    impl crate::sandbox::Cancelled for Never {
        fn cancelled(&self) -> bool {
            false
        }
    }
    // As for the machine's cgroups: strict mode refuses a command without its cgroup only as root (see
    // cgroup_layer); any other user's commands are bounded by rlimits.
    let root = nix::unistd::geteuid().is_root();
    let to_layer = |l: &crate::sandbox::Layer| Layer {
        name: format!("cmd: {}", l.name),
        required: strict && (l.name != "cgroup" || root),
        status: if l.enforced { Status::Enforced(l.detail.clone()) } else { Status::Missing(l.detail.clone()) },
    };
    match sandbox.run(&run, &Never, &mut |_, _| {}) {
        Ok(o) => o.layers.iter().map(to_layer).collect(),
        Err(r) => {
            let mut v: Vec<Layer> = r.layers.iter().map(to_layer).collect();
            v.push(Layer { name: "cmd: sandbox".into(), required: true, status: Status::Missing(r.reason) });
            v
        }
    }
}

fn landlock_status() -> Status {
    match crate::sandbox::landlock_abi() {
        0 => Status::Missing(
            "kernel has no landlock, or it is not in the lsm= boot list (CONFIG_SECURITY_LANDLOCK, lsm=landlock,…)"
                .into(),
        ),
        abi => Status::Available(format!("ABI {abi}; applied to commands by run_command's sandbox")),
    }
}

/// Runs `f` in a forked child so a probe that changes process state (namespaces, filters) leaves codebox alone.
/// `f` returns 0 on success or an errno.
fn in_child(what: &str, f: fn() -> i32) -> Status {
    // SAFETY: the child calls only async-signal-safe functions (unshare, prctl, syscall, _exit).
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            let code = f();
            // SAFETY: _exit ends the forked child without running the parent's destructors or atexit handlers.
            unsafe { libc::_exit(code.clamp(0, 255)) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => match nix::sys::wait::waitpid(child, None) {
            Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => Status::Available("probed in a child process".into()),
            Ok(nix::sys::wait::WaitStatus::Exited(_, e)) => {
                Status::Missing(format!("{what} refused: {} ({})", nix::errno::Errno::from_raw(e).desc(), hint(what)))
            }
            other => Status::Missing(format!("{what} probe ended abnormally: {other:?}")),
        },
        Err(e) => Status::Missing(format!("cannot fork to probe {what}: {e}")),
    }
}

fn hint(what: &str) -> &'static str {
    match what {
        "user namespaces" => {
            "enable kernel.unprivileged_userns_clone=1 / user.max_user_namespaces>0; in a container, a seccomp profile \
             allowing unshare (deploy/container/seccomp-profile makes one)"
        }
        _ => "needs CONFIG_SECCOMP_FILTER; in a container, the runtime's own filter may forbid nested filters",
    }
}

fn try_userns() -> i32 {
    let flags = libc::CLONE_NEWUSER
        | libc::CLONE_NEWNS
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWNET
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWUTS;
    // SAFETY: plain syscall in a forked child.
    if unsafe { libc::unshare(flags) } == 0 { 0 } else { nix::errno::Errno::last_raw() }
}

fn try_seccomp() -> i32 {
    // An allow-everything filter: one BPF instruction returning SECCOMP_RET_ALLOW.
    let filter =
        [libc::sock_filter { code: (libc::BPF_RET | libc::BPF_K) as u16, jt: 0, jf: 0, k: libc::SECCOMP_RET_ALLOW }];
    let prog = libc::sock_fprog { len: 1, filter: filter.as_ptr() as *mut _ };
    // SAFETY: prctl/seccomp with valid pointers, in a forked child.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return nix::errno::Errno::last_raw();
        }
        if libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, 0, &prog as *const _) != 0 {
            return nix::errno::Errno::last_raw();
        }
    }
    0
}
