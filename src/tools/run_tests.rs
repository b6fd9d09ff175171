//! run_tests: the project's test runner in the sandbox, its output turned into a compact structured report —
//! status, counts, each failure with where and why, or the build errors when the tests never ran — plus a
//! warning when the same failures keep coming back.

use std::time::Duration;

use serde::Serialize;

use crate::error::{ErrorKind, ToolError, ToolResult};
use crate::sandbox::{Exit, REPORT_MOUNT, Run, Stream};
use crate::testparse::{BuildError, Counts, Failure, Status};
use crate::testrun::{self, Framework, REPEAT_THRESHOLD};
use crate::tools::capture::Capture;
use crate::tools::{Cancel, Context, Progress};

pub(crate) struct TestRequest<'a> {
    pub path: Option<&'a str>,
    pub filter: Option<&'a str>,
    pub command: Option<&'a str>,
}

/// The structured result (structuredContent); the text rendering says the same in fewer tokens.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TestRun {
    pub status: Status,
    pub framework: String,
    pub command: Vec<String>,
    #[serde(flatten)]
    pub counts: Counts,
    pub duration_ms: u64,
    pub failures: Vec<Failure>,
    pub build_errors: Vec<BuildError>,
    /// Failures (or build errors) beyond the cap, not listed.
    pub omitted: usize,
    /// The full output, for read_output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_id: Option<String>,
    /// Runs in a row, this one included, that failed with the same failures and messages.
    pub same_failures_runs: usize,
}

/// Failures and build errors listed in one result; the rest are counted.
const MAX_LISTED: usize = 20;
/// Raw output kept in memory for the parsers (the spill keeps more).
const PARSE_MAX: usize = 64 << 20;

pub(crate) fn run_tests(
    ctx: &Context,
    req: &TestRequest<'_>,
    cancel: &Cancel,
    progress: &Progress,
) -> ToolResult<(TestRun, String)> {
    let target = ctx.ws.path(req.path.unwrap_or("."))?;
    let shown = target.display();
    if req.command.is_some() && req.filter.is_some() {
        return Err(ToolError::invalid(
            "give filter or command, not both: a filter is passed to the detected runner as one argument, and \
             codebox never splices it into a command string; put it in the command yourself",
        ));
    }
    let read_in = |dir: &str, name: &str| -> Option<String> {
        let p = ctx.ws.path(&format!("{dir}/{name}")).ok()?;
        let (mut f, meta) = ctx.ws.open_file(&p).ok()?;
        if meta.len() > 1 << 20 {
            return Some(String::new());
        }
        let mut s = String::new();
        std::io::Read::read_to_string(&mut f, &mut s).ok()?;
        Some(s)
    };
    // The nearest directory from `dir` up to the root whose runner is detected (the root when none is).
    let project_of = |mut dir: &str| loop {
        if testrun::detect(&|n| read_in(dir, n), false).is_some() || dir == "." {
            break dir.to_string();
        }
        dir = dir.rsplit_once('/').map(|(p, _)| p).unwrap_or(".");
    };
    let custom_set = req.command.is_some() || ctx.config.tests.command.is_some();
    // A project directory is run as it is; a test file, or a directory inside a project, is run inside the
    // nearest enclosing project that has a runner, with the runner told which tests.
    let (cwd, file) = match ctx.ws.dir_path(&target) {
        Ok(cwd) => {
            let rel = ctx.ws.relative_display(&cwd);
            let project = if custom_set || rel == "." { rel.clone() } else { project_of(&rel) };
            if project == rel || (project == "." && testrun::detect(&|n| read_in(".", n), false).is_none()) {
                (cwd, None)
            } else {
                let in_project = if project == "." { rel.clone() } else { rel[project.len() + 1..].to_string() };
                (ctx.ws.dir_path(&ctx.ws.path(&project)?)?, Some(Target::Dir(in_project)))
            }
        }
        Err(dir_err) => {
            let Ok((mut f, _)) = ctx.ws.open_file(&target) else {
                return Err(ToolError::new(
                    dir_err.kind().clone(),
                    format!(
                        "run_tests takes a project directory or a test file as path; {shown:?} is neither ({}). \
                         Omit path to run the workspace's tests",
                        dir_err.message()
                    ),
                ));
            };
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut std::io::Read::take(&mut f, 4 << 20), &mut text);
            let rel = ctx.ws.resolved_rel(&target).unwrap_or_else(|| target.as_rel().to_path_buf());
            let rel = rel.to_string_lossy().into_owned();
            let project = project_of(rel.rsplit_once('/').map(|(d, _)| d).unwrap_or("."));
            let in_project = if project == "." { rel.clone() } else { rel[project.len() + 1..].to_string() };
            let cwd = ctx.ws.dir_path(&ctx.ws.path(&project)?)?;
            (cwd, Some(Target::File(in_project, text.contains("mod tests"))))
        }
    };
    let rel_dir = ctx.ws.relative_display(&cwd);
    let shell = &ctx.sandbox.settings().shell;
    let custom = req.command.map(str::to_string).or_else(|| ctx.config.tests.command.clone());
    let (fw, argv) = match custom {
        Some(_) if file.is_some() => {
            return Err(ToolError::invalid(format!(
                "a test file cannot be given to a command (the call's or [tests] command in codebox.toml): put \
                 {shown} in the command, or pass its project directory as path"
            )));
        }
        Some(c) => (Framework::Custom, vec![shell.clone(), "-c".into(), c]),
        None => {
            let detected = testrun::detect(&|n| read_in(&rel_dir, n), on_path("cargo-nextest"));
            // A test file in a project without markers (a bare `tests/test_x.py`) names its runner itself.
            let by_file = match &file {
                Some(Target::File(f, _)) => testrun::framework_of_file(f),
                _ => None,
            };
            let fw = detected.or(by_file).ok_or_else(|| {
                ToolError::new(
                    ErrorKind::NotFound,
                    format!(
                        "no test runner detected in {rel_dir:?} (looked for Cargo.toml, go.mod, package.json, \
                         pytest markers, a Makefile test target); pass command, or set [tests] command in codebox.toml"
                    ),
                )
            })?;
            let argv = match &file {
                Some(Target::Dir(d)) => {
                    testrun::argv_for_dir(fw, d, req.filter, REPORT_MOUNT).map_err(ToolError::invalid)?
                }
                Some(Target::File(f, mod_tests)) => {
                    testrun::argv_for_file(fw, f, req.filter, REPORT_MOUNT, *mod_tests).map_err(ToolError::invalid)?
                }
                None => testrun::argv(fw, req.filter, REPORT_MOUNT),
            };
            (fw, argv)
        }
    };
    let report_dir = tempfile::Builder::new()
        .prefix("report-")
        .tempdir_in(ctx.scratch.path())
        .map_err(|e| ToolError::new(ErrorKind::Io, format!("cannot create a report directory: {e}")))?;
    let mut env: Vec<(String, String)> =
        [("CI", "true"), ("NO_COLOR", "1"), ("CARGO_TERM_COLOR", "never"), ("GOTOOLCHAIN", "local")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    if ctx.sandbox.settings().network == crate::config::NetworkMode::Off {
        env.push(("CARGO_NET_OFFLINE".into(), "true".into()));
    }
    let timeout = Duration::from_secs(ctx.config.tests.timeout_secs);
    // The session's network: a service the agent started as a job is reachable from the tests.
    let net = ctx.session_net();
    let grant = super::network::grant(ctx);
    let run = Run {
        argv: argv.clone(),
        report_dir: Some(report_dir.path().to_path_buf()),
        cwd,
        extra_env: &env,
        timeout,
        net: net.as_deref(),
        proxy_token: grant.as_ref().map(|g| g.token()),
        lifetime: crate::sandbox::Lifetime::Call,
    };

    let budget = ctx.budget(None)?;
    let mut capture = Capture::new(ctx, budget);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let outcome = ctx
        .sandbox
        .run(&run, cancel, &mut |stream, bytes| {
            progress.add(bytes);
            capture.push(bytes);
            let buf = if stream == Stream::Stdout { &mut out } else { &mut err };
            if buf.len() < PARSE_MAX {
                buf.extend_from_slice(bytes);
            }
        })
        .map_err(|r| super::command::sandbox_refused("the tests were not run", &r))?;
    let captured = capture.finish_keep();
    let stdout = String::from_utf8_lossy(&out);
    let stderr = String::from_utf8_lossy(&err);
    let combined = format!("{stdout}{stderr}");
    let junit = std::fs::read_to_string(report_dir.path().join(testrun::JUNIT_FILE)).ok();
    let mut parsed = testrun::parse(fw, &stdout, &stderr, &combined, junit.as_deref());
    let root = ctx.ws.root().display().to_string();
    for f in parsed.failures.iter_mut() {
        relativise(&mut f.file, &root);
        // Stack lines name files by their absolute path inside the sandbox; the workspace-relative one is shorter.
        f.message = f.message.replace(&format!("{root}/"), "");
    }
    for b in parsed.build_errors.iter_mut() {
        relativise(&mut b.file, &root);
    }
    let exit_ok = matches!(outcome.exit, Exit::Code(0));
    let status = match &outcome.exit {
        Exit::TimedOut(_) => Status::Timeout,
        Exit::Cancelled => return Err(ToolError::new(ErrorKind::Cancelled, "cancelled by the client")),
        _ => parsed.status(exit_ok),
    };
    let signature = if matches!(status, Status::Failed | Status::Error) { testrun::signature(&parsed) } else { None };
    let same = ctx
        .repeats
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(format!("{rel_dir}/{}", file.as_ref().map(Target::rel).unwrap_or("")))
        .or_default()
        .record(signature);
    let total_listed = parsed.failures.len() + parsed.build_errors.len();
    parsed.failures.truncate(MAX_LISTED);
    parsed.build_errors.truncate(MAX_LISTED.saturating_sub(parsed.failures.len()));
    let report = TestRun {
        status,
        framework: fw.name().to_string(),
        command: argv,
        counts: parsed.counts.clone(),
        duration_ms: outcome.duration.as_millis() as u64,
        omitted: total_listed - parsed.failures.len() - parsed.build_errors.len(),
        failures: parsed.failures,
        build_errors: parsed.build_errors,
        output_id: captured.spill_id.clone(),
        same_failures_runs: same,
    };
    let mut text = render(&report, &outcome.exit, &captured.text, parsed.recognised);
    let network = super::network::notes(ctx, grant.as_ref(), !exit_ok, &combined);
    if !network.is_empty() {
        text = format!("{}\n{}", text.trim_end(), network.trim_end());
    }
    if let Some(note) = super::command::limits_note(ctx, &outcome.limits) {
        text = format!("{}\n{note}", text.trim_end());
    }
    Ok((report, super::capture::fit(ctx, &text, budget)))
}

/// What part of a project a call asked for: a test file (and whether it has a `mod tests`) or a directory.
enum Target {
    File(String, bool),
    Dir(String),
}

impl Target {
    fn rel(&self) -> &str {
        match self {
            Target::File(f, _) | Target::Dir(f) => f,
        }
    }
}

fn relativise(file: &mut Option<String>, root: &str) {
    if let Some(f) = file
        && let Some(rest) = f.strip_prefix(root)
    {
        *f = rest.trim_start_matches('/').to_string();
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

fn render(r: &TestRun, exit: &Exit, shaped_output: &str, recognised: bool) -> String {
    let c = &r.counts;
    let head = match r.status {
        Status::Passed => "PASSED",
        Status::Failed => "FAILED",
        Status::Error => "ERROR (the tests did not run: build or collection failed)",
        Status::Timeout => "TIMEOUT (the whole process tree was killed)",
    };
    let mut out = format!(
        "{head} · {} · {} passed, {} failed, {} skipped{} · {:.2} s\n",
        r.framework,
        c.passed,
        c.failed,
        c.skipped,
        if c.errors > 0 { format!(", {} errors", c.errors) } else { String::new() },
        r.duration_ms as f64 / 1000.0
    );
    for f in &r.failures {
        let at = match (&f.file, f.line) {
            (Some(file), Some(line)) => format!(" ({file}:{line})"),
            (Some(file), None) => format!(" ({file})"),
            _ => String::new(),
        };
        out.push_str(&format!("✗ {}{at}\n", f.id));
        // The failure's own place is in the header; message lines that repeat it say only the rest: pytest's
        // `at FILE:LINE: code`, Go's `FILE:LINE: text`, a stack frame `at name (FILE:LINE)` of the test itself.
        let own = f.file.as_ref().zip(f.line).map(|(file, line)| format!("{file}:{line}"));
        let mut lines: Vec<String> = Vec::new();
        for l in f.message.lines() {
            let l = l.trim_end();
            let t = l.trim_start();
            let l = match own.as_deref() {
                Some(own) if t.starts_with("at ") && t.ends_with(&format!("({own})")) => continue,
                Some(own) => {
                    match t.strip_prefix("at ").unwrap_or(t).strip_prefix(own).and_then(|r| r.strip_prefix(": ")) {
                        Some(rest) if t.starts_with("at ") => format!("> {rest}"),
                        Some(rest) => rest.to_string(),
                        None => l.to_string(),
                    }
                }
                None => l.to_string(),
            };
            lines.push(l);
        }
        while lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        for l in lines {
            out.push_str(&if l.is_empty() { "\n".to_string() } else { format!("  {l}\n") });
        }
    }
    for b in &r.build_errors {
        let at = match (&b.file, b.line, b.column) {
            (Some(f), Some(l), Some(col)) => format!("{f}:{l}:{col}: "),
            (Some(f), Some(l), None) => format!("{f}:{l}: "),
            (Some(f), None, _) => format!("{f}: "),
            _ => String::new(),
        };
        out.push_str(&format!("error: {at}{}\n", b.message.lines().next().unwrap_or("")));
        for l in b.message.lines().skip(1).take(6) {
            out.push_str(&format!("  {}\n", l.trim_end()));
        }
    }
    if r.omitted > 0 {
        out.push_str(&format!("… and {} more not listed\n", r.omitted));
    }
    // When nothing could be parsed from a failing run, the model needs the output itself.
    if r.status != Status::Passed && r.failures.is_empty() && r.build_errors.is_empty() {
        out.push_str(&format!(
            "(the output could not be parsed{}; here it is)\n{shaped_output}\n",
            if recognised { "" } else { " as a known runner" }
        ));
        if let Exit::Code(code) = exit {
            out.push_str(&format!("[exit {code}]\n"));
        }
    }
    if r.same_failures_runs >= REPEAT_THRESHOLD {
        out.push_str(&format!(
            "NOTE: the same failures, with the same messages, came back {} runs in a row. Retrying the same fix is \
             unlikely to help: re-read the code under test and the test itself, and change approach.\n",
            r.same_failures_runs
        ));
    }
    if let Some(id) = &r.output_id {
        out.push_str(&format!("[full output: read_output(id=\"{id}\")]\n"));
    }
    out
}
