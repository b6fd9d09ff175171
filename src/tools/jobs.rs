//! job_start, job_output, job_input, job_stop, job_list: background jobs as the model sees them. Each result is
//! the job's new output (each byte returned once, paged under the budget) and one status line; the same facts
//! go to a `JobReport` for structured content.

use std::time::{Duration, Instant};

use regex::Regex;
use serde::Serialize;

use crate::error::{ErrorKind, ToolError, ToolResult};
use crate::jobs::log::Snapshot;
use crate::jobs::{Job, JobError, JobView, State, Until, Waited};
use crate::sandbox::{Exit, Lifetime, Run};
use crate::tools::{Cancel, Context, Progress, human_bytes};

/// The longest one call may block waiting.
pub(crate) const MAX_WAIT_SECS: u64 = 60;
/// How long a call with `wait_for` waits when it does not say.
const DEFAULT_WAIT_SECS: u64 = 30;
/// Room kept for the status line.
const STATUS_RESERVE: usize = 400;
/// Lines `tail` returns when asked for more than this.
pub(crate) const MAX_TAIL_LINES: usize = 10_000;

/// What every job result carries as structured content.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct JobReport {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// running, exited, stopped, timed_out or killed.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    pub runtime_ms: u64,
    /// Bytes the job has printed in all.
    pub output_bytes: u64,
    /// Oldest bytes no longer kept.
    pub dropped_bytes: u64,
    /// Where the next read starts (pass as `cursor` to read from here again).
    pub cursor: u64,
    /// The line `wait_for` matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<String>,
}

/// job_list's structured content.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct JobListReport {
    pub jobs: Vec<JobReport>,
}

pub(crate) struct StartRequest<'a> {
    pub command: &'a str,
    pub cwd: Option<&'a str>,
    pub env: Vec<(String, String)>,
    pub name: Option<&'a str>,
    pub wait_for: Option<&'a str>,
    pub wait_secs: Option<u64>,
    pub timeout_secs: Option<u64>,
}

pub(crate) struct OutputRequest<'a> {
    pub id: &'a str,
    pub cursor: Option<u64>,
    pub wait_for: Option<&'a str>,
    pub wait_secs: Option<u64>,
    pub tail: Option<usize>,
    pub pattern: Option<&'a str>,
    pub max_output_chars: Option<usize>,
}

pub(crate) struct InputRequest<'a> {
    pub id: &'a str,
    pub text: &'a str,
    pub wait_for: Option<&'a str>,
    pub wait_secs: Option<u64>,
}

/// What a wait asks for, checked before anything starts.
struct WaitSpec {
    regex: Option<Regex>,
    secs: u64,
}

fn wait_spec(wait_for: Option<&str>, wait_secs: Option<u64>) -> ToolResult<WaitSpec> {
    let regex = match wait_for {
        None => None,
        Some(p) => Some(Regex::new(p).map_err(|e| {
            ToolError::invalid(format!(
                "wait_for is not a valid regex: {}; escape special characters (\\. \\( \\[) or use a plain word",
                first_line(&e.to_string())
            ))
        })?),
    };
    let secs = match wait_secs {
        Some(s) if s > MAX_WAIT_SECS => {
            return Err(ToolError::invalid(format!(
                "wait_secs = {s} is too long: one call waits at most {MAX_WAIT_SECS} s; call job_output again to \
                 keep waiting"
            )));
        }
        Some(s) => s,
        None if regex.is_some() => DEFAULT_WAIT_SECS,
        None => 0,
    };
    Ok(WaitSpec { regex, secs })
}

fn first_line(s: &str) -> &str {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or(s).trim()
}

pub(crate) fn start(
    ctx: &Context,
    req: &StartRequest<'_>,
    cancel: &Cancel,
    progress: &Progress,
) -> ToolResult<(String, JobReport)> {
    if req.command.trim().is_empty() {
        return Err(ToolError::invalid("command is empty"));
    }
    let wait = wait_spec(req.wait_for, req.wait_secs)?;
    let js = &ctx.config.jobs;
    let timeout = match (req.timeout_secs, js.max_wall_secs) {
        (Some(0), _) => return Err(ToolError::invalid("timeout_secs must be at least 1 (leave it out for no limit)")),
        (Some(t), max) if max > 0 && t > max => {
            return Err(ToolError::invalid(format!("timeout_secs = {t} is above this server's limit of {max} s")));
        }
        (Some(t), _) => Some(t),
        (None, 0) => None,
        (None, max) => Some(max),
    };
    if let Some(n) = req.name
        && (n.is_empty() || n.len() > 64 || n.chars().any(|c| c.is_control()))
    {
        return Err(ToolError::invalid("name must be 1-64 printable characters"));
    }
    super::command::check_env_names(&req.env)?;
    ctx.session.jobs().check_room(js.max_per_session).map_err(job_error)?;
    let budget = ctx.budget(None)?;
    let cwd = ctx.ws.dir_path(&ctx.ws.path(req.cwd.unwrap_or("."))?)?;
    let shell = ctx.sandbox.settings().shell.clone();
    // Output goes to a pipe, where Python would hold it in a buffer: a server's "listening" line would never
    // arrive. The call's own env wins.
    let mut env = vec![("PYTHONUNBUFFERED".to_string(), "1".to_string())];
    env.extend(req.env.iter().cloned());
    let net = ctx.session_net();
    let grant = super::network::grant(ctx);
    let run = Run {
        argv: vec![shell, "-c".into(), req.command.to_string()],
        report_dir: None,
        cwd,
        extra_env: &env,
        // Only bounds the start; the job's own deadline is below.
        timeout: Duration::from_secs(30),
        net: net.as_deref(),
        proxy_token: grant.as_ref().map(|g| g.token()),
        lifetime: Lifetime::Job { cpu_secs: (js.cpu_secs > 0).then_some(js.cpu_secs) },
    };
    let log = crate::jobs::log::JobLog::new(ctx.scratch.path(), js.output_bytes)
        .map_err(|e| ToolError::new(ErrorKind::Io, format!("cannot create the job's output file: {e}")))?;
    let running =
        ctx.sandbox.start(&run).map_err(|r| super::command::sandbox_refused("the job was not started", &r))?;
    let deadline = timeout.map(|t| running.started() + Duration::from_secs(t));
    let job =
        ctx.session.jobs().add(running, req.command.to_string(), req.name.map(str::to_string), deadline, log, grant);
    tracing::info!("job {} started: {}", job.id, clip(req.command, 200));
    let waited = wait_on(&job, 0, &wait, true, cancel, progress);
    let (text, report) = render_read(ctx, &job, None, waited, budget)?;
    if ctx.sandbox.is_off() {
        return Ok((
            format!("{text}\n[WARNING: sandbox OFF (--sandbox off): this job runs with your user's full rights]"),
            report,
        ));
    }
    match super::command::layers_note(ctx, &job.layers) {
        Some(layers) => Ok((format!("{text}\n[{layers}]"), report)),
        None => Ok((text, report)),
    }
}

pub(crate) fn output(
    ctx: &Context,
    req: &OutputRequest<'_>,
    cancel: &Cancel,
    progress: &Progress,
) -> ToolResult<(String, JobReport)> {
    let wait = wait_spec(req.wait_for, req.wait_secs)?;
    let budget = ctx.budget(req.max_output_chars)?;
    let job = ctx.session.jobs().get(req.id).map_err(job_error)?;
    if let Some(n) = req.tail {
        if n == 0 || n > MAX_TAIL_LINES {
            return Err(ToolError::invalid(format!("tail must be between 1 and {MAX_TAIL_LINES} lines")));
        }
        let waited = wait_on(&job, job.view().read_pos, &wait, false, cancel, progress);
        return Ok(render_tail(&job, n, waited, budget));
    }
    if let Some(p) = req.pattern {
        let re = Regex::new(p)
            .map_err(|e| ToolError::invalid(format!("pattern is not a valid regex: {}", first_line(&e.to_string()))))?;
        let waited = wait_on(&job, job.view().read_pos, &wait, false, cancel, progress);
        return render_grep(&job, &re, waited, budget, cancel);
    }
    let from = req.cursor.unwrap_or_else(|| job.view().read_pos);
    let waited = wait_on(&job, from, &wait, false, cancel, progress);
    render_read(ctx, &job, Some(from), waited, budget)
}

pub(crate) fn input(
    ctx: &Context,
    req: &InputRequest<'_>,
    cancel: &Cancel,
    progress: &Progress,
) -> ToolResult<(String, JobReport)> {
    let wait = wait_spec(req.wait_for, req.wait_secs)?;
    let budget = ctx.budget(None)?;
    let job = ctx.session.jobs().get(req.id).map_err(job_error)?;
    // What the job printed before the input is not the answer: the read continues where the last one ended,
    // and a wait looks only at output that comes after the input.
    let after = job.view().output_bytes;
    let mut text = req.text.to_string();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    job.input(text.as_bytes()).map_err(job_error)?;
    let waited = wait_on(&job, after, &wait, false, cancel, progress);
    render_read(ctx, &job, None, waited, budget)
}

pub(crate) fn stop(ctx: &Context, id: &str) -> ToolResult<(String, JobReport)> {
    let job = ctx.session.jobs().get(id).map_err(job_error)?;
    let grace = Duration::from_secs(ctx.config.jobs.stop_grace_secs);
    let was_running = job.view().state.is_running();
    let view = job.stop(grace);
    let budget = ctx.budget(None)?;
    let (mut text, report) = render_tail(&job, 20, None, budget);
    if !was_running {
        text.push_str("\n(the job had already ended)");
    } else {
        tracing::info!("job {} stopped", view.id);
    }
    Ok((text, report))
}

pub(crate) fn list(ctx: &Context) -> (String, JobListReport) {
    let jobs = ctx.session.jobs().list();
    if jobs.is_empty() {
        return ("no jobs in this session; job_start starts one".into(), JobListReport { jobs: Vec::new() });
    }
    let mut text = String::new();
    let mut reports = Vec::new();
    for job in jobs {
        let v = job.view();
        let procs = match (v.state.is_running(), job.init_pid()) {
            (true, Some(pid)) => match ctx.sandbox.namespace_size(pid) {
                Some(n) => format!(" · {n} process{}", if n == 1 { "" } else { "es" }),
                None => String::new(),
            },
            _ => String::new(),
        };
        text.push_str(&format!(
            "{}{} · {} · {} · {} of output{procs} · {}\n",
            v.id,
            v.name.as_deref().map(|n| format!(" ({n})")).unwrap_or_default(),
            state_text(&v.state),
            secs(v.runtime),
            human_bytes(v.output_bytes),
            clip(&v.command, 120)
        ));
        reports.push(report(&v, v.read_pos, None));
    }
    (text.trim_end().to_string(), JobListReport { jobs: reports })
}

/// Waits as `wait` says from offset `from`; `at_start`: a job_start with only `wait_secs` waits for the end.
fn wait_on(
    job: &Job,
    from: u64,
    wait: &WaitSpec,
    at_start: bool,
    cancel: &Cancel,
    progress: &Progress,
) -> Option<Waited> {
    if wait.secs == 0 {
        return None;
    }
    let until = match &wait.regex {
        Some(re) => Until::Line(re),
        None if at_start => Until::Exit,
        None => Until::Output,
    };
    let deadline = Instant::now() + Duration::from_secs(wait.secs);
    Some(job.wait(from, until, deadline, &|| cancel.is_cancelled(), &mut |b| progress.add(b)))
}

/// The job's output from `from` (default: its read position), at most `budget` characters ending at a line
/// end where one exists, and the status line. Moves the read position past what is returned.
fn render_read(
    ctx: &Context,
    job: &Job,
    from: Option<u64>,
    waited: Option<Waited>,
    budget: usize,
) -> ToolResult<(String, JobReport)> {
    let view = job.view();
    let snap = job.snapshot();
    let from = from.unwrap_or(view.read_pos);
    let dropped = snap.start().saturating_sub(from);
    let start = from.max(snap.start());
    let room = budget.saturating_sub(STATUS_RESERVE).max(200);
    // A character is at most 4 bytes; read enough for the budget, then cut to it.
    let bytes = snap
        .read(start, room.saturating_mul(4))
        .map_err(|e| ToolError::new(ErrorKind::Io, format!("cannot read the job's output: {e}")))?;
    let (text, used) = cut(&bytes, room, false);
    let next = start + used as u64;
    job.set_read_pos(next);
    let mut out = String::new();
    if dropped > 0 {
        out.push_str(&format!(
            "[{} of output before this was dropped: a job keeps its last {}]\n",
            human_bytes(dropped),
            human_bytes(ctx.config.jobs.output_bytes)
        ));
    }
    let clipped = clip_lines(&text, ctx.config.limits.max_line_chars);
    out.push_str(&clipped);
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    let mut status = vec![job_label(&view), state_text(&view.state), secs(view.runtime)];
    if next > start || view.output_bytes > 0 {
        status.push(format!("bytes {start}-{next} of {}", view.output_bytes));
    }
    let more = view.output_bytes.saturating_sub(next);
    if more > 0 {
        status.push(format!("{} more: job_output(id=\"{}\") continues", human_bytes(more), view.id));
    }
    status.extend(wait_text(&waited));
    if let Some(e) = &view.log_error {
        status.push(e.clone());
    }
    out.push_str(&format!("[{}]", status.join(" · ")));
    let failed = view.state.exit().is_some_and(|e| *e != Exit::Code(0));
    let network = super::network::notes(ctx, job.grant(), failed, &clipped);
    if !network.is_empty() {
        out.push('\n');
        out.push_str(network.trim_end());
    }
    let matched = match waited {
        Some(Waited::Matched { line, .. }) => Some(line),
        _ => None,
    };
    Ok((out, report(&view, next, matched)))
}

/// The last `n` lines of what is kept; the read position does not move.
fn render_tail(job: &Job, n: usize, waited: Option<Waited>, budget: usize) -> (String, JobReport) {
    let view = job.view();
    let snap = job.snapshot();
    let room = budget.saturating_sub(STATUS_RESERVE).max(200);
    let want = (room * 4) as u64;
    let from = snap.end().saturating_sub(want).max(snap.start());
    let bytes = snap.read(from, want as usize).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let lines: Vec<&str> = text.split('\n').collect();
    let mut shown: Vec<&str> = lines[lines.len().saturating_sub(n)..].to_vec();
    // A first line that began before the bytes read is only a fragment.
    if from > snap.start() && shown.len() == lines.len() && !shown.is_empty() {
        shown.remove(0);
    }
    let mut body = shown.join("\n");
    if body.chars().count() > room {
        let skip = body.chars().count() - room;
        body = body.chars().skip(skip).collect();
        if let Some(i) = body.find('\n') {
            body = body[i + 1..].to_string();
        }
    }
    let mut out = body;
    if !out.is_empty() {
        out.push('\n');
    }
    let mut status = vec![job_label(&view), state_text(&view.state), secs(view.runtime)];
    status.push(format!("last lines of {} of output", human_bytes(view.output_bytes)));
    status.extend(wait_text(&waited));
    out.push_str(&format!("[{}]", status.join(" · ")));
    (out, report(&view, view.read_pos, None))
}

/// Lines of what is kept that match `re`, oldest first, within the budget.
fn render_grep(
    job: &Job,
    re: &Regex,
    waited: Option<Waited>,
    budget: usize,
    cancel: &Cancel,
) -> ToolResult<(String, JobReport)> {
    let view = job.view();
    let snap = job.snapshot();
    let room = budget.saturating_sub(STATUS_RESERVE).max(200);
    let (mut out, mut shown, mut total) = (String::new(), 0usize, 0usize);
    for_each_line(&snap, cancel, &mut |line| {
        let text = String::from_utf8_lossy(line);
        let text = crate::output::strip_ansi(&text);
        if re.is_match(&text) {
            total += 1;
            let clipped = crate::output::clip_line(text.trim_end_matches('\r'), 500);
            if out.len() + clipped.len() < room {
                out.push_str(&clipped);
                out.push('\n');
                shown += 1;
            }
        }
    })?;
    let mut status = vec![job_label(&view), state_text(&view.state), secs(view.runtime)];
    status.push(if total == shown {
        format!("{total} matching line{}", if total == 1 { "" } else { "s" })
    } else {
        format!("first {shown} of {total} matching lines (narrow the pattern for the rest)")
    });
    if snap.start() > 0 {
        status.push(format!("searched the last {} kept", human_bytes(snap.end() - snap.start())));
    }
    status.extend(wait_text(&waited));
    out.push_str(&format!("[{}]", status.join(" · ")));
    Ok((out, report(&view, view.read_pos, None)))
}

/// Calls `f` with every line of the snapshot (without its newline), reading in bounded chunks.
fn for_each_line(snap: &Snapshot, cancel: &Cancel, f: &mut dyn FnMut(&[u8])) -> ToolResult<()> {
    const CHUNK: usize = 1 << 20;
    let mut pos = snap.start();
    let mut carry: Vec<u8> = Vec::new();
    while pos < snap.end() {
        cancel.check()?;
        let chunk = snap
            .read(pos, CHUNK)
            .map_err(|e| ToolError::new(ErrorKind::Io, format!("cannot read the job's output: {e}")))?;
        if chunk.is_empty() {
            break;
        }
        pos += chunk.len() as u64;
        let mut rest = &chunk[..];
        while let Some(nl) = memchr::memchr(b'\n', rest) {
            if carry.is_empty() {
                f(&rest[..nl]);
            } else {
                carry.extend_from_slice(&rest[..nl]);
                f(&carry);
                carry.clear();
            }
            rest = &rest[nl + 1..];
        }
        if carry.len() < 1 << 20 {
            carry.extend_from_slice(rest);
        }
    }
    if !carry.is_empty() {
        f(&carry);
    }
    Ok(())
}

/// Decodes `bytes` and keeps at most `max_chars` characters, ending after a newline when there is one in
/// range. `hold_partial`: the last line is still being written, so it is left for the next read. Returns the
/// text and the number of bytes it covers.
fn cut(bytes: &[u8], max_chars: usize, hold_partial: bool) -> (String, usize) {
    // Never split a UTF-8 sequence: find the longest valid prefix within the character budget.
    let mut end = 0;
    let mut chars = 0;
    let mut last_nl = None;
    while end < bytes.len() && chars < max_chars {
        let b = bytes[end];
        let len = match b {
            0x00..=0x7f => 1,
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf7 => 4,
            _ => 1,
        };
        if end + len > bytes.len() {
            break;
        }
        end += len;
        chars += 1;
        if b == b'\n' {
            last_nl = Some(end);
        }
    }
    let whole = end == bytes.len();
    let end = match last_nl {
        // Cut at the last line end when the budget (or a partial last line) stops mid-line.
        Some(nl) if !whole || hold_partial => nl,
        _ => end,
    };
    (String::from_utf8_lossy(&bytes[..end]).into_owned(), end)
}

fn clip_lines(text: &str, max: usize) -> String {
    if text.lines().all(|l| l.len() <= max) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len().min(max * 64));
    for line in text.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        out.push_str(&crate::output::clip_line(body, max));
        out.push_str(nl);
    }
    out
}

fn wait_text(waited: &Option<Waited>) -> Option<String> {
    match waited {
        None | Some(Waited::Output) | Some(Waited::Ended) => None,
        Some(Waited::Matched { line, .. }) => Some(format!("wait_for matched: {}", clip(line, 200))),
        Some(Waited::Deadline) => Some("waited the full wait_secs: no match yet".into()),
        Some(Waited::Cancelled) => Some("wait cancelled by the client".into()),
    }
}

fn job_label(v: &JobView) -> String {
    match &v.name {
        Some(n) => format!("job {} ({n})", v.id),
        None => format!("job {}", v.id),
    }
}

fn state_text(s: &State) -> String {
    let exit = |e: &Exit| match e {
        Exit::Code(c) => format!("exit {c}"),
        Exit::Signal(s) => format!("killed by signal {s}"),
        Exit::TimedOut(_) => "timed out".into(),
        Exit::Cancelled => "killed".into(),
    };
    match s {
        State::Running => "running".into(),
        State::Exited(e) => format!("exited ({})", exit(e)),
        State::Stopped(e) => format!("stopped ({})", exit(e)),
        State::TimedOut => "TIMED OUT: its wall-clock limit passed; the whole tree was killed".into(),
        State::Killed => "killed (its session ended)".into(),
    }
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 { format!("{s:.1} s") } else { format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60) }
}

fn clip(s: &str, max: usize) -> String {
    let one_line = s.replace('\n', " ⏎ ");
    crate::output::clip_line(&one_line, max).into_owned()
}

fn report(v: &JobView, cursor: u64, matched: Option<String>) -> JobReport {
    let (exit_code, signal) = match v.state.exit() {
        Some(Exit::Code(c)) => (Some(*c), None),
        Some(Exit::Signal(s)) => (None, Some(*s)),
        _ => (None, None),
    };
    JobReport {
        id: v.id.clone(),
        name: v.name.clone(),
        state: v.state.word(),
        exit_code,
        signal,
        runtime_ms: v.runtime.as_millis() as u64,
        output_bytes: v.output_bytes,
        dropped_bytes: v.kept_from,
        cursor,
        matched,
    }
}

fn job_error(e: JobError) -> ToolError {
    match e {
        JobError::Limit { max, running } => {
            let list: Vec<String> = running
                .iter()
                .map(|v| {
                    format!(
                        "{} ({}, {}: {})",
                        job_label(v),
                        state_text(&v.state),
                        secs(v.runtime),
                        clip(&v.command, 80)
                    )
                })
                .collect();
            ToolError::new(
                ErrorKind::LimitReached,
                format!(
                    "this session already runs {max} jobs, the most it may (jobs.max_per_session): {}. Stop one \
                     with job_stop first",
                    list.join("; ")
                ),
            )
        }
        JobError::Unknown { id, known } if known.is_empty() => ToolError::new(
            ErrorKind::NotFound,
            format!("no job {id:?}: this session has no jobs; job_start starts one"),
        ),
        JobError::Unknown { id, known } => ToolError::new(
            ErrorKind::NotFound,
            format!("no job {id:?} in this session; its jobs are {} (job_list shows them)", known.join(", ")),
        ),
        JobError::NotRunning(v) => ToolError::new(
            ErrorKind::InvalidArgument,
            format!(
                "{} is not running: it {} after {}; its output stays readable with job_output",
                job_label(&v),
                state_text(&v.state),
                secs(v.runtime)
            ),
        ),
        JobError::Input(why) => ToolError::new(ErrorKind::Io, why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_ends_at_a_line_end_and_never_splits_a_character() {
        assert_eq!(cut(b"one\ntwo\nthr", 100, false), ("one\ntwo\nthr".into(), 11));
        assert_eq!(cut(b"one\ntwo\nthr", 100, true), ("one\ntwo\n".into(), 8));
        assert_eq!(cut(b"one\ntwo\nthree\n", 9, false), ("one\ntwo\n".into(), 8));
        assert_eq!(cut("héllo".as_bytes(), 2, false), ("hé".into(), 3));
        assert_eq!(cut(b"no newline at all", 5, true), ("no ne".into(), 5));
    }
}
