//! Issue 13, background jobs: services that outlive one call, reachable from the session's other commands and from
//! no other session, waited on without polling, stopped as a whole tree, and never left behind (ATTACKS.md J1–J7).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::*;

/// Calls a job tool that must succeed; returns its text and structured content.
async fn job(c: &Client, tool: &str, args: Value) -> (String, Value) {
    let out = call(c, tool, args.clone()).await;
    assert!(!out.is_error, "{tool} {args} failed: {}", out.text);
    let s = out.structured.unwrap_or_else(|| panic!("{tool} returned no structured content: {}", out.text));
    (out.text, s)
}

/// A marker unique to this test process and test, for finding the job's processes on the host.
pub(crate) fn marker(test: &str) -> String {
    format!("cbxjob{}{test}", std::process::id())
}

/// pidfds of the host processes named `marker…` (their argv[0]; a shell whose script mentions it is not one).
pub(crate) fn pidfds_with(marker: &str) -> Vec<OwnedFd> {
    host_processes_with(marker)
        .iter()
        .filter_map(|l| l.split_once(": ").filter(|(_, cmd)| cmd.starts_with(marker)))
        .filter_map(|(pid, _)| pid.parse::<i32>().ok())
        .filter_map(|pid| {
            // SAFETY: pidfd_open on a pid; the fd is wrapped at once.
            let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
            // SAFETY: a fresh fd we own.
            (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
        })
        .collect()
}

/// Waits (on the pidfds, no polling) until every process has exited; false if some still run after `limit`.
pub(crate) fn all_exit_within(fds: &[OwnedFd], limit: Duration) -> bool {
    let deadline = std::time::Instant::now() + limit;
    for fd in fds {
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let mut p = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd.
            match unsafe { libc::poll(&mut p, 1, left.as_millis() as i32) } {
                1 => break,
                // A signal (the test runtime's SIGCHLD when codebox dies) interrupts the wait: wait on.
                -1 if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) => continue,
                _ => return false,
            }
        }
    }
    true
}

fn port_of(matched: &Value) -> u16 {
    matched.as_str().unwrap().rsplit(' ').next().unwrap().trim().parse().unwrap()
}

/// A Python HTTP server on a free port, started as a job that returns once it serves.
async fn http_server_job(c: &Client) -> (String, u16) {
    p_write_index(c).await;
    let (text, s) = job(
        c,
        "job_start",
        json!({"command": "python3 -c \"import http.server as h; s=h.HTTPServer(('127.0.0.1', 0), h.SimpleHTTPRequestHandler); print('serving on', s.server_port, flush=True); s.serve_forever()\"",
               "name": "web", "wait_for": "^serving on \\d+$", "wait_secs": 30}),
    )
    .await;
    assert_eq!(s["state"], "running", "{text}");
    assert!(text.contains("wait_for matched: serving on"), "{text}");
    (s["id"].as_str().unwrap().to_string(), port_of(&s["matched"]))
}

async fn p_write_index(c: &Client) {
    ok(c, "write_file", json!({"path": "index.html", "content": "hello from the job\n"})).await;
}

fn fetch(port: u16) -> String {
    format!(
        "python3 -c \"import urllib.request as u; r=u.urlopen('http://127.0.0.1:{port}/index.html', timeout=5); print('status', r.status, r.read().decode().strip())\""
    )
}

/// J1: a server started as a job is reachable from run_command in the same session, and from no other
/// session (each session has its own loopback).
#[tokio::test]
async fn j1_a_job_server_is_reachable_from_its_session_only_stdio() {
    let p = Project::new();
    let c = stdio(&p.root, &[]).await;
    let (id, port) = http_server_job(&c).await;
    let out = ok(&c, "run_command", json!({"command": fetch(port)})).await;
    assert!(out.contains("status 200 hello from the job"), "{out}");

    let other = stdio(&p.root, &[]).await;
    let out = ok(&other, "run_command", json!({"command": fetch(port)})).await;
    assert!(
        out.contains("Connection refused") && !out.contains("status 200"),
        "another session must not reach it: {out}"
    );

    let (text, s) = job(&c, "job_stop", json!({"id": id})).await;
    assert_eq!(s["state"], "stopped", "{text}");
    let out = ok(&c, "run_command", json!({"command": fetch(port)})).await;
    assert!(out.contains("Connection refused"), "stopped means gone: {out}");
}

/// J1 over HTTP: two sessions of one server have separate networks; ending a session (DELETE) kills its jobs.
#[tokio::test]
async fn j1_sessions_of_one_http_server_have_separate_networks() {
    let p = Project::new();
    let server = HttpServer::start(&p.root, Some("jobs-token-0123456789abcdef"), &[]).await;
    let a = server.client().await;
    let b = server.client().await;
    let m = marker("http");
    let (id, port) = http_server_job(&a).await;
    let out = ok(&a, "run_command", json!({"command": fetch(port)})).await;
    assert!(out.contains("status 200"), "{out}");
    let out = ok(&b, "run_command", json!({"command": fetch(port)})).await;
    assert!(out.contains("Connection refused"), "session b must not reach session a's server: {out}");
    let out = call(&b, "job_output", json!({"id": id})).await;
    assert!(out.is_error && out.text.contains("no job"), "jobs are per session: {}", out.text);

    job(&a, "job_start", json!({"command": sleeper(&m, "sleeper", false), "wait_for": "^up$"})).await;
    let fds = pidfds_with(&m);
    assert_eq!(fds.len(), 1, "{:?}", host_processes_with(&m));
    a.cancel().await.unwrap();
    assert!(
        all_exit_within(&fds, Duration::from_secs(20)),
        "ending the session kills its jobs: {:?}",
        host_processes_with(&m)
    );
    b.cancel().await.unwrap();
}

/// The fixture bug-fix flow: tests that need a running service fail, the agent starts the service as a job,
/// the tests still fail on the client's missing retry, the agent fixes the client, the tests pass.
#[tokio::test]
async fn a_service_backed_test_suite_goes_from_failing_to_passing_through_the_tools() {
    let p = fixture("jobs_retry");
    let c = stdio(&p.root, &[]).await;
    let (_, s) = job_tests(&c).await;
    assert_eq!(s["status"], "failed", "no server yet: {s}");
    let (text, s) =
        job(&c, "job_start", json!({"command": "python3 server.py 8765", "name": "api", "wait_for": "^ready on"}))
            .await;
    assert_eq!(s["matched"], "ready on 8765", "{text}");
    let (text, s) = job_tests(&c).await;
    assert_eq!(s["status"], "failed", "the client does not retry a dropped connection: {text}");
    assert!(text.contains("RemoteDisconnected"), "{text}");
    ok(&c, "edit_file", json!({"path": "client.py", "edits": [{"old_string": "            last = e\n            raise\n", "new_string": "            last = e\n"}]})).await;
    let (text, s) = job_tests(&c).await;
    assert_eq!(s["status"], "passed", "{text}");
    let (text, _) = job(&c, "job_output", json!({"id": "api", "pattern": "request:"})).await;
    assert!(text.contains("GET /health"), "the server saw the requests: {text}");
}

async fn job_tests(c: &Client) -> (String, Value) {
    let out = call(c, "run_tests", json!({})).await;
    (out.text, out.structured.expect("run_tests structured content"))
}

/// Cursor reads return each byte exactly once, in order, whatever the pace of the job.
#[tokio::test]
async fn cursor_reads_return_each_byte_once() {
    let p = Project::new();
    let c = stdio(&p.root, &[]).await;
    let (_, s) = job(
        &c,
        "job_start",
        json!({"command": "for i in $(seq 1 300); do echo line-$i; [ $((i % 50)) = 0 ] && sleep 0.2; done"}),
    )
    .await;
    let id = s["id"].as_str().unwrap().to_string();
    let mut got = String::new();
    for _ in 0..200 {
        let (text, s) = job(&c, "job_output", json!({"id": id, "wait_secs": 10})).await;
        got.push_str(text.rsplit_once("\n[job").map(|(b, _)| b).unwrap_or(""));
        if !got.is_empty() && !got.ends_with('\n') {
            got.push('\n');
        }
        if s["state"] != "running" && s["cursor"] == s["output_bytes"] {
            break;
        }
    }
    let want: String = (1..=300).map(|i| format!("line-{i}\n")).collect();
    assert_eq!(got, want);
    // An explicit cursor re-reads from any offset.
    let (text, s) = job(&c, "job_output", json!({"id": id, "cursor": 0, "max_output_chars": 1000})).await;
    assert!(text.starts_with("line-1\nline-2\n"), "{text}");
    assert!(s["cursor"].as_u64().unwrap() < s["output_bytes"].as_u64().unwrap(), "a page, then more: {s}");
    assert!(text.contains("more: job_output(id=\"j1\") continues"), "{text}");
}

/// wait_for returns when the line arrives (after 2 s), not at the end of wait_secs; the job runs on.
#[tokio::test]
async fn wait_for_returns_when_the_line_arrives() {
    let p = Project::new();
    let c = stdio(&p.root, &[]).await;
    let (text, s) = job(
        &c,
        "job_start",
        json!({"command": "echo booting; sleep 2; echo READY 42; sleep 300", "wait_for": "READY", "wait_secs": 60}),
    )
    .await;
    assert_eq!(s["matched"], "READY 42", "{text}");
    assert_eq!(s["state"], "running");
    assert!(text.starts_with("booting\nREADY 42\n"), "{text}");
    // job_output waits the same way, for output after the cursor.
    let (text, s) = job(&c, "job_output", json!({"id": s["id"], "wait_for": "never", "wait_secs": 1})).await;
    assert!(text.contains("waited the full wait_secs: no match yet") && s.get("matched").is_none(), "{text}");
}

/// A REPL driven through job_input: the answer comes back in the same call.
#[tokio::test]
async fn input_to_a_repl_and_its_answer() {
    let p = Project::new();
    let c = stdio(&p.root, &[]).await;
    let (_, s) = job(&c, "job_start", json!({"command": "python3 -i -q", "name": "py"})).await;
    let (text, s2) = job(&c, "job_input", json!({"id": "py", "text": "print(6 * 7)", "wait_for": "42"})).await;
    assert!(s2["matched"].as_str().unwrap().contains("42"), "{text}");
    assert_eq!(s2["id"], s["id"]);
    let (text, _) =
        job(&c, "job_input", json!({"id": "py", "text": "x = 'abc' * 2\nprint(x.upper())", "wait_for": "ABCABC"}))
            .await;
    assert!(text.contains("ABCABC"), "{text}");
    let (text, s) = job(&c, "job_stop", json!({"id": "py"})).await;
    assert_eq!(s["state"], "stopped", "{text}");
}

/// J2: job_stop ends a tree of 50 processes — setsid'd, double-forked and SIGTERM-ignoring ones included; no
/// process of the job remains on the host (checked in /proc from the test).
#[tokio::test]
async fn j2_stop_kills_a_tree_of_fifty_processes() {
    let p = Project::new();
    let c = stdio(&p.root, &[]).await;
    let m = marker("tree");
    // The marker is assembled at run time so that no shell's own command line holds it, only the sleepers'.
    let (a, b) = m.split_at(4);
    let script = format!(
        r#"M={a}; M=${{M}}{b}
for i in $(seq 20); do (exec -a $M-plain sleep 1000) & done
for i in $(seq 10); do setsid bash -c "exec -a $M-setsid sleep 1000" & done
for i in $(seq 10); do bash -c "(exec -a $M-dfork sleep 1000 &)"; done
for i in $(seq 10); do bash -c "trap '' TERM; exec -a $M-noterm sleep 1000" & done
P="^[${{M:0:1}}]${{M:1}}-"
until [ "$(grep -l "$P" /proc/[0-9]*/cmdline 2>/dev/null | wc -l)" -ge 50 ]; do sleep 0.05; done
echo ALL-UP; wait"#
    );
    let (text, s) = job(&c, "job_start", json!({"command": script, "wait_for": "^ALL-UP$", "wait_secs": 60})).await;
    assert_eq!(s["matched"], "ALL-UP", "{text}");
    let fds = pidfds_with(&m);
    assert_eq!(fds.len(), 50, "{:?}", host_processes_with(&m));
    let (list, l) = job(&c, "job_list", json!({})).await;
    assert!(list.contains("processes"), "{list}");
    assert_eq!(l["jobs"][0]["state"], "running");
    let (text, s) = job(&c, "job_stop", json!({"id": s["id"]})).await;
    assert_eq!(s["state"], "stopped", "{text}");
    assert!(all_exit_within(&fds, Duration::from_secs(20)), "left behind: {:?}", host_processes_with(&m));
    assert!(host_processes_with(&m).is_empty());
}

/// A job command that starts `sleep 1000` under the name `<marker>-<what>` (`setsid`: in a new session) and
/// prints `up` once that process exists. The marker is assembled at run time, so that no shell's own command
/// line holds it, only the sleeper's.
pub(crate) fn sleeper(m: &str, what: &str, setsid: bool) -> String {
    let (a, b) = m.split_at(4);
    let start = if setsid {
        format!("setsid bash -c \"exec -a $M-{what} sleep 1000\" &")
    } else {
        format!("(exec -a $M-{what} sleep 1000) &")
    };
    format!(
        "M={a}; M=${{M}}{b}; {start} until grep -qs \"^[${{M:0:1}}]${{M:1}}-{what}\" /proc/[0-9]*/cmdline; do sleep 0.05; done; echo up; wait"
    )
}

/// J3: closing the session, and killing codebox with SIGKILL, both leave no job process behind.
#[tokio::test]
async fn j3_no_job_outlives_its_session_or_codebox() {
    let p = Project::new();
    let m = marker("life");
    let c = stdio(&p.root, &[]).await;
    job(&c, "job_start", json!({"command": sleeper(&m, "closed", false), "wait_for": "^up$"})).await;
    let fds = pidfds_with(&format!("{m}-closed"));
    assert_eq!(fds.len(), 1, "{:?}", host_processes_with(&m));
    c.cancel().await.unwrap();
    assert!(all_exit_within(&fds, Duration::from_secs(20)), "stdio EOF kills the job");

    let env_marker = format!("{m}-server");
    let c = stdio_with(&p.root, &[], &[("CODEBOX_TEST_MARKER", &env_marker)], |_| {}).await;
    job(&c, "job_start", json!({"command": sleeper(&m, "killed", false), "wait_for": "^up$"})).await;
    job(&c, "job_start", json!({"command": sleeper(&m, "killedsetsid", true), "wait_for": "^up$"})).await;
    let server = pid_with_env(&env_marker).expect("the codebox process");
    let fds = pidfds_with(&format!("{m}-killed"));
    assert_eq!(fds.len(), 2, "{:?}", host_processes_with(&m));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(server), nix::sys::signal::Signal::SIGKILL).unwrap();
    assert!(all_exit_within(&fds, Duration::from_secs(20)), "left behind: {:?}", host_processes_with(&m));
}

/// J4: a job printing 1 GB keeps codebox's memory flat; the cut is announced and the end is readable.
#[tokio::test]
async fn j4_a_gigabyte_of_output_keeps_memory_bounded() {
    let p = Project::new();
    let env_marker = marker("flood");
    let c = stdio_with(&p.root, &[], &[("CODEBOX_TEST_MARKER", &env_marker)], |_| {}).await;
    let (text, s) = job(
        &c,
        "job_start",
        json!({"command": "yes 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz 2>/dev/null | head -c 1000000000; echo; echo THE-END", "wait_secs": 60}),
    )
    .await;
    assert_eq!(s["state"], "exited", "{text}");
    assert_eq!(s["output_bytes"], 1_000_000_009u64);
    assert!(s["dropped_bytes"].as_u64().unwrap() > 900_000_000, "{s}");
    assert!(
        text.starts_with("[") && text.contains("of output before this was dropped: a job keeps its last 64.0 MiB"),
        "{text}"
    );
    assert!(s["cursor"].as_u64().unwrap() > 900_000_000, "the read starts at what is kept: {s}");
    let (text, _) = job(&c, "job_output", json!({"id": s["id"], "tail": 1})).await;
    assert!(text.starts_with("THE-END\n"), "{text}");
    let server = pid_with_env(&env_marker).expect("the codebox process");
    let status = std::fs::read_to_string(format!("/proc/{server}/status")).unwrap();
    let hwm_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap();
    assert!(hwm_kib < 192 * 1024, "codebox's peak RSS was {hwm_kib} KiB while a job printed 1 GB");
}

/// J5: the limits and the mistakes get clear errors: the job limit (naming the running jobs), an unknown id,
/// input to an exited job, an invalid wait_for regex, a wait past 60 s.
#[tokio::test]
async fn j5_limits_and_mistakes_get_clear_errors() {
    let p = Project::new();
    p.write("codebox.toml", "[jobs]\nmax_per_session = 2\n");
    let c = stdio(&p.root, &[]).await;
    job(&c, "job_start", json!({"command": "sleep 1000", "name": "one"})).await;
    job(&c, "job_start", json!({"command": "sleep 1000", "name": "two"})).await;
    let e = err(&c, "job_start", json!({"command": "sleep 1"})).await;
    assert!(
        e.contains("already runs 2 jobs")
            && e.contains("job j1 (one)")
            && e.contains("job j2 (two)")
            && e.contains("job_stop"),
        "{e}"
    );
    job(&c, "job_stop", json!({"id": "one"})).await;
    let (_, s) = job(&c, "job_start", json!({"command": "echo done", "wait_secs": 10})).await;
    assert_eq!(s["state"], "exited");
    assert_eq!(s["exit_code"], 0);

    let e = refused(&c, "job_output", json!({"id": "j99"}), "not_found").await;
    assert!(e.contains("no job \"j99\"") && e.contains("j1, j2, j3"), "{e}");
    let e = err(&c, "job_input", json!({"id": s["id"], "text": "hello"})).await;
    assert!(e.contains("is not running") && e.contains("exited (exit 0)"), "{e}");
    let e = err(&c, "job_output", json!({"id": "two", "wait_for": "(unclosed"})).await;
    assert!(e.contains("wait_for is not a valid regex"), "{e}");
    let e = err(&c, "job_output", json!({"id": "two", "wait_secs": 600})).await;
    assert!(e.contains("at most 60 s"), "{e}");
    let e = err(&c, "job_start", json!({"command": "true", "wait_for": "["})).await;
    assert!(e.contains("wait_for is not a valid regex"), "{e}");
}

/// J6: a job's timeout kills its whole tree; the result says so.
#[tokio::test]
async fn j6_a_job_timeout_kills_the_tree() {
    let p = Project::new();
    let c = stdio(&p.root, &[]).await;
    let (text, s) = job(
        &c,
        "job_start",
        json!({"command": "echo start; sleep 1000 & sleep 1000", "timeout_secs": 1, "wait_secs": 30}),
    )
    .await;
    assert_eq!(s["state"], "timed_out", "{text}");
    assert!(text.contains("TIMED OUT"), "{text}");
}

/// J7: a job is confined like any command: it cannot write outside the workspace, and the network stays off
/// (its loopback only).
#[tokio::test]
async fn j7_a_job_is_confined_like_a_command() {
    let p = Project::new();
    let c = stdio(&p.root, &[]).await;
    let canary = p.canary().display().to_string();
    let (text, _) = job(
        &c,
        "job_start",
        json!({"command": format!("echo pwned > {canary}; echo rc=$?; exec 3<>/dev/tcp/1.1.1.1/80; echo net=$?"), "wait_secs": 30}),
    )
    .await;
    assert!(text.contains("rc=1") && text.contains("net=1"), "{text}");
    assert!(text.contains("sandbox: ") && text.contains("landlock") && text.contains("seccomp"), "{text}");
    p.assert_canary_intact();
}

/// Every job tool's structured content has one shape (job_list: a list of them), so a program driving the loop
/// reads one shape. (No outputSchema declares it: each schema is paid for in every tools/list; README documents it.)
#[tokio::test]
async fn every_job_tool_returns_the_same_structured_shape() {
    let p = Project::new();
    let c = stdio(&p.root, &[]).await;
    let always = ["id", "state", "runtime_ms", "output_bytes", "dropped_bytes", "cursor"];
    let optional = ["name", "exit_code", "signal", "matched"];
    let check = |s: &Value| {
        for k in always {
            assert!(s.get(k).is_some(), "{k} missing: {s}");
        }
        for k in s.as_object().unwrap().keys() {
            assert!(always.contains(&k.as_str()) || optional.contains(&k.as_str()), "{k} is not documented: {s}");
        }
        assert!(["running", "exited", "stopped", "timed_out", "killed"].contains(&s["state"].as_str().unwrap()));
    };
    let (_, s) = job(&c, "job_start", json!({"command": "cat", "name": "echo", "wait_secs": 1})).await;
    check(&s);
    assert_eq!(s["name"], "echo");
    let (_, s) = job(&c, "job_input", json!({"id": "echo", "text": "hi", "wait_for": "hi"})).await;
    check(&s);
    let (_, s) = job(&c, "job_output", json!({"id": "echo", "cursor": 0})).await;
    check(&s);
    let (_, l) = job(&c, "job_list", json!({})).await;
    check(&l["jobs"][0]);
    let (_, s) = job(&c, "job_stop", json!({"id": "echo"})).await;
    check(&s);
    let (_, s) = job(&c, "job_start", json!({"command": "exit 3", "wait_secs": 10})).await;
    check(&s);
    assert_eq!(s["exit_code"], 3);
}

/// With `--sandbox off` jobs still work (unconfined, as every command then is): started, read, stopped as a
/// process group, and the results say the sandbox is off.
#[tokio::test]
async fn jobs_work_with_the_sandbox_off() {
    let p = Project::new();
    let c = stdio(&p.root, &["--sandbox", "off"]).await;
    let m = marker("off");
    let (text, s) = job(&c, "job_start", json!({"command": sleeper(&m, "off", false), "wait_for": "^up$"})).await;
    assert!(text.contains("sandbox OFF"), "{text}");
    let fds = pidfds_with(&format!("{m}-off"));
    assert_eq!(fds.len(), 1, "{:?}", host_processes_with(&m));
    let (text, s2) = job(&c, "job_stop", json!({"id": s["id"]})).await;
    assert_eq!(s2["state"], "stopped", "{text}");
    assert!(all_exit_within(&fds, Duration::from_secs(20)), "{:?}", host_processes_with(&m));
}

/// While job_output waits, progress notifications carry the job's new lines: the job waits for the test to see
/// its line in a notification before it prints the one the call waits for. No timing is assumed.
#[tokio::test]
async fn a_waiting_call_reports_new_lines_as_progress() {
    let p = Project::new();
    let (client, mut rx) = stdio_with_progress(&p.root).await;
    let start = rmcp::model::CallToolRequestParams::new("job_start").with_arguments(
        json!({"command": "echo building-step-1; while [ ! -e go ]; do sleep 0.05; done; echo READY", "name": "w"})
            .as_object()
            .unwrap()
            .clone(),
    );
    client.peer().call_tool(start).await.unwrap();
    let args = json!({"id": "w", "cursor": 0, "wait_for": "^READY$", "wait_secs": 60});
    let call = call_until_progress(&client, &mut rx, "job_output", args, "last line: building-step-1").await;
    std::fs::write(p.root.join("go"), "").unwrap();
    let result = call.await.unwrap().unwrap();
    let s = result.structured_content.unwrap();
    assert_eq!(s["matched"], "READY", "{s}");
}
