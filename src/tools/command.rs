//! run_command: a shell command in the kernel sandbox, its output shaped for the model.

use std::time::Duration;

use crate::error::{ErrorKind, ToolError, ToolResult};
use crate::sandbox::{Exit, Layer, Lifetime, Run, Stream};
use crate::tools::capture::Capture;
use crate::tools::{Cancel, Context, Progress};

pub(crate) struct CommandRequest<'a> {
    pub command: &'a str,
    pub cwd: Option<&'a str>,
    pub timeout_secs: Option<u64>,
    pub env: Vec<(String, String)>,
    pub max_output_chars: Option<usize>,
}

/// Room kept for the status line (exit, duration, stderr lines, sandbox layers) and notes.
const STATUS_RESERVE: usize = 600;
/// Most stderr ranges listed in a result; more are summarised.
const MAX_STDERR_RANGES: usize = 12;

impl crate::sandbox::Cancelled for Cancel {
    fn cancelled(&self) -> bool {
        self.is_cancelled()
    }
}

pub(crate) fn run_command(
    ctx: &Context,
    req: &CommandRequest<'_>,
    cancel: &Cancel,
    progress: &Progress,
) -> ToolResult<String> {
    if req.command.trim().is_empty() {
        return Err(ToolError::invalid("command is empty"));
    }
    let s = ctx.sandbox.settings();
    let timeout = match req.timeout_secs {
        None => s.timeout_secs,
        Some(t) if t == 0 || t > s.max_timeout_secs => {
            return Err(ToolError::invalid(format!(
                "timeout_secs must be between 1 and {} (default {})",
                s.max_timeout_secs, s.timeout_secs
            )));
        }
        Some(t) => t,
    };
    check_env_names(&req.env)?;
    let budget = ctx.budget(req.max_output_chars)?;
    let cwd = ctx.ws.dir_path(&ctx.ws.path(req.cwd.unwrap_or("."))?)?;
    let argv = vec![s.shell.clone(), "-c".to_string(), req.command.to_string()];
    let net = ctx.session_net();
    let grant = super::network::grant(ctx);
    let run = Run {
        argv,
        report_dir: None,
        cwd,
        extra_env: &req.env,
        timeout: Duration::from_secs(timeout),
        net: net.as_deref(),
        proxy_token: grant.as_ref().map(|g| g.token()),
        lifetime: Lifetime::Call,
    };
    Ok(execute(ctx, &run, grant.as_ref(), budget, cancel, progress)?.text)
}

/// Refuses environment names a shell could not export.
pub(crate) fn check_env_names(env: &[(String, String)]) -> ToolResult<()> {
    for (k, _) in env {
        let valid = !k.is_empty()
            && !k.starts_with(|c: char| c.is_ascii_digit())
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(ToolError::invalid(format!("env name {k:?} is not a valid variable name")));
        }
    }
    Ok(())
}

/// A finished sandboxed run, rendered: the shaped output, then one status line.
pub(crate) struct Executed {
    pub exit: Exit,
    pub text: String,
}

/// Runs `run` in the sandbox and renders its result within `budget`: the one path every tool that starts a
/// program (run_command, the git tools) takes.
pub(crate) fn execute(
    ctx: &Context,
    run: &Run<'_>,
    grant: Option<&crate::proxy::Grant>,
    budget: usize,
    cancel: &Cancel,
    progress: &Progress,
) -> ToolResult<Executed> {
    let s = ctx.sandbox.settings();
    // The status line and notes come after the shaped output; the whole result stays within the budget.
    let mut capture = Capture::new(ctx, budget.saturating_sub(STATUS_RESERVE));
    let mut lines = StreamLines::default();
    let outcome = ctx.sandbox.run(run, cancel, &mut |stream, bytes| {
        lines.observe(stream, bytes);
        progress.add(bytes);
        capture.push(bytes);
    });
    let outcome = match outcome {
        Ok(o) => o,
        Err(refusal) => return Err(sandbox_refused("the command was not run", &refusal)),
    };
    let captured = capture.finish();
    let mut out = captured.text;
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    let failed = !matches!(outcome.exit, Exit::Code(0));
    let network = super::network::notes(ctx, grant, failed, &out);
    match &outcome.exit {
        Exit::TimedOut(t) => tracing::info!("a command timed out after {} s; its process tree was killed", t.as_secs()),
        Exit::Cancelled => tracing::info!("a command was cancelled by the client; its process tree was killed"),
        _ => {}
    }
    if outcome.layers.iter().any(|l| !l.enforced) {
        tracing::warn!("a command ran with sandbox layers skipped (best-effort): {}", layers_summary(&outcome.layers));
    }
    let status = match &outcome.exit {
        Exit::Code(c) => format!("exit {c}"),
        Exit::Signal(s) => format!("killed by signal {s} ({})", signal_name(*s)),
        Exit::TimedOut(t) => format!(
            "TIMED OUT after {} s; the whole process tree was killed (timeout_secs raises the limit, up to {})",
            t.as_secs(),
            s.max_timeout_secs
        ),
        Exit::Cancelled => "cancelled by the client; the whole process tree was killed".to_string(),
    };
    out.push_str(&format!("[{status} · {:.2} s", outcome.duration.as_secs_f64()));
    if let Some(r) = lines.stderr_summary() {
        out.push_str(&format!(" · {r}"));
    }
    // The layers are said once per session, and again only when they differ (a skipped layer always shows).
    match layers_note(ctx, &outcome.layers) {
        Some(layers) => out.push_str(&format!(" · {layers}]")),
        None => out.push(']'),
    }
    if !network.is_empty() {
        out.push('\n');
        out.push_str(network.trim_end());
    }
    if let Some(note) = limits_note(ctx, &outcome.limits) {
        out.push('\n');
        out.push_str(&note);
    }
    if ctx.sandbox.is_off() {
        out.push_str("\n[WARNING: sandbox OFF (--sandbox off): this command ran with your user's full rights]");
    }
    Ok(Executed { exit: outcome.exit, text: out })
}

/// What the run's cgroup reported, for the model: it ran out of memory, or hit the process limit.
pub(crate) fn limits_note(ctx: &Context, ev: &crate::sandbox::cgroup::Events) -> Option<String> {
    let s = ctx.sandbox.settings();
    let mut parts = Vec::new();
    if ev.oom_kills > 0 {
        parts.push(format!(
            "OUT OF MEMORY: the kernel killed {} process{} at the memory limit ({}, sandbox.memory_bytes)",
            ev.oom_kills,
            if ev.oom_kills == 1 { "" } else { "es" },
            crate::tools::human_bytes(s.memory_bytes)
        ));
    }
    if ev.pids_max_hits > 0 {
        parts.push(format!(
            "the process limit ({}, sandbox.max_processes) was reached: {} fork{} refused",
            s.max_processes,
            ev.pids_max_hits,
            if ev.pids_max_hits == 1 { " was" } else { "s were" }
        ));
    }
    (!parts.is_empty()).then(|| format!("[limits: {}]", parts.join("; ")))
}

/// The layers for a result: said once per session and again when they change; skipped layers on every result.
pub(crate) fn layers_note(ctx: &Context, layers: &[Layer]) -> Option<String> {
    let summary = layers_summary(layers);
    if layers.iter().any(|l| !l.enforced) {
        return Some(summary);
    }
    ctx.session.once(summary)
}

/// One word per enforced layer, and what was skipped, so every result says how it was confined.
pub(crate) fn layers_summary(layers: &[Layer]) -> String {
    let on: Vec<&str> = layers.iter().filter(|l| l.enforced).map(|l| l.name.as_str()).collect();
    let off: Vec<String> =
        layers.iter().filter(|l| !l.enforced).map(|l| format!("{} ({})", l.name, l.detail)).collect();
    let mut s = format!("sandbox: {}", on.join(", "));
    if !off.is_empty() {
        s.push_str(&format!("; SKIPPED: {}", off.join("; ")));
    }
    s
}

fn signal_name(s: i32) -> &'static str {
    match s {
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXFSZ => "SIGXFSZ: file size limit",
        libc::SIGXCPU => "SIGXCPU: CPU time limit",
        libc::SIGBUS => "SIGBUS",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGSYS => "SIGSYS: forbidden system call",
        _ => "signal",
    }
}

/// Which output lines came from stderr, as line ranges of the combined output, so the stream of each line can
/// be recovered without doubling the output.
#[derive(Default)]
struct StreamLines {
    line: u64,
    mid_line: bool,
    stderr: Vec<(u64, u64)>,
    saw_stdout: bool,
}

impl StreamLines {
    fn observe(&mut self, stream: Stream, bytes: &[u8]) {
        if stream == Stream::Stdout {
            self.saw_stdout |= !bytes.is_empty();
        }
        let mut starts = Vec::new();
        if !self.mid_line && !bytes.is_empty() {
            starts.push(self.line + 1);
        }
        let mut line = self.line;
        for (i, b) in bytes.iter().enumerate() {
            if *b == b'\n' {
                line += 1;
                if i + 1 < bytes.len() {
                    starts.push(line + 1);
                }
            }
        }
        if !bytes.is_empty() {
            self.mid_line = *bytes.last().unwrap_or(&b'\n') != b'\n';
        }
        self.line = line;
        if stream == Stream::Stderr {
            for l in starts {
                match self.stderr.last_mut() {
                    Some((_, end)) if *end + 1 == l => *end = l,
                    _ => self.stderr.push((l, l)),
                }
            }
        }
    }

    fn stderr_summary(&self) -> Option<String> {
        if self.stderr.is_empty() {
            return None;
        }
        if !self.saw_stdout {
            return Some("all output on stderr".into());
        }
        let shown: Vec<String> = self
            .stderr
            .iter()
            .take(MAX_STDERR_RANGES)
            .map(|(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") })
            .collect();
        let more = if self.stderr.len() > MAX_STDERR_RANGES { ", …" } else { "" };
        Some(format!("stderr lines {}{more}", shown.join(", ")))
    }
}

/// A run the sandbox refused, as the tools report it: nothing ran, which layer could not be applied and why.
pub(super) fn sandbox_refused(what: &str, refusal: &crate::sandbox::Refusal) -> ToolError {
    ToolError::new(
        ErrorKind::SandboxRefused { layer: refusal.layer().to_string() },
        format!("{what}: the sandbox could not be applied. {}", refusal.reason),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_lines_are_tracked_across_chunks() {
        let mut l = StreamLines::default();
        l.observe(Stream::Stdout, b"one\ntwo\n");
        l.observe(Stream::Stderr, b"err1\nerr");
        l.observe(Stream::Stderr, b"2 cont\n");
        l.observe(Stream::Stdout, b"three\n");
        l.observe(Stream::Stderr, b"err3\n");
        assert_eq!(l.stderr, vec![(3, 4), (6, 6)]);
        assert_eq!(l.stderr_summary().unwrap(), "stderr lines 3-4, 6");
    }
}
