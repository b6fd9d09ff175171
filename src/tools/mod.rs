//! Tool implementations: domain arguments in, domain results out. No MCP types here; `src/server` adapts.

pub(crate) mod capture;
pub(crate) mod command;
pub(crate) mod edit;
pub(crate) mod git;
pub(crate) mod jobs;
pub(crate) mod list;
pub(crate) mod network;
pub(crate) mod output_tool;
pub(crate) mod patch;
pub(crate) mod read;
pub(crate) mod run_tests;
pub(crate) mod search;
pub(crate) mod symbols;
pub(crate) mod ws;

use std::sync::Arc;

use crate::config::Config;
use crate::output::OutputPolicy;
use crate::spill::SpillStore;
use crate::workspace::Workspace;

/// What every tool may use. Cheap to clone; shared by all sessions of one server.
#[derive(Clone)]
pub struct Context {
    pub ws: Arc<Workspace>,
    pub config: Arc<Config>,
    pub output: Arc<OutputPolicy>,
    pub spill: Arc<SpillStore>,
    pub sandbox: Arc<crate::sandbox::Sandbox>,
    pub history: Arc<crate::history::History>,
    /// Recent failure signatures per test directory, for the repeated-failure signal.
    pub repeats: Arc<std::sync::Mutex<std::collections::HashMap<String, crate::testrun::RepeatTracker>>>,
    /// Name and email for commits, read from the user's git config at start (the sandbox hides it).
    pub git_identity: (String, String),
    /// Parse trees of recently read and edited files, for incremental syntax checks.
    pub trees: Arc<crate::syntax::Trees>,
    /// The private scratch directory (see `new`); dropped with the last clone of the context.
    pub scratch: Arc<tempfile::TempDir>,
    /// The calling client's session: its network namespace and jobs. Not shared between sessions.
    pub session: Arc<crate::session::Session>,
    /// The filtering proxy, with `network = "proxy"`.
    pub proxy: Option<Arc<crate::proxy::Proxy>>,
    /// Definitions and identifier uses per file, for outline, find_symbol, find_references and repo_map.
    pub symbols: Arc<crate::symbols::index::Index>,
    /// The workspace this context serves, when a connection is bound to one (None: the main checkout).
    pub binding: Option<Arc<crate::workspaces::Binding>>,
}

/// The smallest `max_output_chars` a call may ask for (`output.max_chars` in codebox.toml has the same floor).
pub(crate) const MIN_OUTPUT_CHARS: usize = 1000;

impl Context {
    /// The same context for a new client session (fresh network namespace, no jobs).
    pub fn for_new_session(&self) -> Context {
        let session = match &self.binding {
            Some(b) => crate::session::Session::bound(b.attachments.attach()),
            None => Default::default(),
        };
        Context { session: Arc::new(session), ..self.clone() }
    }

    /// The same server over a workspace's checkout: its own root, sandbox (which sees only that checkout and the
    /// object store it borrows read-only), undo history, spilled outputs, caches and test memory.
    pub fn for_workspace(&self, binding: crate::workspaces::Binding) -> Result<Context, String> {
        let store = binding.attachments.store();
        let meta = store.meta(binding.attachments.name())?;
        let ws = Workspace::open(&store.path_of(&meta.name))?;
        let sandbox = store.sandbox_for(&self.sandbox, &meta);
        let out = &self.config.output;
        let spill = SpillStore::new_in(
            crate::spill::SpillLimits {
                max_entry_bytes: out.spill_entry_bytes,
                max_total_bytes: out.spill_total_bytes,
                ..Default::default()
            },
            self.scratch.path().to_path_buf(),
        );
        Ok(Context {
            history: Arc::new(crate::history::History::open(ws.root())),
            ws: Arc::new(ws),
            spill: Arc::new(spill),
            sandbox: Arc::new(sandbox),
            repeats: Default::default(),
            trees: Default::default(),
            session: Default::default(),
            symbols: Default::default(),
            binding: Some(Arc::new(binding)),
            ..self.clone()
        })
    }

    /// The session network a run joins (see `Session::net`).
    pub fn session_net(&self) -> Option<Arc<crate::sandbox::SessionNet>> {
        self.session.net(&self.sandbox)
    }

    /// The character budget for one result: the call's own, capped by the server, else the configured default.
    pub fn budget(&self, requested: Option<usize>) -> crate::error::ToolResult<usize> {
        let o = &self.config.output;
        match requested {
            None => Ok(o.max_chars),
            Some(n) if n < MIN_OUTPUT_CHARS => Err(crate::error::ToolError::invalid(format!(
                "max_output_chars = {n} is too small; use at least {MIN_OUTPUT_CHARS} (default {})",
                o.max_chars
            ))),
            Some(n) => Ok(n.min(o.max_chars_cap)),
        }
    }
}

/// Formats a byte count the way results show it (`output::human_bytes`, the one formatter).
pub(crate) fn human_bytes(n: u64) -> String {
    crate::output::human_bytes(n)
}

/// Cancellation as the domain sees it: a flag the server sets when the client cancels the call.
/// Blocking loops check it between units of work (files, lines), so a cancelled call stops promptly.
#[derive(Clone, Default, Debug)]
pub(crate) struct Cancel(Arc<std::sync::atomic::AtomicBool>);

impl Cancel {
    pub(crate) fn cancel(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    pub(crate) fn is_cancelled(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
    /// The flag itself, for code that takes an `AtomicBool` (the search engine).
    pub(crate) fn flag(&self) -> &std::sync::atomic::AtomicBool {
        &self.0
    }
    pub(crate) fn check(&self) -> crate::error::ToolResult<()> {
        if self.is_cancelled() {
            Err(crate::error::ToolError::new(crate::error::ErrorKind::Cancelled, "cancelled by the client"))
        } else {
            Ok(())
        }
    }
}

impl Context {
    /// Everything the tools share, built once at start from the configuration (`config.sandbox.mode` is the
    /// effective mode: the command line's `--sandbox` already applied).
    pub fn new(config: Config, root: &std::path::Path) -> Result<Context, String> {
        let ws = Workspace::open(root)?;
        let mode = config.sandbox.mode;
        let scratch = scratch_dir()?;
        let proxy = match (config.sandbox.network, mode) {
            (crate::config::NetworkMode::Proxy, m) if m != crate::config::SandboxMode::Off => {
                let rules = crate::proxy::rules::Rules::from_settings(&config.sandbox.proxy)?;
                let proxy = crate::proxy::Proxy::start(rules, &scratch.path().join("proxy.sock"), || {
                    match crate::sandbox::self_confine::confine_proxy() {
                        Ok(detail) => tracing::info!("proxy confinement: {detail}"),
                        Err(why) => tracing::warn!("the network proxy runs without landlock: {why}"),
                    }
                })?;
                Some(Arc::new(proxy))
            }
            _ => None,
        };
        let sandbox =
            crate::sandbox::Sandbox::new(&config.sandbox, ws.root(), proxy.as_ref().map(|p| p.socket().to_path_buf()));
        let root_real = ws.root().to_path_buf();
        let out = &config.output;
        let mut shape = crate::output::OutputConfig { max_chars: out.max_chars, ..Default::default() };
        if let Some(p) = &out.error_patterns {
            shape.error_patterns = p.clone();
        }
        shape.max_line_chars = config.limits.max_line_chars;
        let policy = crate::output::OutputPolicy::new(&shape).map_err(|e| format!("output.error_patterns: {e}"))?;
        let spill = SpillStore::new_in(
            crate::spill::SpillLimits {
                max_entry_bytes: out.spill_entry_bytes,
                max_total_bytes: out.spill_total_bytes,
                ..Default::default()
            },
            scratch.path().to_path_buf(),
        );
        Ok(Context {
            ws: Arc::new(ws),
            config: Arc::new(config),
            output: Arc::new(policy),
            spill: Arc::new(spill),
            sandbox: Arc::new(sandbox),
            history: Arc::new(crate::history::History::open(&root_real)),
            repeats: Default::default(),
            git_identity: git::identity_from_config(),
            trees: Default::default(),
            scratch: Arc::new(scratch),
            session: Default::default(),
            proxy,
            symbols: Default::default(),
            binding: None,
        })
    }
}

/// codebox's own scratch space (spilled outputs, test reports): `$TMPDIR/codebox-<uid>/<pid>-<random>`, private
/// (0700) and removed on exit. The per-user parent, not the scratch directory itself, is what codebox's landlock
/// domain may write: landlock would refuse removing a directory that sits directly in /tmp. Scratch directories
/// of processes that died without cleaning up are removed here, on the next start.
fn scratch_dir() -> Result<tempfile::TempDir, String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let uid = nix::unistd::geteuid().as_raw();
    let parent = std::env::temp_dir().join(format!("codebox-{uid}"));
    match std::fs::DirBuilder::new().mode(0o700).create(&parent) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            return Err(format!("cannot create {}: {e}; set TMPDIR to a writable directory", parent.display()));
        }
        _ => {}
    }
    // Another user could have created the name first, in a shared /tmp: use it only when it is ours and private.
    let meta = std::fs::symlink_metadata(&parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    if !meta.is_dir() || meta.uid() != uid || meta.mode() & 0o077 != 0 {
        return Err(format!(
            "{} is not a private directory owned by uid {uid}; remove it, or set TMPDIR to another directory",
            parent.display()
        ));
    }
    if let Ok(entries) = std::fs::read_dir(&parent) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let pid = name.to_str().and_then(|n| n.split('-').next()).and_then(|p| p.parse::<i32>().ok());
            if pid.is_some_and(crate::workspace::write::process_is_gone) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    tempfile::Builder::new()
        .prefix(&format!("{}-", std::process::id()))
        .tempdir_in(&parent)
        .map_err(|e| format!("cannot create a private temporary directory in {}: {e}", parent.display()))
}

/// What a long call has produced so far, for progress notifications: bytes, and the last complete line.
#[derive(Clone, Default, Debug)]
pub(crate) struct Progress(Arc<std::sync::Mutex<ProgressState>>);

#[derive(Clone, Default, Debug)]
pub(crate) struct ProgressState {
    pub bytes: u64,
    pub last_line: String,
    partial: Vec<u8>,
}

/// The last line is kept to this many bytes: enough to show what a command is doing.
const PROGRESS_LINE_MAX: usize = 200;

impl Progress {
    pub(crate) fn add(&self, bytes: &[u8]) {
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        s.bytes += bytes.len() as u64;
        for &b in bytes {
            if b == b'\n' {
                if !s.partial.is_empty() {
                    s.last_line =
                        crate::output::strip_ansi(&String::from_utf8_lossy(&s.partial)).trim_end().to_string();
                    s.partial.clear();
                }
            } else if s.partial.len() < PROGRESS_LINE_MAX {
                s.partial.push(b);
            }
        }
    }
    pub(crate) fn snapshot(&self) -> ProgressState {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
