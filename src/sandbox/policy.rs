//! From configuration to what a run needs: the toolchain directories commands may use, the environment they get,
//! and the limits. Computed once at start.

use std::path::{Path, PathBuf};

use super::{Lifetime, Rlimits, Role, Run, Spec};
use crate::config::{SandboxMode, SandboxSettings};

/// System directories every command may read and execute from.
const SYSTEM_DIRS: &[&str] =
    &["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/nix/store"];
/// Variables passed through from codebox's environment when set: toolchains need them to find themselves.
const TOOLCHAIN_VARS: &[&str] = &[
    "CARGO_HOME",
    "RUSTUP_HOME",
    "RUSTUP_TOOLCHAIN",
    "PYENV_ROOT",
    "PYENV_VERSION",
    "VIRTUAL_ENV",
    "GOROOT",
    "GOPATH",
    "GOFLAGS",
    "GOTOOLCHAIN",
    "NVM_DIR",
    "NODE_PATH",
    "JAVA_HOME",
    "LANG",
    "LC_ALL",
    "TZ",
];
/// Under CARGO_HOME only these are bound back: `credentials.toml` holds registry tokens and stays hidden.
const CARGO_HOME_PARTS: &[&str] = &["bin", "registry", "git", "config.toml", "config", "env"];

pub struct Sandbox {
    settings: SandboxSettings,
    mode: SandboxMode,
    workspace: PathBuf,
    home: Option<PathBuf>,
    rebind: Vec<PathBuf>,
    read_exec: Vec<PathBuf>,
    protected: Vec<PathBuf>,
    base_env: Vec<(String, String)>,
    spawner: std::sync::Arc<super::spawner::Spawner>,
    /// `codebox-sandbox` beside this binary, when installed; else this binary with `__sandbox`.
    helper_bin: Option<PathBuf>,
    /// With `network = "proxy"`: the proxy's unix socket, which each session's forwarder connects to.
    proxy_socket: Option<PathBuf>,
    /// Root-only files under /etc, hidden inside (when codebox runs as root: uid 0 inside could read them).
    /// Found on the first run, not at start.
    masked: std::sync::OnceLock<Vec<PathBuf>>,
    /// Where each run's cgroup goes, or why there is none.
    cgroups: Result<super::cgroup::Hierarchy, String>,
    /// Numbers the runs' cgroups.
    runs: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// False for a sandbox derived with `for_root`: the first one removes codebox's cgroup subtree when dropped.
    owns_cgroups: bool,
}

impl Drop for Sandbox {
    /// codebox's cgroup subtree goes with it.
    fn drop(&mut self) {
        if !self.owns_cgroups {
            return;
        }
        if let Ok(h) = &self.cgroups {
            let h = h.clone();
            self.spawner.run(move || h.remove_base());
        }
    }
}

impl Sandbox {
    /// `settings.mode` is the effective mode (the command line's `--sandbox` applied). `proxy_socket`: where the
    /// network proxy listens, when `network = "proxy"`.
    pub fn new(settings: &SandboxSettings, workspace: &Path, proxy_socket: Option<PathBuf>) -> Sandbox {
        let mode = settings.mode;
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let home = env("HOME").map(PathBuf::from).filter(|h| h.is_dir() && h != Path::new("/"));
        let path = env("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());

        let mut read_exec: Vec<PathBuf> = SYSTEM_DIRS.iter().map(PathBuf::from).filter(|p| p.exists()).collect();
        let mut rebind: Vec<PathBuf> = Vec::new();
        let mut add_tool_dir = |dir: PathBuf, read_exec: &mut Vec<PathBuf>| {
            if !dir.exists() || read_exec.iter().any(|p| dir.starts_with(p)) {
                return;
            }
            if let Some(h) = &home
                && dir.starts_with(h)
            {
                // Under the hidden home, the directory must be bound back. A toolchain's root (~/.pyenv, ~/.rustup)
                // is taken whole, except CARGO_HOME, of which only the parts that hold no secrets return.
                let top =
                    h.join(dir.strip_prefix(h).unwrap().components().next().map(|c| c.as_os_str()).unwrap_or_default());
                let cargo_home = env("CARGO_HOME").map(PathBuf::from).unwrap_or_else(|| h.join(".cargo"));
                // Any cargo home (the configured one or ~/.cargo) may hold credentials.toml.
                let is_cargo_home = top == cargo_home || top.file_name().is_some_and(|n| n == ".cargo");
                let parts: Vec<PathBuf> = if is_cargo_home {
                    CARGO_HOME_PARTS.iter().map(|p| top.join(p)).filter(|p| p.exists()).collect()
                } else {
                    vec![top]
                };
                for p in parts {
                    if !rebind.contains(&p) {
                        rebind.push(p.clone());
                        read_exec.push(p);
                    }
                }
            } else {
                read_exec.push(dir);
            }
        };
        for dir in std::env::split_paths(&path) {
            if dir.is_absolute() && !dir.starts_with(workspace) {
                add_tool_dir(dir, &mut read_exec);
            }
        }
        for var in ["CARGO_HOME", "RUSTUP_HOME", "PYENV_ROOT", "GOROOT", "GOPATH", "NVM_DIR", "JAVA_HOME"] {
            if let Some(v) = env(var) {
                add_tool_dir(PathBuf::from(v), &mut read_exec);
            }
        }
        if let Some(h) = &home {
            for default in [".rustup", ".cargo", ".pyenv"] {
                add_tool_dir(h.join(default), &mut read_exec);
            }
        }
        for extra in &settings.read_exec {
            add_tool_dir(extra.clone(), &mut read_exec);
        }

        let mut base_env: Vec<(String, String)> = vec![("PATH".into(), path), ("TERM".into(), "dumb".into())];
        if let Some(h) = &home {
            base_env.push(("HOME".into(), h.display().to_string()));
        }
        for var in TOOLCHAIN_VARS.iter().copied().chain(settings.env.iter().map(String::as_str)) {
            if let Some(v) = env(var) {
                base_env.push((var.to_string(), v));
            }
        }
        // Toolchains under the hidden home must be found where they were, whatever HOME now holds.
        if let Some(h) = &home {
            for (var, dir) in [("CARGO_HOME", ".cargo"), ("RUSTUP_HOME", ".rustup")] {
                if env(var).is_none() && h.join(dir).is_dir() {
                    base_env.push((var.to_string(), h.join(dir).display().to_string()));
                }
            }
        }
        if env("LANG").is_none() {
            base_env.push(("LANG".into(), "C.UTF-8".into()));
        }
        let protected = settings.protected.iter().map(|p| workspace.join(p)).collect();
        let cgroups = if mode == SandboxMode::Off {
            Err("the sandbox is off".to_string())
        } else {
            super::cgroup::Hierarchy::detect()
        };
        if let Err(why) = &cgroups {
            tracing::info!("no cgroup per command: {why}");
        }
        Sandbox {
            settings: settings.clone(),
            mode,
            workspace: workspace.to_path_buf(),
            home,
            rebind,
            read_exec,
            protected,
            masked: std::sync::OnceLock::new(),
            cgroups,
            runs: Default::default(),
            base_env,
            spawner: std::sync::Arc::new(super::spawner::Spawner::start()),
            helper_bin: std::env::current_exe()
                .ok()
                .and_then(|e| e.parent().map(|d| d.join("codebox-sandbox")))
                .filter(|p| p.is_file()),
            proxy_socket,
            owns_cgroups: true,
        }
    }

    /// The same policy over another root (a workspace's checkout), sharing this sandbox's spawner thread (made
    /// before codebox confined itself) and cgroup hierarchy. `read_only`: host directories shown read-only inside,
    /// at their own path (the main repository's object store a checkout borrows); `env`: variables every run gets
    /// (the workspace's `PORT` range).
    pub fn for_root(&self, workspace: &Path, read_only: &[PathBuf], env: &[(String, String)]) -> Sandbox {
        let mut read_exec = self.read_exec.clone();
        let mut rebind = self.rebind.clone();
        for p in read_only {
            if !read_exec.contains(p) {
                read_exec.push(p.clone());
            }
            // Bound after the private tmpfs mounts (home, /tmp), which would otherwise hide it.
            if !rebind.contains(p) {
                rebind.push(p.clone());
            }
        }
        let mut base_env = self.base_env.clone();
        for (k, v) in env {
            base_env.retain(|(ek, _)| ek != k);
            base_env.push((k.clone(), v.clone()));
        }
        Sandbox {
            settings: self.settings.clone(),
            mode: self.mode,
            workspace: workspace.to_path_buf(),
            home: self.home.clone(),
            rebind,
            read_exec,
            protected: self.settings.protected.iter().map(|p| workspace.join(p)).collect(),
            base_env,
            spawner: self.spawner.clone(),
            helper_bin: self.helper_bin.clone(),
            proxy_socket: self.proxy_socket.clone(),
            masked: self.masked.clone(),
            cgroups: self.cgroups.clone(),
            // Run cgroups share one parent, so one counter names them all.
            runs: self.runs.clone(),
            owns_cgroups: false,
        }
    }

    /// The root this sandbox shows read-write.
    pub fn root(&self) -> &Path {
        &self.workspace
    }

    pub(super) fn proxy_socket(&self) -> Option<&Path> {
        self.proxy_socket.as_deref()
    }

    pub(super) fn cgroups(&self) -> Result<&super::cgroup::Hierarchy, &str> {
        self.cgroups.as_ref().map_err(String::as_str)
    }

    /// A fresh name for a run's cgroup.
    pub(super) fn next_run_name(&self) -> String {
        format!("run-{}", self.runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }

    /// The limits a run's cgroup gets.
    pub(super) fn cgroup_limits(&self) -> super::cgroup::Limits {
        super::cgroup::Limits {
            memory_bytes: self.settings.memory_bytes,
            processes: self.settings.max_processes,
            cpus: self.settings.cpus,
        }
    }

    /// The program and arguments that start the sandbox helper.
    pub(super) fn helper(&self) -> (PathBuf, Option<&'static str>) {
        match &self.helper_bin {
            Some(p) => (p.clone(), None),
            // /proc/self/exe names this very binary even if the file on disk was replaced since start.
            None => (PathBuf::from("/proc/self/exe"), Some(super::HELPER_ARG)),
        }
    }

    pub(super) fn spawner(&self) -> &super::spawner::Spawner {
        &self.spawner
    }

    pub(super) fn spawner_handle(&self) -> std::sync::Arc<super::spawner::Spawner> {
        self.spawner.clone()
    }

    pub fn is_off(&self) -> bool {
        self.mode == SandboxMode::Off
    }

    pub fn mode(&self) -> SandboxMode {
        self.mode
    }

    pub fn settings(&self) -> &SandboxSettings {
        &self.settings
    }

    /// The environment a command gets: the allowlist, then the call's own additions.
    pub fn env(&self, extra: &[(String, String)]) -> Vec<(String, String)> {
        let mut env = self.base_env.clone();
        for (k, v) in extra {
            env.retain(|(ek, _)| ek != k);
            env.push((k.clone(), v.clone()));
        }
        env
    }

    pub(super) fn spec(&self, run: &Run<'_>) -> Spec {
        let s = &self.settings;
        // The workspace itself is pinned (bound onto itself) so `.git` cannot be renamed away and replaced.
        let mut protected: Vec<PathBuf> = Vec::new();
        for p in &self.protected {
            if let Some(parent) = p.parent()
                && parent != self.workspace
                && parent.exists()
                && !protected.contains(&parent.to_path_buf())
            {
                protected.push(parent.to_path_buf());
            }
        }
        protected.extend(self.protected.iter().filter(|p| p.exists()).cloned());
        let mut env = self.env(run.extra_env);
        if let (Some(port), Some(token)) = (run.net.and_then(|n| n.proxy_port()), run.proxy_token) {
            proxy_env(&mut env, port, token);
        }
        Spec {
            argv: run.argv.clone(),
            cwd: run.cwd.clone(),
            env,
            workspace: self.workspace.clone(),
            home: self.home.clone(),
            rebind: self.rebind.clone(),
            read_exec: self.read_exec.clone(),
            protected,
            masked: self
                .masked
                .get_or_init(|| {
                    if nix::unistd::geteuid().is_root() { root_only_files(Path::new("/etc")) } else { Vec::new() }
                })
                .clone(),
            network: s.network == crate::config::NetworkMode::Host,
            strict: self.mode == SandboxMode::Strict,
            report_dir: run.report_dir.clone(),
            join_session_net: run.net.is_some(),
            role: Role::Command,
            proxy_socket: None,
            rlimits: Rlimits {
                address_space: s.memory_bytes,
                file_size: s.file_size_bytes,
                processes: s.max_processes,
                open_files: s.open_files,
                cpu_secs: match run.lifetime {
                    // CPU seconds bound runaway spinning even if the wall clock is stopped (SIGSTOP'd codebox).
                    Lifetime::Call => run.timeout.as_secs().saturating_mul(2).max(10),
                    // A job's CPU is unlimited unless configured: servers idle for hours, watchers wake now and then.
                    Lifetime::Job { cpu_secs } => cpu_secs.unwrap_or(libc::RLIM_INFINITY),
                },
            },
        }
    }
}

/// What makes programs use the proxy: the standard variables in both cases (curl reads only the lowercase
/// `http_proxy`), `NO_PROXY` for loopback so a session's own servers are reached directly, and the settings of
/// tools that read their own (npm, cargo). The credentials in the URL are this run's own.
fn proxy_env(env: &mut Vec<(String, String)>, port: u16, token: &str) {
    let url = format!("http://{}:{token}@127.0.0.1:{port}", crate::proxy::USER);
    let no_proxy = "localhost,127.0.0.1,::1";
    let vars = [
        ("http_proxy", url.as_str()),
        ("HTTP_PROXY", url.as_str()),
        ("https_proxy", url.as_str()),
        ("HTTPS_PROXY", url.as_str()),
        ("all_proxy", url.as_str()),
        ("ALL_PROXY", url.as_str()),
        ("no_proxy", no_proxy),
        ("NO_PROXY", no_proxy),
        ("npm_config_proxy", url.as_str()),
        ("npm_config_https_proxy", url.as_str()),
        ("CARGO_HTTP_PROXY", url.as_str()),
    ];
    for (k, v) in vars {
        // These win over inherited or requested values: the proxy is the only way out anyway.
        env.retain(|(ek, _)| ek != k);
        env.push((k.to_string(), v.to_string()));
    }
}

/// Files and directories under `dir` that other users may not read: /etc/shadow, SSH host keys, sudoers, private
/// key directories. Symlinks are not followed; the walk is bounded.
fn root_only_files(dir: &Path) -> Vec<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    const MAX_ENTRIES: usize = 20_000;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut seen = 0;
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            seen += 1;
            if seen > MAX_ENTRIES {
                return out;
            }
            let Ok(md) = e.path().symlink_metadata() else { continue };
            let mode = md.permissions().mode();
            if md.is_dir() {
                if mode & 0o005 != 0o005 {
                    out.push(e.path());
                } else {
                    stack.push(e.path());
                }
            } else if md.is_file() && mode & 0o004 == 0 {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}
