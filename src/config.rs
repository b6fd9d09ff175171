//! Policy and limits as plain data, read from `codebox.toml` and overridden by CLI flags.
//! Imports no other codebox module; every other module receives the pieces it needs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The whole configuration. Unknown keys are errors, so a typo never silently leaves a default in force.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[derive(Default)]
pub struct Config {
    /// The workspace root; relative to the config file's directory. CLI `--root` wins.
    pub root: Option<PathBuf>,
    pub limits: Limits,
    pub http: HttpConfig,
    pub output: OutputSettings,
    pub sandbox: SandboxSettings,
    pub tests: TestSettings,
    pub jobs: JobSettings,
    pub tools: ToolsSettings,
    pub workspaces: WorkspaceSettings,
}

/// Named workspaces (`[workspaces]`): checkouts of the project on their own branches, one per bound connection.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkspaceSettings {
    /// Where checkouts live (default `$XDG_STATE_HOME/codebox/workspaces/<project hash>`); outside the project.
    pub dir: Option<PathBuf>,
    /// Workspaces of one project at once; creating one more is refused.
    pub max: usize,
    /// Create an unknown workspace when a connection first names it (else it must exist: `codebox ws new`).
    pub create_on_use: bool,
    /// A shell command run in the sandbox, in the new checkout, after it is made (`npm ci`, `cargo fetch`).
    pub setup: Option<String>,
    /// The first port of the first workspace's range; each workspace gets `ports_per_workspace` from there.
    pub port_start: u16,
    pub ports_per_workspace: u16,
}

impl Default for WorkspaceSettings {
    fn default() -> Self {
        WorkspaceSettings {
            dir: None,
            max: 32,
            create_on_use: false,
            setup: None,
            port_start: 20000,
            ports_per_workspace: 10,
        }
    }
}

/// The tool families a client can be offered; `src/server` maps each tool to one of them.
pub const TOOL_FAMILIES: [&str; 8] = ["files", "edits", "search", "commands", "jobs", "tests", "git", "symbols"];

/// Which tool families this server offers (`[tools]`): a client with its own file tools can take only the
/// sandboxed commands. Give `enable` (only these) or `disable` (all but these), not both.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ToolsSettings {
    pub enable: Option<Vec<String>>,
    pub disable: Vec<String>,
}

impl ToolsSettings {
    /// Whether tools of `family` are offered.
    pub fn enabled(&self, family: &str) -> bool {
        let listed = |v: &[String]| v.iter().any(|f| f.eq_ignore_ascii_case(family));
        match &self.enable {
            Some(only) => listed(only),
            None => !listed(&self.disable),
        }
    }
}

/// Background jobs (job_start and friends). The `[sandbox]` limits apply to each job, except CPU time.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobSettings {
    /// Jobs running at once in one session; a start beyond this is refused.
    pub max_per_session: usize,
    /// Output kept per job, bytes; past it the oldest output is dropped (results say so).
    pub output_bytes: u64,
    /// Wall-clock limit of one job, seconds; 0 is none. A job's own `timeout_secs` may only be lower.
    pub max_wall_secs: u64,
    /// CPU seconds of one job; 0 is unlimited (servers idle for hours).
    pub cpu_secs: u64,
    /// Seconds between SIGTERM and SIGKILL when a job is stopped.
    pub stop_grace_secs: u64,
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings { max_per_session: 8, output_bytes: 64 << 20, max_wall_secs: 0, cpu_secs: 0, stop_grace_secs: 3 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TestSettings {
    /// A shell command that runs the tests, instead of the detected runner.
    pub command: Option<String>,
    /// Wall-clock limit of one test run, in seconds (at most sandbox.max_timeout_secs).
    pub timeout_secs: u64,
}

impl Default for TestSettings {
    fn default() -> Self {
        TestSettings { command: None, timeout_secs: 600 }
    }
}

/// How commands are confined. See SECURITY.md for what each layer stops.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxSettings {
    /// `strict` refuses a command when a layer cannot be applied; `best-effort` applies what the kernel offers
    /// and says what was skipped. `off` is accepted only from the command line (`--sandbox off`).
    pub mode: SandboxMode,
    /// What network commands get: `off` (loopback only), `proxy` (loopback, plus the hosts `[sandbox.proxy]`
    /// allows, through codebox's filtering proxy) or `host` (the machine's network). `false`/`true` mean off/host.
    pub network: NetworkMode,
    pub proxy: ProxySettings,
    /// Extra directories commands may read and execute (toolchains the defaults did not find).
    pub read_exec: Vec<PathBuf>,
    /// Paths inside the workspace that commands may read but never change.
    pub protected: Vec<String>,
    /// Extra environment variables passed through to commands (besides PATH, LANG, toolchain variables).
    pub env: Vec<String>,
    /// The shell that runs `run_command`'s command string as `<shell> -c <command>`.
    pub shell: String,
    /// Default and largest wall-clock timeout of one command, in seconds.
    pub timeout_secs: u64,
    pub max_timeout_secs: u64,
    /// Address space of one command (RLIMIT_AS), bytes.
    pub memory_bytes: u64,
    /// Largest file one command may write (RLIMIT_FSIZE), bytes.
    pub file_size_bytes: u64,
    /// Processes in one command's sandbox (RLIMIT_NPROC, counted inside its user namespace).
    pub max_processes: u64,
    /// Open files per process (RLIMIT_NOFILE).
    pub open_files: u64,
    /// CPUs' worth of time one command may use (its cgroup's CPU quota); unset: unthrottled.
    pub cpus: Option<f64>,
}

/// The network a sandboxed command gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkMode {
    /// A private network namespace (the session's) with loopback only.
    #[default]
    Off,
    /// Loopback only, plus HTTP(S) through codebox's proxy to the hosts `[sandbox.proxy]` allows.
    Proxy,
    /// The host's network: everything the machine reaches.
    Host,
}

impl NetworkMode {
    pub fn name(self) -> &'static str {
        match self {
            NetworkMode::Off => "off",
            NetworkMode::Proxy => "proxy",
            NetworkMode::Host => "host",
        }
    }

    /// `off`, `proxy` or `host` (and `false`/`true`), as the flag and the file take them.
    pub fn parse(s: &str) -> Result<NetworkMode, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" | "false" => Ok(NetworkMode::Off),
            "proxy" => Ok(NetworkMode::Proxy),
            "host" | "true" => Ok(NetworkMode::Host),
            other => Err(format!("network = {other:?} is not one of \"off\", \"proxy\", \"host\"")),
        }
    }
}

impl<'de> Deserialize<'de> for NetworkMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bool(false) => Ok(NetworkMode::Off),
            Raw::Bool(true) => Ok(NetworkMode::Host),
            Raw::Text(t) => NetworkMode::parse(&t).map_err(serde::de::Error::custom),
        }
    }
}

/// The proxy's rules (`network = "proxy"`). Patterns: `name`, `*.name` (subdomains only), `**.name` (the name and
/// its subdomains), an IP address or CIDR; each optionally `:port`. Deny wins; an empty allowlist allows nothing.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxySettings {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
    /// Static names, checked before DNS (like /etc/hosts). A mapping does not allow a name; for an allowed name
    /// the mapped address is dialled even when it is private or loopback.
    pub hosts: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxMode {
    Strict,
    BestEffort,
    Off,
}

impl Default for SandboxSettings {
    fn default() -> Self {
        SandboxSettings {
            mode: SandboxMode::Strict,
            network: NetworkMode::Off,
            proxy: ProxySettings::default(),
            read_exec: Vec::new(),
            protected: vec![".git/hooks".into(), ".git/config".into()],
            env: Vec::new(),
            shell: "bash".into(),
            timeout_secs: 120,
            max_timeout_secs: 600,
            memory_bytes: 8 << 30,
            file_size_bytes: 4 << 30,
            max_processes: 512,
            open_files: 4096,
            cpus: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Lines `read_file` returns when the call gives no `limit`.
    pub read_default_lines: usize,
    /// Entries `list_directory` shows in total before it stops.
    pub list_max_entries: usize,
    /// Entries shown per directory before the rest is summarised as a count.
    pub list_max_per_dir: usize,
    /// Paths `find_files` returns before it summarises the rest as a count.
    pub find_max_results: usize,
    /// Lines longer than this are clipped around their middle in every result.
    pub max_line_chars: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputSettings {
    /// Characters in one tool result when the call does not say otherwise.
    pub max_chars: usize,
    /// The largest `max_output_chars` a call may ask for.
    pub max_chars_cap: usize,
    /// Regexes for lines kept from the omitted middle of a long output.
    pub error_patterns: Option<Vec<String>>,
    /// Bytes kept for one spilled output, and for all of them together.
    pub spill_entry_bytes: u64,
    pub spill_total_bytes: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Extra `Host` values accepted besides loopback names (for a reverse proxy).
    pub allowed_hosts: Vec<String>,
    /// Browser origins allowed to call the server; any other `Origin` gets 403.
    pub allowed_origins: Vec<String>,
    /// Largest request body accepted; larger gets 413.
    pub max_body_bytes: usize,
    /// Requests and SSE streams open at once (each holds a task and a socket); more get 503.
    pub max_streams: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            read_default_lines: 2000,
            list_max_entries: 400,
            list_max_per_dir: 60,
            find_max_results: 200,
            max_line_chars: 2000,
        }
    }
}

impl Default for OutputSettings {
    fn default() -> Self {
        OutputSettings {
            max_chars: 20_000,
            max_chars_cap: 200_000,
            error_patterns: None,
            spill_entry_bytes: 256 << 20,
            spill_total_bytes: 1 << 30,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig { allowed_hosts: Vec::new(), allowed_origins: Vec::new(), max_body_bytes: 4 << 20, max_streams: 256 }
    }
}

/// Where the HTTP transport listens and how it authenticates; from CLI flags only.
#[derive(Debug, Clone)]
pub struct HttpListen {
    pub addr: SocketAddr,
    pub allow_remote: bool,
    pub auth: HttpAuth,
}

#[derive(Debug, Clone)]
pub enum HttpAuth {
    /// Every request must carry `Authorization: Bearer <token>`.
    Bearer(String),
    /// No authentication: loopback testing only, chosen with `--no-auth`.
    Disabled,
}

impl Config {
    /// Reads a config file. The error names the file and, for unknown keys, the key.
    pub fn load(path: &Path) -> Result<Config, String> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
        let mut config: Config =
            toml::from_str(&text).map_err(|e| format!("invalid config file {}: {e}", path.display()))?;
        if let Some(root) = &config.root
            && root.is_relative()
        {
            let base = path.parent().unwrap_or(Path::new("."));
            config.root = Some(base.join(root));
        }
        config.validate().map_err(|e| format!("invalid config file {}: {e}", path.display()))?;
        Ok(config)
    }

    /// Rejects values no tool could work with, so the mistake shows at start and not mid-session.
    pub fn validate(&self) -> Result<(), String> {
        let o = &self.output;
        if o.max_chars < 1000 {
            return Err(format!("output.max_chars = {} is too small; use at least 1000", o.max_chars));
        }
        if o.max_chars_cap < o.max_chars {
            return Err(format!(
                "output.max_chars_cap = {} is below output.max_chars = {}",
                o.max_chars_cap, o.max_chars
            ));
        }
        let w = &self.workspaces;
        if w.max == 0 || w.ports_per_workspace == 0 {
            return Err("workspaces.max and workspaces.ports_per_workspace must be at least 1".into());
        }
        if u64::from(w.port_start) + w.max as u64 * u64::from(w.ports_per_workspace) > 65535 || w.port_start < 1024 {
            return Err(format!(
                "workspaces.port_start = {} with max = {} and ports_per_workspace = {} leaves the port range 1024..65535; \
                 lower one of them",
                w.port_start, w.max, w.ports_per_workspace
            ));
        }
        if self.sandbox.mode == SandboxMode::Off {
            return Err("sandbox.mode = \"off\" is only accepted from the command line (--sandbox off)".into());
        }
        if self.sandbox.timeout_secs == 0 || self.sandbox.timeout_secs > self.sandbox.max_timeout_secs {
            return Err("sandbox.timeout_secs must be between 1 and sandbox.max_timeout_secs".into());
        }
        if self.tests.timeout_secs == 0 || self.tests.timeout_secs > self.sandbox.max_timeout_secs {
            return Err("tests.timeout_secs must be between 1 and sandbox.max_timeout_secs".into());
        }
        if let Some(c) = self.sandbox.cpus
            && !(0.01..=1024.0).contains(&c)
        {
            return Err(format!("sandbox.cpus = {c} must be between 0.01 and 1024"));
        }
        if self.jobs.output_bytes < 1 << 20 {
            return Err(format!(
                "jobs.output_bytes = {} is too small; use at least 1 MiB (1048576)",
                self.jobs.output_bytes
            ));
        }
        if self.jobs.max_per_session == 0 {
            return Err("jobs.max_per_session must be at least 1".into());
        }
        if self.jobs.stop_grace_secs > 60 {
            return Err("jobs.stop_grace_secs must be at most 60".into());
        }
        for p in &self.sandbox.protected {
            if p.starts_with('/') || p.split('/').any(|c| c == "..") {
                return Err(format!("sandbox.protected entry {p:?} must be a relative path inside the workspace"));
            }
        }
        if self.limits.max_line_chars < 80 {
            return Err("limits.max_line_chars must be at least 80".into());
        }
        for (name, v) in [
            ("limits.read_default_lines", self.limits.read_default_lines),
            ("limits.list_max_entries", self.limits.list_max_entries),
            ("limits.list_max_per_dir", self.limits.list_max_per_dir),
            ("limits.find_max_results", self.limits.find_max_results),
            ("http.max_streams", self.http.max_streams),
        ] {
            if v == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        let t = &self.tools;
        if t.enable.is_some() && !t.disable.is_empty() {
            return Err("give tools.enable or tools.disable, not both".into());
        }
        for f in t.enable.iter().flatten().chain(&t.disable) {
            if !TOOL_FAMILIES.iter().any(|k| k.eq_ignore_ascii_case(f)) {
                return Err(format!("tools: unknown family {f:?}; the families are {}", TOOL_FAMILIES.join(", ")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_families_are_checked() {
        let with = |t: &str| -> Result<Config, String> {
            let c: Config = toml::from_str(t).map_err(|e| e.to_string())?;
            c.validate().map(|_| c)
        };
        assert!(with("[tools]\nenable = [\"Commands\"]").unwrap().tools.enabled("commands"));
        assert!(!with("[tools]\nenable = [\"commands\"]").unwrap().tools.enabled("files"));
        assert!(!with("[tools]\ndisable = [\"git\"]").unwrap().tools.enabled("git"));
        assert!(with("[tools]\ndisable = [\"gti\"]").unwrap_err().contains("unknown family"));
        assert!(with("[tools]\nenable = [\"git\"]\ndisable = [\"files\"]").unwrap_err().contains("not both"));
    }
}
