//! The `codebox` command: parse flags, set up logging, call the library, map errors to exit codes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use codebox::cli::Context;
use codebox::config::{Config, HttpAuth, HttpListen};

#[derive(Parser)]
#[command(name = "codebox", version, about = "A safe, precise and economical MCP workbench for AI coding agents")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct Common {
    /// Workspace root (default: the current directory, or `root` in codebox.toml).
    #[arg(long, global = true)]
    root: Option<PathBuf>,
    /// Configuration file (default: codebox.toml in the root, if present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Network for commands: off (loopback only), proxy (the hosts [sandbox.proxy] allows) or host.
    #[arg(long, global = true, value_name = "MODE", value_parser = codebox::config::NetworkMode::parse)]
    network: Option<codebox::config::NetworkMode>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum SandboxFlag {
    Strict,
    BestEffort,
    Off,
}

#[derive(Subcommand)]
enum Command {
    /// Serve MCP over stdio (default) or streamable HTTP (--http).
    Serve {
        #[command(flatten)]
        common: Common,
        /// Serve streamable HTTP at ADDR/mcp instead of stdio (default ADDR 127.0.0.1:8765).
        #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:8765")]
        http: Option<SocketAddr>,
        /// Allow --http on a non-loopback address.
        #[arg(long)]
        allow_remote: bool,
        /// Read the HTTP bearer token from this file (else CODEBOX_TOKEN, else a fresh one is printed).
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// Accept HTTP requests without a token. Loopback testing only.
        #[arg(long)]
        no_auth: bool,
        /// Log level for stderr (error, warn, info, debug, trace); RUST_LOG also works.
        #[arg(long)]
        log_level: Option<String>,
        /// Sandbox mode for commands: strict (default), best-effort, or off (no confinement at all).
        #[arg(long, value_name = "MODE")]
        sandbox: Option<SandboxFlag>,
        /// With --http: on SIGTERM, how long calls in flight may take to finish before they are stopped.
        #[arg(long, value_name = "SECS", default_value_t = 25, value_parser = clap::value_parser!(u64).range(0..=3600))]
        drain_secs: u64,
        /// Serve this workspace (see `codebox ws`) over stdio instead of the main checkout.
        #[arg(long, value_name = "NAME")]
        workspace: Option<String>,
    },
    /// Workspaces: checkouts of the project on their own branches, one per agent (see README).
    Ws {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        action: WsAction,
    },
    /// Report what this machine offers for confinement and what codebox will enforce.
    Doctor {
        #[command(flatten)]
        common: Common,
    },
    /// Write the JSON Schema of every tool into a directory.
    Schemas {
        #[arg(long, default_value = "schemas")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum WsAction {
    /// Make a workspace on branch codebox/NAME from BASE (default: the current branch's HEAD).
    New {
        name: String,
        #[arg(long)]
        base: Option<String>,
        /// Carry the main checkout's uncommitted changes to tracked files into it.
        #[arg(long)]
        carry: bool,
    },
    /// Every workspace: branch, base, ahead/behind, dirty files, disk used, last activity, bound sessions.
    List {
        /// One JSON array, for orchestrators.
        #[arg(long)]
        json: bool,
    },
    /// One workspace in detail.
    Status {
        name: String,
        /// One JSON object, for orchestrators.
        #[arg(long)]
        json: bool,
    },
    /// Its changes against its base (committed, then uncommitted).
    Diff { name: String },
    /// Its commits its base lacks.
    Log { name: String },
    /// Merge it into the branch it was based on, in the main checkout; refuses on conflict and changes nothing.
    Merge {
        name: String,
        /// auto (fast-forward if possible, else a merge commit), ff, squash or merge.
        #[arg(long, default_value = "auto", value_parser = codebox::workspaces::MergeMode::parse)]
        mode: codebox::workspaces::MergeMode,
    },
    /// Remove it; refused while it has uncommitted, untracked or unmerged work, unless --force.
    Rm {
        name: String,
        #[arg(long)]
        force: bool,
    },
}

/// glibc gives threads that allocate heaps of their own, up to eight per core. The symbol index parses on several
/// threads, and what they free stays spread over those heaps, partly pinned by what is still live there. One heap
/// per core keeps a cold index of a 10,000-file tree about 15 MiB smaller, at the same speed (issue 15's
/// benchmark). A `MALLOC_ARENA_MAX` the user set wins.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get()).max(2);
        // SAFETY: mallopt only sets a tunable; this runs before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, cores as libc::c_int);
        }
    }
}

fn main() -> ExitCode {
    // The sandbox helper re-executes this binary; it must start before anything else (no flags, no threads).
    if std::env::args_os().nth(1).is_some_and(|a| a == codebox::cli::HELPER_ARG) {
        codebox::cli::helper_main();
    }
    limit_malloc_arenas();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("codebox: {e}");
            ExitCode::from(2)
        }
    }
}

/// The root and configuration a command works with: flags over codebox.toml over defaults.
fn load(common: &Common) -> Result<(Config, PathBuf), String> {
    let cwd = std::env::current_dir().map_err(|e| format!("cannot read the current directory: {e}"))?;
    let root_hint = common.root.clone().unwrap_or_else(|| cwd.clone());
    let config_path = match &common.config {
        Some(p) => Some(p.clone()),
        None => Some(root_hint.join("codebox.toml")).filter(|p| p.is_file()),
    };
    let mut config = match &config_path {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    if let Some(n) = common.network {
        config.sandbox.network = n;
    }
    match config.sandbox.network {
        codebox::config::NetworkMode::Proxy if config.sandbox.proxy.allow.is_empty() => eprintln!(
            "codebox: network = \"proxy\" with an empty [sandbox.proxy] allow list: every request will be refused"
        ),
        codebox::config::NetworkMode::Host => {
            eprintln!("codebox: WARNING: network = \"host\": commands reach everything this machine can")
        }
        _ => {}
    }
    let root = common.root.clone().or_else(|| config.root.clone()).unwrap_or(cwd);
    Ok((config, root))
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Schemas { out } => {
            for f in codebox::cli::write_schemas(&out).map_err(|e| format!("cannot write schemas: {e}"))? {
                println!("{f}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor { common } => {
            let (config, root) = load(&common)?;
            let report = codebox::cli::probe(&root, &config.sandbox);
            print!("{}", report.render());
            Ok(if report.ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Ws { common, action } => ws(&common, action),
        Command::Serve {
            common,
            http,
            allow_remote,
            token_file,
            no_auth,
            log_level,
            sandbox,
            drain_secs,
            workspace,
        } => {
            init_tracing(log_level.as_deref());
            let (mut config, root) = load(&common)?;
            // The flag overrides the file; from here on `config.sandbox.mode` is the one effective mode (the file
            // cannot say "off": `Config::validate` refuses it, so only this flag turns the sandbox off).
            match sandbox {
                Some(SandboxFlag::Off) => {
                    eprintln!("codebox: WARNING: --sandbox off: commands run with your user's full rights");
                    config.sandbox.mode = codebox::config::SandboxMode::Off;
                }
                Some(SandboxFlag::Strict) => config.sandbox.mode = codebox::config::SandboxMode::Strict,
                Some(SandboxFlag::BestEffort) => config.sandbox.mode = codebox::config::SandboxMode::BestEffort,
                None => {}
            }
            let listen = match http {
                None => None,
                Some(addr) => Some(http_listen(addr, allow_remote, token_file, no_auth)?),
            };
            let http_cfg = config.http.clone();
            if workspace.is_some() && listen.is_some() {
                return Err("--workspace binds the stdio connection; over HTTP, clients name their workspace in the \
                            URL (/ws/<name>/mcp) or the X-Codebox-Workspace header"
                    .into());
            }
            let registry = std::sync::Arc::new(codebox::cli::Registry::new(Context::new(config, &root)?));
            // The workspaces' directory must exist before codebox's landlock domain can allow writing it.
            let ws_dir = match registry.store() {
                Ok(store) => {
                    store.prepare()?;
                    Some(store.dir().to_path_buf())
                }
                Err(_) => None,
            };
            let ctx = match &workspace {
                Some(name) => registry.context(name)?,
                None => registry.main().clone(),
            };
            let bound = match &listen {
                None => None,
                Some(l) => {
                    let listener =
                        std::net::TcpListener::bind(l.addr).map_err(|e| format!("cannot listen on {}: {e}", l.addr))?;
                    let addr = listener.local_addr().map_err(|e| e.to_string())?;
                    Some((listener, addr))
                }
            };
            confine_self(registry.main(), ws_dir.as_deref())?;
            tracing::info!(root = %ctx.ws.root().display(), resolver = ?ctx.ws.resolver(), "codebox serving");
            // One client over stdio is served best by one thread: requests and responses never wait for a
            // wake-up on another core. HTTP serves many clients and gets the multi-threaded runtime.
            let rt = if listen.is_some() {
                tokio::runtime::Builder::new_multi_thread().enable_all().build()
            } else {
                tokio::runtime::Builder::new_current_thread().enable_all().build()
            }
            .map_err(|e| format!("cannot start the async runtime: {e}"))?;
            rt.block_on(async move {
                match (listen, bound) {
                    (Some(listen), Some((listener, addr))) => {
                        // The first SIGTERM (or SIGINT) drains: calls in flight finish; a second stops at once.
                        let shutdown = codebox::cli::Shutdown {
                            drain: tokio_util::sync::CancellationToken::new(),
                            now: tokio_util::sync::CancellationToken::new(),
                            limit: std::time::Duration::from_secs(drain_secs),
                        };
                        let (drain, now) = (shutdown.drain.clone(), shutdown.now.clone());
                        tokio::spawn(async move {
                            shutdown_signal().await;
                            drain.cancel();
                            shutdown_signal().await;
                            now.cancel();
                        });
                        eprintln!("codebox: serving MCP at http://{addr}/mcp");
                        codebox::cli::serve_http(registry, listener, &listen, &http_cfg, shutdown)
                            .await
                            .map_err(|e| format!("HTTP server on {addr}: {e}"))
                    }
                    // On SIGINT or SIGTERM, stop serving and return: dropping the context removes the scratch
                    // directory, which the default signal action would leave behind.
                    _ => tokio::select! {
                        served = codebox::cli::serve_stdio(ctx) => served,
                        () = shutdown_signal() => Ok(()),
                    },
                }
            })?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `codebox ws …`: works on the store on disk, so it sees a running server's workspaces as well as offline ones.
fn ws(common: &Common, action: WsAction) -> Result<ExitCode, String> {
    use codebox::workspaces::{NewRequest, Store};
    let (config, root) = load(common)?;
    let store = Store::open(&root, &config.workspaces)?;
    let sandbox = codebox::cli::Sandbox::new(&config.sandbox, store.project(), None);
    let text = match action {
        WsAction::New { name, base, carry } => {
            let c = store.create(&sandbox, &NewRequest { name, base, carry })?;
            let m = &c.meta;
            let mut t = format!(
                "created workspace {} at {}\nbranch {} from {} at {}\nports {}-{}",
                m.name,
                c.path.display(),
                m.branch,
                m.base,
                m.base_commit,
                m.port,
                m.port + config.workspaces.ports_per_workspace - 1
            );
            if c.carried {
                t.push_str("\ncarried the main checkout's uncommitted changes (tracked files)");
            }
            if !c.included.is_empty() {
                t.push_str(&format!("\ncopied from {}: {}", codebox::workspaces::INCLUDE_FILE, c.included.join(", ")));
            }
            if let Some(out) = c.setup {
                t.push_str(&format!("\nsetup ran:\n{}", out.trim_end()));
            }
            t
        }
        WsAction::List { json: true } => {
            let all: Vec<_> = store.names().iter().map(|n| store.status(&sandbox, n)).collect::<Result<_, _>>()?;
            serde_json::to_string_pretty(&all).map_err(|e| e.to_string())?
        }
        WsAction::Status { name, json: true } => {
            serde_json::to_string_pretty(&store.status(&sandbox, &name)?).map_err(|e| e.to_string())?
        }
        WsAction::List { json: false } => {
            let names = store.names();
            if names.is_empty() {
                "no workspaces; `codebox ws new <name>` makes one".to_string()
            } else {
                let mut t = String::from("name\tbranch\tbase\tahead\tbehind\tdirty\tdisk\tlast activity\tsessions");
                for n in names {
                    match store.status(&sandbox, &n) {
                        Ok(s) => t.push_str(&format!(
                            "\n{}\t{}\t{}{}\t{}\t{}\t{}\t{}\t{}\t{}",
                            n,
                            s.meta.branch,
                            s.meta.base,
                            if s.base_moved { " (moved)" } else { "" },
                            s.ahead,
                            s.behind,
                            s.dirty.len(),
                            codebox::cli::human_bytes(s.disk_bytes),
                            ago(s.last_activity),
                            s.sessions
                        )),
                        Err(e) => t.push_str(&format!("\n{n}\t(unreadable: {e})")),
                    }
                }
                t
            }
        }
        WsAction::Status { name, json: false } => {
            let s = store.status(&sandbox, &name)?;
            let mut t = format!(
                "workspace {}\npath {}\nbranch {} at {}\nbase {} at {}{}\n{} ahead, {} behind\ndisk {}\nlast activity {}\nsessions {}",
                name,
                s.path.display(),
                s.meta.branch,
                s.head,
                s.meta.base,
                s.meta.base_commit,
                match (&s.base_head, s.base_moved) {
                    (Some(h), true) => format!(" (moved to {h})"),
                    _ => String::new(),
                },
                s.ahead,
                s.behind,
                codebox::cli::human_bytes(s.disk_bytes),
                ago(s.last_activity),
                s.sessions
            );
            if let Some(c) = s.conflicts.filter(|c| !c.is_empty()) {
                t.push_str(&format!("\na rebase onto the base would conflict in: {}", c.join(", ")));
            }
            if !s.dirty.is_empty() {
                t.push_str(&format!("\nuncommitted:\n{}", s.dirty.join("\n")));
            }
            t
        }
        WsAction::Diff { name } => store.diff(&sandbox, &name)?,
        WsAction::Log { name } => store.log(&sandbox, &name)?,
        WsAction::Merge { name, mode } => store.merge(&sandbox, &name, mode, &codebox::cli::git_identity())?,
        WsAction::Rm { name, force } => store.remove(&sandbox, &name, force)?,
    };
    println!("{}", text.trim_end());
    Ok(ExitCode::SUCCESS)
}

fn ago(secs: u64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    match now.saturating_sub(secs) {
        s if s < 120 => format!("{s} s ago"),
        s if s < 7200 => format!("{} min ago", s / 60),
        s if s < 172800 => format!("{} h ago", s / 3600),
        s => format!("{} days ago", s / 86400),
    }
}

/// Resolves on SIGINT or SIGTERM (a client closing codebox sends SIGTERM when closing stdin was not enough).
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        },
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn http_listen(
    addr: SocketAddr,
    allow_remote: bool,
    token_file: Option<PathBuf>,
    no_auth: bool,
) -> Result<HttpListen, String> {
    if !addr.ip().is_loopback() {
        if !allow_remote {
            return Err(format!(
                "--http {addr} is not a loopback address; anyone who can reach it could drive codebox. \
                 Use 127.0.0.1, or pass --allow-remote if you really mean it"
            ));
        }
        eprintln!("codebox: WARNING: serving on non-loopback address {addr}; protect the token and the network");
    }
    let auth = if no_auth {
        if !addr.ip().is_loopback() {
            return Err("--no-auth is for loopback testing only; it cannot be combined with a remote address".into());
        }
        eprintln!("codebox: WARNING: --no-auth: any local process can call this server; use it for testing only");
        HttpAuth::Disabled
    } else if let Some(f) = token_file {
        let t = std::fs::read_to_string(&f).map_err(|e| format!("cannot read --token-file {}: {e}", f.display()))?;
        let t = t.trim().to_string();
        if t.is_empty() {
            return Err(format!(
                "--token-file {} is empty: put a long random token in it (a container or pod mounts one there as a \
                 secret: see deploy/container/README.md)",
                f.display()
            ));
        }
        if t.len() < 16 {
            return Err(format!("the token in {} is shorter than 16 characters; use a long random token", f.display()));
        }
        HttpAuth::Bearer(t)
    } else if let Some(t) = std::env::var("CODEBOX_TOKEN").ok().filter(|t| !t.trim().is_empty()) {
        if t.trim().len() < 16 {
            return Err("CODEBOX_TOKEN is shorter than 16 characters; use a long random token".into());
        }
        HttpAuth::Bearer(t.trim().to_string())
    } else {
        let t = codebox::cli::generate_token().map_err(|e| e.to_string())?;
        let port = addr.port();
        eprintln!("codebox: generated bearer token (shown once): {t}");
        eprintln!(
            "codebox: register it with: claude mcp add --transport http codebox http://127.0.0.1:{port}/mcp -H \"Authorization: Bearer {t}\""
        );
        HttpAuth::Bearer(t)
    };
    Ok(HttpListen { addr, allow_remote, auth })
}

/// Landlocks codebox's own threads (the runtime is built after this, so its threads inherit it). Strict mode
/// refuses to start without it; best-effort says what it skipped; `--sandbox off` skips it.
fn confine_self(ctx: &Context, workspaces: Option<&std::path::Path>) -> Result<(), String> {
    use codebox::config::SandboxMode;
    if ctx.sandbox.mode() == SandboxMode::Off {
        return Ok(());
    }
    // The undo history lives outside the workspace; it must exist before landlock can name it.
    let _ = std::fs::create_dir_all(ctx.history.dir());
    // The scratch directory's parent, so that the scratch directory itself can be removed on exit.
    let scratch = ctx.scratch.path().parent().unwrap_or(ctx.scratch.path());
    let mut writable = vec![ctx.history.dir().to_path_buf(), scratch.to_path_buf()];
    if let Some(dir) = workspaces {
        // Workspaces' checkouts, and their undo histories beside the main checkout's.
        writable.push(dir.to_path_buf());
        if let Some(undo) = ctx.history.dir().parent() {
            writable.push(undo.to_path_buf());
        }
    }
    match codebox::cli::confine_self(ctx.ws.root(), &writable) {
        Ok(detail) => {
            tracing::info!("self-confinement: {detail}");
            Ok(())
        }
        Err(why) if ctx.sandbox.mode() == SandboxMode::Strict => Err(format!(
            "cannot confine codebox itself: {why}. Run `codebox doctor`; `--sandbox best-effort` starts without it"
        )),
        Err(why) => {
            eprintln!("codebox: WARNING: running without self-confinement: {why}");
            Ok(())
        }
    }
}

fn init_tracing(level: Option<&str>) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer};
    let filter = match level {
        Some(l) => EnvFilter::new(l),
        // rmcp logs every error response at WARN, including the expected answer to clients' discovery probe.
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn,rmcp::service=error")),
    };
    // stdout carries the protocol on stdio: logs go to stderr only. MCP log notifications get codebox's own events
    // at info and above, whatever stderr shows; each session filters them by the level its client set.
    let stderr = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(false).with_filter(filter);
    // Only codebox's own callsites: enabling other crates' info spans would cost every call.
    let ours = tracing_subscriber::filter::Targets::new().with_target("codebox", tracing::Level::INFO);
    let forward = codebox::cli::log_layer().with_filter(ours);
    let _ = tracing_subscriber::registry().with(stderr).with(forward).try_init();
}
