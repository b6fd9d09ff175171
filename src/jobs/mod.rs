//! Background jobs: commands that outlive one call (servers, watchers, long builds), each confined like any
//! other run, with its output kept in a bounded log and waits that return the moment a line, an exit or new
//! output arrives. A job belongs to one session and dies with it.
//!
//! Each job has one pump thread that drains its pipes into the log and wakes waiters; callers wait on the
//! job's condition variable from the blocking pool, never by polling.

pub(crate) mod log;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use regex::Regex;

use crate::sandbox::{Cancelled, Exit, Layer, Running, Signals};
use log::{JobLog, Snapshot};

/// Finished jobs kept (with their output) for reading; older ones are forgotten first.
const KEEP_FINISHED: usize = 16;
/// A line longer than this is matched by its first part only (memory stays bounded on endless lines).
const MAX_MATCH_LINE: usize = 64 << 10;
/// How much of the log one scanning step reads.
const SCAN_CHUNK: usize = 1 << 20;
/// How often a waiter wakes without news, to notice a client's cancellation.
const WAIT_TICK: Duration = Duration::from_millis(100);

/// The jobs of one session.
#[derive(Default)]
pub struct Jobs {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next: u32,
    list: Vec<Arc<Job>>,
}

/// How a job is, as tools report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Running,
    /// The command ended by itself.
    Exited(Exit),
    /// Ended by job_stop.
    Stopped(Exit),
    /// Its wall-clock limit passed and its tree was killed.
    TimedOut,
    /// Its session ended or codebox is shutting down.
    Killed,
}

impl State {
    pub fn is_running(&self) -> bool {
        *self == State::Running
    }

    /// One word for structured results: running, exited, stopped, timed_out, killed.
    pub fn word(&self) -> &'static str {
        match self {
            State::Running => "running",
            State::Exited(_) => "exited",
            State::Stopped(_) => "stopped",
            State::TimedOut => "timed_out",
            State::Killed => "killed",
        }
    }

    pub fn exit(&self) -> Option<&Exit> {
        match self {
            State::Exited(e) | State::Stopped(e) => Some(e),
            _ => None,
        }
    }
}

pub struct Job {
    pub id: String,
    pub name: Option<String>,
    pub command: String,
    pub layers: Vec<Layer>,
    started: Instant,
    signals: Signals,
    init_pid: Option<i32>,
    stdin: Mutex<Option<std::process::ChildStdin>>,
    inner: Mutex<JobInner>,
    changed: Condvar,
    /// Set when the job must die now (its session ended): the pump kills the tree.
    kill_now: Arc<AtomicBool>,
    /// The job's proxy credentials, revoked when the job is forgotten.
    grant: Option<crate::proxy::Grant>,
}

struct JobInner {
    log: JobLog,
    state: State,
    ended: Option<Instant>,
    stop_requested: bool,
    /// Where the next read without an explicit cursor starts: each byte is returned once.
    read_pos: u64,
    /// Why output could not be kept (a full disk), once.
    log_error: Option<String>,
}

/// A point-in-time view of a job for results.
#[derive(Debug, Clone)]
pub struct JobView {
    pub id: String,
    pub name: Option<String>,
    pub command: String,
    pub state: State,
    pub runtime: Duration,
    /// Every byte the job printed; `kept_from` is the first still kept.
    pub output_bytes: u64,
    pub kept_from: u64,
    pub read_pos: u64,
    pub log_error: Option<String>,
}

/// What a wait stops on besides the job's end and the deadline.
pub enum Until<'a> {
    /// Only the end or the deadline.
    Exit,
    /// Any output past the starting offset.
    Output,
    /// A complete line (or the last, unterminated one at the end) matching the regex.
    Line(&'a Regex),
}

/// How a wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waited {
    /// A line matched: its text, and the offset just past it.
    Matched {
        line: String,
        end: u64,
    },
    Output,
    Ended,
    Deadline,
    Cancelled,
}

struct Flag(Arc<AtomicBool>);

impl Cancelled for Flag {
    fn cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Why a job could not be started or used, for the tools to word.
#[derive(Debug)]
pub enum JobError {
    /// The session already runs the maximum; the running jobs are listed.
    Limit {
        max: usize,
        running: Vec<JobView>,
    },
    Unknown {
        id: String,
        known: Vec<String>,
    },
    NotRunning(Box<JobView>),
    Input(String),
}

impl Jobs {
    /// Registers a started run as a job and starts its pump. Refused at the session's limit (the caller checks
    /// `check_room` before starting, this re-checks).
    pub fn add(
        &self,
        running: Running,
        command: String,
        name: Option<String>,
        deadline: Option<Instant>,
        log: JobLog,
        grant: Option<crate::proxy::Grant>,
    ) -> Arc<Job> {
        let mut running = running;
        let mut inner = lock(&self.inner);
        inner.next += 1;
        let id = format!("j{}", inner.next);
        let kill_now = Arc::new(AtomicBool::new(false));
        let job = Arc::new(Job {
            id,
            name,
            command,
            layers: running.layers.clone(),
            started: running.started(),
            signals: running.signals(),
            init_pid: running.init_pid(),
            stdin: Mutex::new(running.stdin.take()),
            inner: Mutex::new(JobInner {
                log,
                state: State::Running,
                ended: None,
                stop_requested: false,
                read_pos: 0,
                log_error: None,
            }),
            changed: Condvar::new(),
            kill_now: kill_now.clone(),
            grant,
        });
        // Forget the oldest finished jobs beyond the number kept.
        let finished = inner.list.iter().filter(|j| !j.view().state.is_running()).count();
        if finished >= KEEP_FINISHED {
            let mut drop_n = finished + 1 - KEEP_FINISHED;
            inner.list.retain(|j| {
                if drop_n > 0 && !j.lock().state.is_running() {
                    drop_n -= 1;
                    return false;
                }
                true
            });
        }
        inner.list.push(job.clone());
        drop(inner);
        let pumped = job.clone();
        let spawned = std::thread::Builder::new().name(format!("codebox-job-{}", job.id)).spawn(move || {
            let flag = Flag(kill_now);
            let ended = running.pump(deadline, &flag, &mut |_, bytes| pumped.append(bytes));
            let outcome = running.finish(ended);
            pumped.finish(ended, outcome.exit, flag.cancelled());
        });
        if spawned.is_err() {
            // Without a pump nobody drains the pipes: the job cannot run.
            job.signals.kill();
            let mut j = job.lock();
            j.state = State::Killed;
            j.ended = Some(Instant::now());
            j.log_error = Some("codebox could not start a thread to read the job's output".into());
        }
        job
    }

    /// Refuses a start when the session already runs its maximum number of jobs.
    pub fn check_room(&self, max: usize) -> Result<(), JobError> {
        let running: Vec<JobView> =
            lock(&self.inner).list.iter().map(|j| j.view()).filter(|v| v.state.is_running()).collect();
        if running.len() >= max { Err(JobError::Limit { max, running }) } else { Ok(()) }
    }

    /// A job by id or by name.
    pub fn get(&self, id: &str) -> Result<Arc<Job>, JobError> {
        let inner = lock(&self.inner);
        let found = inner.list.iter().find(|j| j.id == id).or_else(|| {
            // A name is a handle too; the newest job of that name wins.
            inner.list.iter().rev().find(|j| j.name.as_deref() == Some(id))
        });
        found.cloned().ok_or_else(|| JobError::Unknown {
            id: id.to_string(),
            known: inner.list.iter().map(|j| j.id.clone()).collect(),
        })
    }

    pub fn list(&self) -> Vec<Arc<Job>> {
        lock(&self.inner).list.clone()
    }
}

impl Drop for Jobs {
    /// The session ended: every job's tree is killed at once.
    fn drop(&mut self) {
        for job in &lock(&self.inner).list {
            job.kill_now();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Job {
    fn lock(&self) -> MutexGuard<'_, JobInner> {
        lock(&self.inner)
    }

    fn append(&self, bytes: &[u8]) {
        let mut j = self.lock();
        if let Err(e) = j.log.append(bytes)
            && j.log_error.is_none()
        {
            j.log_error = Some(format!("output past byte {} could not be kept: {e}", j.log.end()));
        }
        drop(j);
        self.changed.notify_all();
    }

    fn finish(&self, ended: crate::sandbox::Ended, exit: Exit, killed: bool) {
        let mut j = self.lock();
        j.state = if killed {
            State::Killed
        } else if ended == crate::sandbox::Ended::TimedOut {
            State::TimedOut
        } else if j.stop_requested {
            State::Stopped(exit)
        } else {
            State::Exited(exit)
        };
        j.ended = Some(Instant::now());
        drop(j);
        self.changed.notify_all();
        if let Some(stdin) = lock(&self.stdin).take() {
            drop(stdin);
        }
    }

    fn kill_now(&self) {
        self.kill_now.store(true, Ordering::Relaxed);
        if self.lock().state.is_running() {
            self.signals.kill();
        }
    }

    pub fn view(&self) -> JobView {
        let j = self.lock();
        JobView {
            id: self.id.clone(),
            name: self.name.clone(),
            command: self.command.clone(),
            state: j.state.clone(),
            runtime: j.ended.unwrap_or_else(Instant::now).duration_since(self.started),
            output_bytes: j.log.end(),
            kept_from: j.log.start(),
            read_pos: j.read_pos,
            log_error: j.log_error.clone(),
        }
    }

    /// The kept output, readable without holding the job.
    pub fn snapshot(&self) -> Snapshot {
        self.lock().log.snapshot()
    }

    /// The job's proxy credentials (what the proxy refused it).
    pub fn grant(&self) -> Option<&crate::proxy::Grant> {
        self.grant.as_ref()
    }

    /// The namespace's init as codebox sees it, for counting the job's processes.
    pub fn init_pid(&self) -> Option<i32> {
        self.init_pid
    }

    /// Moves the read position (to just past what a read returned).
    pub fn set_read_pos(&self, pos: u64) {
        let mut j = self.lock();
        j.read_pos = j.read_pos.max(pos);
    }

    /// Blocks until `until` is met after offset `from`, the job ends, `deadline` passes or `cancel` says stop.
    /// Every byte scanned goes to `seen` (progress notifications).
    pub fn wait(
        &self,
        from: u64,
        until: Until<'_>,
        deadline: Instant,
        cancel: &dyn Fn() -> bool,
        seen: &mut dyn FnMut(&[u8]),
    ) -> Waited {
        let mut pos = from;
        let mut partial: Vec<u8> = Vec::new();
        let mut j = self.lock();
        loop {
            if pos < j.log.start() {
                pos = j.log.start();
                partial.clear();
            }
            let end = j.log.end();
            if end > pos {
                match until {
                    Until::Output => return Waited::Output,
                    // Nothing to look for in the output: skip it.
                    Until::Exit => pos = end,
                    Until::Line(_) => {}
                }
            }
            if end > pos {
                let chunk = match j.log.snapshot().read(pos, SCAN_CHUNK) {
                    Ok(c) => c,
                    Err(_) => return Waited::Ended,
                };
                let chunk_start = pos;
                pos += chunk.len() as u64;
                seen(&chunk);
                if let Until::Line(re) = &until
                    && let Some(m) = scan_lines(re, &mut partial, &chunk, chunk_start)
                {
                    return m;
                }
                continue;
            }
            if !j.state.is_running() {
                if let Until::Line(re) = &until
                    && !partial.is_empty()
                    && let Some(line) = matching(re, &partial)
                {
                    return Waited::Matched { line, end: pos };
                }
                return Waited::Ended;
            }
            let now = Instant::now();
            if now >= deadline {
                return Waited::Deadline;
            }
            if cancel() {
                return Waited::Cancelled;
            }
            let tick = (deadline - now).min(WAIT_TICK);
            j = self.changed.wait_timeout(j, tick).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// Writes `text` to the job's stdin. Refused when the job has ended or stops reading its input.
    pub fn input(&self, text: &[u8]) -> Result<(), JobError> {
        let view = self.view();
        if !view.state.is_running() {
            return Err(JobError::NotRunning(Box::new(view)));
        }
        let mut guard = lock(&self.stdin);
        let Some(stdin) = guard.as_mut() else {
            return Err(JobError::Input("the job's input was closed".into()));
        };
        write_bounded(stdin, text, INPUT_TIMEOUT).map_err(JobError::Input)
    }

    /// SIGTERM to every process of the job, then SIGKILL after `grace`; returns once the job has ended.
    pub fn stop(&self, grace: Duration) -> JobView {
        {
            let mut j = self.lock();
            if !j.state.is_running() {
                drop(j);
                return self.view();
            }
            j.stop_requested = true;
        }
        // Its input closes too: a REPL or `cat` ends on EOF.
        drop(lock(&self.stdin).take());
        self.signals.terminate();
        let never = || false;
        if self.wait(u64::MAX, Until::Exit, Instant::now() + grace, &never, &mut |_| {}) != Waited::Ended {
            self.signals.kill();
            // SIGKILL of the namespace's init ends everything in it; the pump then sees the pipes close.
            self.wait(u64::MAX, Until::Exit, Instant::now() + KILL_WAIT, &never, &mut |_| {});
        }
        self.view()
    }
}

/// How long a write to a job's stdin may wait for the job to read.
const INPUT_TIMEOUT: Duration = Duration::from_secs(5);
/// After SIGKILL, how long a stop waits for the pump to see the end (the kernel is quick; this bounds a bug).
const KILL_WAIT: Duration = Duration::from_secs(10);

/// Scans `chunk` (starting at absolute offset `at`) line by line, continuing `partial` from the last chunk.
fn scan_lines(re: &Regex, partial: &mut Vec<u8>, chunk: &[u8], at: u64) -> Option<Waited> {
    let mut rest = chunk;
    let mut offset = at;
    while let Some(nl) = memchr::memchr(b'\n', rest) {
        if partial.len() < MAX_MATCH_LINE {
            let take = (MAX_MATCH_LINE - partial.len()).min(nl);
            partial.extend_from_slice(&rest[..take]);
        }
        offset += nl as u64 + 1;
        if let Some(line) = matching(re, partial) {
            return Some(Waited::Matched { line, end: offset });
        }
        partial.clear();
        rest = &rest[nl + 1..];
    }
    if partial.len() < MAX_MATCH_LINE {
        let take = (MAX_MATCH_LINE - partial.len()).min(rest.len());
        partial.extend_from_slice(&rest[..take]);
    }
    None
}

/// The line as text (terminal colours and a trailing CR removed) when it matches.
fn matching(re: &Regex, line: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(line);
    let text = crate::output::strip_ansi(&text);
    let text = text.trim_end_matches('\r');
    re.is_match(text).then(|| text.to_string())
}

/// Writes all of `bytes` to a pipe, waiting at most `timeout` for room.
fn write_bounded(pipe: &mut std::process::ChildStdin, bytes: &[u8], timeout: Duration) -> Result<(), String> {
    use std::os::fd::AsFd;
    let flags = nix::fcntl::fcntl(pipe.as_fd(), nix::fcntl::FcntlArg::F_GETFL).map_err(|e| e.desc().to_string())?;
    let mut flags = nix::fcntl::OFlag::from_bits_truncate(flags);
    flags.insert(nix::fcntl::OFlag::O_NONBLOCK);
    let _ = nix::fcntl::fcntl(pipe.as_fd(), nix::fcntl::FcntlArg::F_SETFL(flags));
    let deadline = Instant::now() + timeout;
    let mut written = 0;
    while written < bytes.len() {
        match pipe.write(&bytes[written..]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(format!(
                        "the job is not reading its input: {written} of {} bytes were written in {} s",
                        bytes.len(),
                        timeout.as_secs()
                    ));
                }
                let mut pfd = [nix::poll::PollFd::new(pipe.as_fd(), nix::poll::PollFlags::POLLOUT)];
                let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
                let _ = nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(ms));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                return Err("the job closed its input (nothing reads it any more)".into());
            }
            Err(e) => return Err(format!("writing to the job's input failed: {e}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_match_across_chunks_and_report_the_offset_past_the_line() {
        let re = Regex::new("^ready on (\\d+)$").unwrap();
        let mut partial = Vec::new();
        assert_eq!(scan_lines(&re, &mut partial, b"starting\nready o", 0), None);
        let m = scan_lines(&re, &mut partial, b"n 80\r\nmore\n", 16);
        assert_eq!(m, Some(Waited::Matched { line: "ready on 80".into(), end: 22 }));
    }

    #[test]
    fn colours_are_ignored_when_matching() {
        let re = Regex::new("^OK$").unwrap();
        assert_eq!(matching(&re, b"\x1b[32mOK\x1b[0m"), Some("OK".into()));
    }
}
