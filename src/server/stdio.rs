//! stdio: one client's lines in and out, with the calls that make up most of a session answered without a detour.
//!
//! When codebox's stdin and stdout are pipes or sockets (as every MCP client sets them up: Python and Go give
//! pipes, Node's libuv gives socket pairs), duplicates of them are driven by epoll on the runtime's thread. One
//! reader task splits stdin into lines, several per read when the client pipelines, and looks at each line's
//! `method` (a borrowed peek, no tree built). Once rmcp has finished the handshake:
//!
//! - `ping` and `tools/call` of an enabled tool that does not report progress are answered here: the arguments go
//!   through the same `parse`, `inline` fast path and `tool_result` as rmcp's route, a call that needs the
//!   blocking pool gets a task of its own, and the response is encoded with rmcp's types and written with one
//!   `write` when the pipe takes it;
//! - everything else (initialize, notifications, listings, resources, tools that report progress, unknown or
//!   disabled tools, anything with fields this peek does not know, and every line that is not a well-formed
//!   JSON-RPC request) goes to rmcp unchanged, through an in-memory pipe, so its answers (and its refusals of
//!   invalid requests) stay exactly its own.
//!
//! A `notifications/cancelled` naming a call answered here stops it (its response is dropped, as rmcp drops a
//! cancelled request's) and still goes on to rmcp. Writes from both sides take turns on one lock that is held for
//! a whole line, so responses never interleave; a write the pipe cannot take at once finishes on a task, so the
//! reader never waits for a client that is not reading. At end of input, calls in flight get the time rmcp gives
//! its own ([`EOF_DRAIN`]) to answer, then are cancelled.
//!
//! O_NONBLOCK is per open file description: it changes codebox's end only (the client holds the other end, and
//! children get /dev/null as stdin). Anything else on stdin or stdout (a file, a terminal) falls back to rmcp's
//! own stdio transport without the fast path.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll, ready};
use std::time::Duration;

use nix::errno::Errno;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, CancelledNotificationParam, ContentBlock, RequestId, ServerJsonRpcMessage,
    ServerResult,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncWrite, AsyncWriteExt, SimplexStream, WriteHalf};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{CodeboxServer, Quick};

/// What one read asks for at first; the buffer grows while a line is longer, up to [`PEEK_MAX`].
const READ_CHUNK: usize = 64 << 10;
/// The longest line looked at here. A longer one (a big write_file) is streamed to rmcp as it arrives, which
/// applies its own limit (16 MiB) to it: memory stays bounded either way.
const PEEK_MAX: usize = 1 << 20;
/// How much rmcp's side of the in-memory pipe buffers before the reader waits for it.
const RMCP_PIPE: usize = 256 << 10;
/// Texts shorter than this are left to serde_json: splicing costs more than it saves on them.
const SPLICE_MIN: usize = 256;
/// After end of input, how long calls in flight may still answer: what rmcp allows its own.
const EOF_DRAIN: Duration = Duration::from_secs(5);

/// What a standard descriptor is, as far as the event loop cares.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    PipeOrSocket,
    Other,
}

fn kind(fd: &OwnedFd) -> Kind {
    use nix::sys::stat::SFlag;
    let Ok(st) = nix::sys::stat::fstat(fd.as_fd()) else { return Kind::Other };
    let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
    if kind == SFlag::S_IFIFO || kind == SFlag::S_IFSOCK { Kind::PipeOrSocket } else { Kind::Other }
}

fn nonblocking(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let flags = OFlag::from_bits_truncate(fcntl(&fd, FcntlArg::F_GETFL)?);
    fcntl(&fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    AsyncFd::new(fd)
}

/// Duplicates (close-on-exec) of stdin and stdout on the event loop, or None when either is neither a pipe nor a
/// socket. Both are checked before either is switched to non-blocking mode: rmcp's blocking stdio, the fallback,
/// must not find one that is.
pub(super) fn pipes() -> Option<(AsyncFd<OwnedFd>, AsyncFd<OwnedFd>)> {
    let input = std::io::stdin().as_fd().try_clone_to_owned().ok()?;
    let output = std::io::stdout().as_fd().try_clone_to_owned().ok()?;
    if kind(&input) == Kind::Other || kind(&output) == Kind::Other {
        return None;
    }
    Some((nonblocking(input).ok()?, nonblocking(output).ok()?))
}

/// stdout, shared by the fast path and rmcp. `turn` is held for a whole line.
pub(super) struct Out {
    fd: AsyncFd<OwnedFd>,
    turn: Arc<tokio::sync::Mutex<()>>,
}

impl Out {
    pub(super) fn new(fd: AsyncFd<OwnedFd>) -> Arc<Out> {
        Arc::new(Out { fd, turn: Arc::default() })
    }

    /// One write of `buf`, or the part of it the pipe took; WouldBlock when it took nothing.
    fn write_once(&self, buf: &[u8]) -> io::Result<usize> {
        loop {
            match nix::unistd::write(self.fd.get_ref(), buf) {
                Err(Errno::EINTR) => continue,
                r => return r.map_err(io::Error::from),
            }
        }
    }

    /// Writes all of `buf`; the caller holds the turn.
    async fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.write_once(buf) {
                Ok(n) => buf = &buf[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Clearing and then retrying the write loses no wake-up: readiness that arrives after the
                    // clear is a new event, and readiness from before it is seen by the retry itself.
                    self.fd.writable().await?.clear_ready();
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Writes whole lines, waiting for the turn.
    async fn write_lines(&self, lines: &[u8]) -> io::Result<()> {
        let _turn = self.turn.lock().await;
        self.write_all(lines).await
    }

    /// Sends one response line without making the caller wait: written at once when the turn is free and the
    /// pipe takes it all (the usual case), otherwise finished on a task that keeps the turn until the line is out.
    fn send(self: &Arc<Self>, line: Vec<u8>) {
        let report = |e: io::Error| tracing::debug!(%e, "stdout refused a response");
        let Ok(turn) = self.turn.clone().try_lock_owned() else {
            let out = self.clone();
            tokio::spawn(async move { out.write_lines(&line).await.unwrap_or_else(report) });
            return;
        };
        let mut done = 0;
        while done < line.len() {
            match self.write_once(&line[done..]) {
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return report(e),
            }
        }
        if done < line.len() {
            let out = self.clone();
            tokio::spawn(async move {
                let _turn = turn;
                out.write_all(&line[done..]).await.unwrap_or_else(report)
            });
        }
    }
}

type Flushing = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

/// rmcp's writer: collects what rmcp's codec writes and puts it out on flush, which rmcp calls after every
/// message, under the shared turn, so its lines and the fast path's never interleave.
pub(super) struct RmcpOut {
    out: Arc<Out>,
    pending: Vec<u8>,
    flushing: Option<Flushing>,
}

impl RmcpOut {
    pub(super) fn new(out: Arc<Out>) -> RmcpOut {
        RmcpOut { out, pending: Vec::new(), flushing: None }
    }
}

impl AsyncWrite for RmcpOut {
    fn poll_write(self: Pin<&mut Self>, cx: &mut TaskContext<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(f) = this.flushing.as_mut() {
            let r = ready!(f.as_mut().poll(cx));
            this.flushing = None;
            r?;
        }
        this.pending.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if let Some(f) = this.flushing.as_mut() {
                let r = ready!(f.as_mut().poll(cx));
                this.flushing = None;
                r?;
            }
            if this.pending.is_empty() {
                return Poll::Ready(Ok(()));
            }
            let lines = std::mem::take(&mut this.pending);
            let out = this.out.clone();
            this.flushing = Some(Box::pin(async move { out.write_lines(&lines).await }));
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

/// The part of a JSON-RPC line the reader looks at. Unknown fields make it not match: rmcp takes such lines.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Head<'a> {
    jsonrpc: &'a str,
    id: Option<RequestId>,
    method: &'a str,
    #[serde(borrow)]
    params: Option<&'a RawValue>,
}

/// The calls answered here, the calls in flight on the blocking pool, and whether rmcp's handshake is done.
pub(super) struct Fast {
    server: CodeboxServer,
    out: Arc<Out>,
    ready: AtomicBool,
    in_flight: Mutex<HashMap<RequestId, CancellationToken>>,
    idle: tokio::sync::Notify,
}

/// A response as rmcp would encode it for a client of a protocol before 2026-07-28 (the newest codebox offers):
/// without `resultType`, no newline. None (logged) if it cannot be encoded.
fn encode(id: RequestId, mut result: ServerResult, capacity: usize) -> Option<Vec<u8>> {
    result.strip_result_type_for_legacy_peer();
    let message = ServerJsonRpcMessage::response(result, id);
    let mut out = Vec::with_capacity(capacity);
    match serde_json::to_writer(&mut out, &message) {
        Ok(()) => Some(out),
        Err(e) => {
            tracing::error!(%e, "could not encode a response");
            None
        }
    }
}

impl Fast {
    pub(super) fn new(server: CodeboxServer, out: Arc<Out>) -> Arc<Fast> {
        Arc::new(Fast {
            server,
            out,
            ready: AtomicBool::new(false),
            in_flight: Mutex::default(),
            idle: tokio::sync::Notify::new(),
        })
    }

    /// From now on requests are in rmcp's main loop, where a call means the same whoever answers it.
    pub(super) fn handshake_done(&self) {
        self.ready.store(true, Ordering::Release);
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<RequestId, CancellationToken>> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answers `line` here when it is a call this path takes; false hands it to rmcp.
    fn take(self: &Arc<Self>, line: &[u8]) -> bool {
        if !self.ready.load(Ordering::Acquire) {
            return false;
        }
        let Ok(head) = serde_json::from_slice::<Head<'_>>(line) else { return false };
        if head.jsonrpc != "2.0" {
            return false;
        }
        match (head.method, head.id) {
            ("tools/call", Some(id)) => head.params.is_some_and(|p| self.call(id, p)),
            ("ping", Some(id)) if head.params.is_none() => {
                self.answer(id, ServerResult::empty(()));
                true
            }
            ("notifications/cancelled", None) => {
                if let Some(p) = head.params {
                    self.cancel(p);
                }
                // rmcp still sees it: it logs it and tells the handler, as for any cancellation.
                false
            }
            _ => false,
        }
    }

    fn call(self: &Arc<Self>, id: RequestId, params: &RawValue) -> bool {
        let Ok(p) = serde_json::from_str::<CallToolRequestParams>(params.get()) else { return false };
        // Retries of input requests, and _meta that selects a protocol lifecycle, are rmcp's business.
        let plain_meta = p.meta.as_ref().is_none_or(|m| m.0.0.keys().all(|k| k == "progressToken"));
        if p.input_responses.is_some() || p.request_state.is_some() || !plain_meta {
            return false;
        }
        let Some(quick) = self.server.quick(&p.name) else { return false };
        match quick(&self.server.ctx, p.arguments.unwrap_or_default()) {
            Quick::Now(result) => self.answer_call(id, result),
            Quick::Later(work) => self.later(id, work),
        }
        true
    }

    /// A call for the blocking pool, on a task of its own, cancellable by the client until it answers.
    fn later(self: &Arc<Self>, id: RequestId, work: super::Work) {
        let ct = CancellationToken::new();
        self.in_flight().insert(id.clone(), ct.clone());
        let fast = self.clone();
        tokio::spawn(async move {
            let result = super::blocking(ct, work).await;
            let cancelled = fast.in_flight().remove(&id).is_none();
            if !cancelled {
                fast.answer_call(id, result);
            }
            if fast.in_flight().is_empty() {
                fast.idle.notify_waiters();
            }
        });
    }

    fn cancel(&self, params: &RawValue) {
        let Ok(p) = serde_json::from_str::<CancelledNotificationParam>(params.get()) else { return };
        let Some(id) = p.request_id else { return };
        let mut in_flight = self.in_flight();
        if let Some(ct) = in_flight.remove(&id) {
            tracing::debug!(%id, reason = p.reason, "cancelled");
            ct.cancel();
        }
        if in_flight.is_empty() {
            self.idle.notify_waiters();
        }
    }

    /// A tool's response line, byte for byte what `answer` writes. The first text block is most of every response
    /// (a file's lines, a listing): it is escaped by [`escape_json`], about twice as fast on numbered lines as
    /// serde_json's byte-at-a-time loop, and spliced into the rest, which serde_json encodes with it left empty.
    fn answer_call(&self, id: RequestId, mut result: CallToolResult) {
        let text = match result.content.first_mut() {
            Some(ContentBlock::Text(t)) if t.text.len() >= SPLICE_MIN => std::mem::take(&mut t.text),
            _ => return self.answer(id, ServerResult::CallToolResult(result)),
        };
        let Some(rest) = encode(id, ServerResult::CallToolResult(result), 256) else { return };
        // The first `"text":""` is the emptied field: everything before it (the version, the id, the first block's
        // type) is rmcp's fixed framing or an escaped string, in which a bare `"` cannot occur.
        const EMPTY: &[u8] = b"\"text\":\"\"";
        let Some(at) = memchr::memmem::find(&rest, EMPTY) else {
            tracing::error!("no text field in an encoded tool result");
            return;
        };
        let split = at + EMPTY.len() - 1;
        let mut line = Vec::with_capacity(rest.len() + text.len() + text.len() / 8 + 2);
        line.extend_from_slice(&rest[..split]);
        escape_json(&mut line, text.as_bytes());
        line.extend_from_slice(&rest[split..]);
        line.push(b'\n');
        self.out.send(line);
    }

    /// The response line as rmcp would write it (see `encode`).
    fn answer(&self, id: RequestId, result: ServerResult) {
        let Some(mut line) = encode(id, result, 512) else { return };
        line.push(b'\n');
        self.out.send(line);
    }

    /// At end of input: lets the calls in flight answer until `deadline`, then cancels the rest.
    pub(super) async fn drain(&self, deadline: Instant) {
        loop {
            let idle = self.idle.notified();
            if self.in_flight().is_empty() {
                return;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                break;
            }
        }
        for (_, ct) in self.in_flight().drain() {
            ct.cancel();
        }
    }
}

/// Reads stdin until it ends: lines the fast path takes are answered, the rest go to rmcp through `rmcp`, which
/// is then shut, so rmcp sees the end of input too. Returns when input ended.
pub(super) async fn read_lines(
    input: AsyncFd<OwnedFd>,
    mut rmcp: WriteHalf<SimplexStream>,
    fast: Arc<Fast>,
) -> Instant {
    let eof = split_lines(&input, &mut rmcp, &fast).await;
    let _ = rmcp.shutdown().await;
    eof
}

async fn split_lines(input: &AsyncFd<OwnedFd>, rmcp: &mut WriteHalf<SimplexStream>, fast: &Arc<Fast>) -> Instant {
    let mut buf = vec![0u8; READ_CHUNK];
    // Unhandled bytes are buf[start..end]; buf[start..scanned] holds no newline.
    let (mut start, mut end, mut scanned) = (0, 0, 0);
    // The rest of a line longer than PEEK_MAX goes to rmcp as it comes.
    let mut passing = false;
    loop {
        while let Some(at) = buf[scanned..end].iter().position(|&b| b == b'\n') {
            let nl = scanned + at;
            let whole = &buf[start..=nl];
            let to_rmcp = passing || !fast.take(&buf[start..nl]);
            passing = false;
            if to_rmcp && rmcp.write_all(whole).await.is_err() {
                return Instant::now();
            }
            start = nl + 1;
            scanned = start;
        }
        scanned = end;
        if passing && start < end {
            if rmcp.write_all(&buf[start..end]).await.is_err() {
                return Instant::now();
            }
            start = end;
        }
        if start == end {
            (start, end, scanned) = (0, 0, 0);
            if buf.len() > READ_CHUNK {
                buf = vec![0u8; READ_CHUNK];
            }
        } else if end == buf.len() {
            if start > 0 {
                buf.copy_within(start..end, 0);
                (end, scanned) = (end - start, scanned - start);
                start = 0;
            } else if buf.len() < PEEK_MAX {
                buf.resize(buf.len() * 2, 0);
            } else {
                if rmcp.write_all(&buf[..end]).await.is_err() {
                    return Instant::now();
                }
                passing = true;
                (start, end, scanned) = (0, 0, 0);
            }
        }
        let n = loop {
            let mut ready = match input.readable().await {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(%e, "cannot wait for stdin");
                    return Instant::now();
                }
            };
            let room = buf.len() - end;
            let read = ready.try_io(|fd| {
                loop {
                    match nix::unistd::read(fd.get_ref(), &mut buf[end..]) {
                        Err(Errno::EINTR) => continue,
                        r => return r.map_err(io::Error::from),
                    }
                }
            });
            match read {
                Ok(Ok(n)) => {
                    // A short read emptied the pipe: wait for the next event instead of a read that would
                    // only say EAGAIN. (A later arrival is a new event, which clearing does not lose.)
                    if n > 0 && n < room {
                        ready.clear_ready();
                    }
                    break n;
                }
                Ok(Err(e)) => {
                    tracing::error!("Error reading from stream: {e}");
                    return Instant::now();
                }
                Err(_would_block) => continue,
            }
        };
        if n == 0 {
            // End of input. An unterminated last line is dropped, as rmcp drops one.
            return Instant::now();
        }
        end += n;
    }
}

/// The in-memory pipe to rmcp: its reading end for rmcp's transport, the writing end for `read_lines`.
pub(super) fn rmcp_pipe() -> (tokio::io::ReadHalf<SimplexStream>, WriteHalf<SimplexStream>) {
    tokio::io::simplex(RMCP_PIPE)
}

/// Waits for the calls this path answers, up to [`EOF_DRAIN`] after input ended at `eof`.
pub(super) async fn finish(fast: &Fast, eof: Instant) {
    fast.drain(eof + EOF_DRAIN).await;
}

/// Appends `s` as the inside of a JSON string, exactly as serde_json writes it (`\"`, `\\`, the short escapes
/// `\b \t \n \f \r`, `\u00xx` for the other control characters, everything else as it is), eight bytes at a
/// time where nothing needs escaping.
fn escape_json(out: &mut Vec<u8>, s: &[u8]) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // The high bit of each byte of `w` that is a control character, a quote or a backslash. Bytes above a flagged
    // one may be flagged wrongly (a borrow carries up), never the lowest: it is always a byte to escape.
    let special = |w: u64| {
        let quote = w ^ (ONES * u64::from(b'"'));
        let backslash = w ^ (ONES * u64::from(b'\\'));
        let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
        (w.wrapping_sub(ONES * 0x20) & !w & HIGH) | zero(quote) | zero(backslash)
    };
    let mut i = 0;
    let mut start = 0;
    while i < s.len() {
        while let Some(chunk) = s.get(i..i + 8) {
            let flagged = special(u64::from_le_bytes(chunk.try_into().unwrap_or_default()));
            if flagged != 0 {
                // Little-endian: the lowest flagged bit is the first byte to escape.
                i += (flagged.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
        }
        let Some(&b) = s.get(i) else { break };
        let short = match b {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            0x08 => Some(b'b'),
            b'\t' => Some(b't'),
            b'\n' => Some(b'n'),
            0x0c => Some(b'f'),
            b'\r' => Some(b'r'),
            _ => None,
        };
        if b < 0x20 || short.is_some() {
            out.extend_from_slice(&s[start..i]);
            match short {
                Some(c) => out.extend_from_slice(&[b'\\', c]),
                None => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    out.extend_from_slice(&[
                        b'\\',
                        b'u',
                        b'0',
                        b'0',
                        HEX[usize::from(b >> 4)],
                        HEX[usize::from(b & 15)],
                    ]);
                }
            }
            start = i + 1;
        }
        i += 1;
    }
    out.extend_from_slice(&s[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every byte value, alone and amid text, at every alignment: the same as serde_json.
    #[test]
    fn escape_json_writes_what_serde_json_writes() {
        let mut cases: Vec<String> = (0u8..=0x7f).map(|b| (b as char).to_string()).collect();
        cases.push("numbered\tlines\n\"quoted\" \\ back\u{1}slash é ☃ \u{7f}".repeat(9));
        for pad in 0..9 {
            cases.push(format!("{}\u{1f}{}\"", "x".repeat(pad), "y".repeat(17 - pad)));
        }
        for case in cases {
            let mut ours = vec![b'"'];
            escape_json(&mut ours, case.as_bytes());
            ours.push(b'"');
            assert_eq!(String::from_utf8(ours).unwrap(), serde_json::to_string(&case).unwrap(), "{case:?}");
        }
    }
}
