//! Spill store: keeps the full raw bytes of outputs that were cut, under short ids, so the
//! model can read the rest by byte range, by line range, or by grep.
//!
//! It owns the storage and its bounds: each output lives in an anonymous temporary file
//! (`tempfile::tempfile`, which on Linux is `O_TMPFILE`: no name on disk, mode 0600, gone when
//! the descriptor closes, so even a SIGKILL leaves nothing behind), a cap per entry and caps
//! on the total size and count with the oldest entries evicted first, and a sparse line index
//! so that line reads stay fast on huge entries.
//!
//! It never writes inside the workspace, never shapes text for the model (that is `output`),
//! never uses async runtimes or MCP types, never panics, and uses no `unsafe`. Reads do
//! positional I/O outside the lock, so one slow read never blocks other calls.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use crate::output::{clip_line, strip_ansi};

/// One index entry per this many lines: 1 GiB of short lines costs a few MiB of index, and a
/// line read scans at most this many lines before its first line.
const INDEX_EVERY: u64 = 1024;
/// Writes are batched so that a caller feeding small chunks does not cost a syscall each.
const WRITE_BUF: usize = 64 * 1024;
/// Reads go through a buffer of this size, whatever the entry size.
const READ_BUF: usize = 64 * 1024;
/// A line read returns at most this many bytes, so one huge line cannot exhaust memory.
pub(crate) const READ_LINES_MAX_BYTES: usize = 8 << 20;
/// Grep matches at most this much of one line; the rest of an overlong line is skipped.
const GREP_MAX_LINE_BYTES: usize = 1 << 20;
/// Lines in grep results are clipped to this many chars: enough to read, bounded to hold.
const GREP_LINE_CHARS: usize = 2_000;
/// More context than this is a read, not a grep; it also bounds the memory of the ring.
const GREP_MAX_CONTEXT: usize = 100;
/// Evicted ids are remembered (a few KiB) so the error can say "evicted", not "unknown".
const EVICTED_MEMORY: usize = 1024;
/// 10 base32 chars are 50 random bits: no collisions among the few outputs a server keeps,
/// and not guessable from one another.
const ID_CHARS: usize = 10;
const ID_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// Bounds of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpillLimits {
    /// Bytes kept per output; the writer counts the rest but does not store it.
    pub max_entry_bytes: u64,
    /// Bytes kept over all committed outputs.
    pub max_total_bytes: u64,
    /// Committed outputs kept; at least one always is.
    pub max_entries: usize,
}

impl Default for SpillLimits {
    fn default() -> Self {
        Self { max_entry_bytes: 256 << 20, max_total_bytes: 1 << 30, max_entries: 64 }
    }
}

/// What is known about a committed output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpillInfo {
    pub id: String,
    /// Bytes the command produced.
    pub total_bytes: u64,
    /// Bytes kept: the first `stored_bytes` of the output.
    pub stored_bytes: u64,
    /// Lines in the stored part (split on `\n`; a last line without one counts).
    pub lines: u64,
    pub created: SystemTime,
    /// Why storing stopped early, if the disk failed rather than the cap being reached.
    pub write_error: Option<String>,
}

impl SpillInfo {
    /// The whole output is kept.
    pub fn complete(&self) -> bool {
        self.stored_bytes == self.total_bytes
    }
}

/// Lines read from an output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinesChunk {
    pub first_line: u64,
    /// The last line returned (possibly partial if `cut_at_byte_cap`); `first_line - 1`
    /// when no line was returned.
    pub last_line: u64,
    pub lines: u64,
    /// Raw offset of `bytes` in the output.
    pub byte_offset: u64,
    /// The raw lines, newlines included.
    pub bytes: Vec<u8>,
    /// Lines in the stored part.
    pub total_lines: u64,
    /// Stored lines remain after this chunk.
    pub more: bool,
    /// The chunk stopped at `READ_LINES_MAX_BYTES` rather than at the line limit.
    pub cut_at_byte_cap: bool,
}

/// One line of grep output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrepLine {
    pub line: u64,
    /// ANSI-stripped, lossily decoded, clipped to 2,000 chars.
    pub text: String,
    /// A matching line (not just context).
    pub is_match: bool,
}

/// Matches with their context, in line order; groups that touch are merged, as in `grep -C`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrepResult {
    pub lines: Vec<GrepLine>,
    /// Matches shown, at most `max_matches`.
    pub shown_matches: usize,
    /// Matches in the whole stored part: the scan goes on counting after the last shown one.
    pub total_matches: u64,
    pub lines_scanned: u64,
    /// The stored part is only a prefix of the output.
    pub partial_output: bool,
}

impl GrepResult {
    /// More matches exist than are shown.
    pub fn stopped_early(&self) -> bool {
        self.total_matches > self.shown_matches as u64
    }
}

/// Why a read failed, worded for the model with what to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpillError {
    Unknown { id: String, limits: SpillLimits },
    Evicted { id: String, limits: SpillLimits },
    OffsetPastEnd { id: String, offset: u64, total_bytes: u64 },
    LinePastEnd { id: String, line: u64, total_lines: u64 },
    LineZero { id: String },
    NotStored { id: String, stored_bytes: u64, total_bytes: u64, stored_lines: u64 },
    Io { id: String, message: String },
}

impl std::fmt::Display for SpillError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keeps = |l: &SpillLimits| {
            format!("the store keeps the newest {} outputs, {} in all", l.max_entries, size(l.max_total_bytes))
        };
        match self {
            Self::Unknown { id, limits } => write!(
                f,
                "no output with id {id:?} is kept ({}); use an id named in a truncated result, \
                 or re-run the command",
                keeps(limits)
            ),
            Self::Evicted { id, limits } => {
                write!(f, "output {id} is no longer kept ({}); re-run the command", keeps(limits))
            }
            Self::OffsetPastEnd { id, offset, total_bytes } => {
                write!(f, "output {id} has {total_bytes} bytes; offset {offset} is past the end")
            }
            Self::LinePastEnd { id, line, total_lines } => {
                write!(f, "output {id} has {total_lines} lines; line {line} is past the end")
            }
            Self::LineZero { id } => write!(f, "line numbers in output {id} start at 1; ask for line 1 or later"),
            Self::NotStored { id, stored_bytes, total_bytes, stored_lines } => write!(
                f,
                "output {id} was {} but only its first {} (lines 1–{stored_lines}) were kept, \
                 and the part asked for is beyond that; re-run the command with its output \
                 narrowed (filtered, or redirected to a file) to see it",
                size(*total_bytes),
                size(*stored_bytes)
            ),
            Self::Io { id, message } => write!(f, "output {id} could not be read: {message}"),
        }
    }
}

impl std::error::Error for SpillError {}

/// The store. Cheap to clone: clones share the same entries.
#[derive(Debug, Clone)]
pub struct SpillStore {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    limits: SpillLimits,
    dir: std::path::PathBuf,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Committed entries, oldest first.
    entries: VecDeque<Entry>,
    evicted: VecDeque<String>,
}

#[derive(Debug)]
struct Entry {
    info: SpillInfo,
    file: Arc<File>,
    /// `index[k]` is the byte offset where line `k * INDEX_EVERY + 1` starts.
    index: Arc<Vec<u64>>,
}

impl Shared {
    /// A poisoned lock only means another thread panicked mid-call; the state is still a
    /// consistent list, so carry on rather than fail every later call.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl SpillStore {
    /// A store whose anonymous files live in the system's temporary directory.
    pub fn new(limits: SpillLimits) -> Self {
        Self::new_in(limits, std::env::temp_dir())
    }

    /// A store whose anonymous files live in `dir` (codebox gives it a private directory that its own landlock
    /// domain may write, instead of the whole temporary directory).
    pub fn new_in(limits: SpillLimits, dir: std::path::PathBuf) -> Self {
        Self { shared: Arc::new(Shared { limits, dir, state: Mutex::new(State::default()) }) }
    }

    pub fn limits(&self) -> SpillLimits {
        self.shared.limits
    }

    /// Starts a new entry. The id exists from now on, so a marker can name it before the
    /// output ends; readers see the entry only after [`SpillWriter::commit`].
    pub fn begin(&self) -> io::Result<SpillWriter> {
        let file = tempfile::tempfile_in(&self.shared.dir)?;
        let id = {
            let state = self.shared.lock();
            let mut id = random_id();
            while state.entries.iter().any(|e| e.info.id == id) || state.evicted.contains(&id) {
                id = random_id();
            }
            id
        };
        let limits = self.shared.limits;
        Ok(SpillWriter {
            shared: Arc::clone(&self.shared),
            id,
            file,
            // An entry larger than the whole store would evict itself on commit.
            cap: limits.max_entry_bytes.min(limits.max_total_bytes),
            buf: Vec::new(),
            total: 0,
            stored: 0,
            newlines: 0,
            index: vec![0],
            last_byte: None,
            error: None,
            created: SystemTime::now(),
        })
    }

    /// Raw bytes `byte_offset..byte_offset + len`. The result is shorter when the range runs
    /// past the end of the output, or past the stored part of a capped output (check
    /// [`SpillStore::info`]); a range that starts beyond the stored part is an error.
    pub fn read_range(&self, id: &str, byte_offset: u64, len: u64) -> Result<Vec<u8>, SpillError> {
        let Handle(info, file, _) = self.lookup(id)?;
        if byte_offset > info.total_bytes {
            return Err(SpillError::OffsetPastEnd { id: info.id, offset: byte_offset, total_bytes: info.total_bytes });
        }
        if byte_offset == info.total_bytes || len == 0 {
            return Ok(Vec::new());
        }
        if byte_offset >= info.stored_bytes {
            return Err(not_stored(&info));
        }
        let end = byte_offset.saturating_add(len).min(info.stored_bytes);
        let mut buf = vec![0; (end - byte_offset) as usize];
        file.read_exact_at(&mut buf, byte_offset).map_err(|e| io_error(&info.id, &e))?;
        Ok(buf)
    }

    /// Up to `limit` lines from 1-based `first_line`, raw, with their newlines.
    pub fn read_lines(&self, id: &str, first_line: u64, limit: u64) -> Result<LinesChunk, SpillError> {
        let Handle(info, file, index) = self.lookup(id)?;
        if first_line == 0 {
            return Err(SpillError::LineZero { id: info.id });
        }
        if first_line > info.lines {
            if !info.complete() {
                return Err(not_stored(&info));
            }
            return Err(SpillError::LinePastEnd { id: info.id, line: first_line, total_lines: info.lines });
        }
        let err = |e: io::Error| io_error(&info.id, &e);
        let k = ((first_line - 1) / INDEX_EVERY) as usize;
        let k = k.min(index.len().saturating_sub(1));
        let mut pos = index.get(k).copied().unwrap_or(0);
        let mut line = k as u64 * INDEX_EVERY + 1;
        let end = info.stored_bytes;
        let mut buf = vec![0; READ_BUF];

        // Skip to the first line.
        'skip: while line < first_line && pos < end {
            let n = fill(&file, &mut buf, pos, end).map_err(err)?;
            for (i, _) in buf[..n].iter().enumerate().filter(|(_, b)| **b == b'\n') {
                line += 1;
                if line == first_line {
                    pos += i as u64 + 1;
                    break 'skip;
                }
            }
            pos += n as u64;
        }

        let byte_offset = pos;
        let mut out = Vec::new();
        let mut seen = 0;
        let mut cut = false;
        while seen < limit && pos < end {
            let n = fill(&file, &mut buf, pos, end).map_err(err)?;
            let mut take = n;
            for (i, _) in buf[..n].iter().enumerate().filter(|(_, b)| **b == b'\n') {
                seen += 1;
                if seen == limit {
                    take = i + 1;
                    break;
                }
            }
            let room = READ_LINES_MAX_BYTES - out.len();
            if take > room {
                take = room;
                cut = true;
            }
            out.extend_from_slice(&buf[..take]);
            pos += take as u64;
            if cut {
                break;
            }
        }
        let newlines = out.iter().filter(|&&b| b == b'\n').count() as u64;
        let lines = newlines + u64::from(out.last().is_some_and(|&b| b != b'\n'));
        Ok(LinesChunk {
            first_line,
            last_line: first_line + lines - 1,
            lines,
            byte_offset,
            bytes: out,
            total_lines: info.lines,
            more: pos < end,
            cut_at_byte_cap: cut,
        })
    }

    /// Lines matching `pattern` (after ANSI stripping, decoded lossily), with `context` lines
    /// (at most 100) around each, for the first `max_matches` matches; the scan goes on to
    /// count all matches. Memory is bounded by the context and the shown lines.
    pub fn grep(
        &self,
        id: &str,
        pattern: &regex::Regex,
        context: usize,
        max_matches: usize,
    ) -> Result<GrepResult, SpillError> {
        let Handle(info, file, _) = self.lookup(id)?;
        let context = context.min(GREP_MAX_CONTEXT);
        let mut reader = LineReader::new(&file, info.stored_bytes);
        let mut out = Vec::new();
        let mut before: VecDeque<GrepLine> = VecDeque::new();
        let mut after_left = 0;
        let mut shown = 0;
        let mut total = 0;
        let mut line_no = 0;
        while let Some(raw) = reader.next_line().map_err(|e| io_error(&info.id, &e))? {
            line_no += 1;
            let decoded = String::from_utf8_lossy(raw);
            let text = strip_ansi(&decoded);
            let is_match = pattern.is_match(&text);
            total += u64::from(is_match);
            let show = is_match && shown < max_matches;
            if !show && after_left == 0 && (shown >= max_matches || context == 0) {
                continue;
            }
            let line = GrepLine { line: line_no, text: clip_line(&text, GREP_LINE_CHARS).into_owned(), is_match };
            if show {
                shown += 1;
                out.extend(before.drain(..));
                out.push(line);
                after_left = context;
            } else if after_left > 0 {
                out.push(line);
                after_left -= 1;
            } else {
                before.push_back(line);
                if before.len() > context {
                    before.pop_front();
                }
            }
        }
        Ok(GrepResult {
            lines: out,
            shown_matches: shown,
            total_matches: total,
            lines_scanned: line_no,
            partial_output: !info.complete(),
        })
    }

    /// Committed outputs, newest first.
    pub fn list(&self) -> Vec<SpillInfo> {
        let state = self.shared.lock();
        state.entries.iter().rev().map(|e| e.info.clone()).collect()
    }

    pub fn info(&self, id: &str) -> Option<SpillInfo> {
        let state = self.shared.lock();
        state.entries.iter().find(|e| e.info.id == id).map(|e| e.info.clone())
    }

    /// The entry's handles, cloned so the I/O happens outside the lock.
    fn lookup(&self, id: &str) -> Result<Handle, SpillError> {
        let state = self.shared.lock();
        if let Some(e) = state.entries.iter().find(|e| e.info.id == id) {
            return Ok(Handle(e.info.clone(), Arc::clone(&e.file), Arc::clone(&e.index)));
        }
        let limits = self.shared.limits;
        let id = id.to_string();
        if state.evicted.contains(&id) {
            Err(SpillError::Evicted { id, limits })
        } else {
            Err(SpillError::Unknown { id, limits })
        }
    }
}

/// A committed entry's info and shared handles: its file and its line index.
struct Handle(SpillInfo, Arc<File>, Arc<Vec<u64>>);

/// Collects one output. Dropping it without [`SpillWriter::commit`] discards the data: the
/// anonymous file vanishes with its descriptor.
#[derive(Debug)]
pub struct SpillWriter {
    shared: Arc<Shared>,
    id: String,
    file: File,
    cap: u64,
    buf: Vec<u8>,
    total: u64,
    /// Bytes written to the file; what is in `buf` is not counted yet.
    stored: u64,
    newlines: u64,
    index: Vec<u64>,
    last_byte: Option<u8>,
    error: Option<String>,
    created: SystemTime,
}

impl SpillWriter {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Appends output. Past the entry cap, or after a disk error, bytes are counted but not
    /// stored; the error is reported in [`SpillInfo::write_error`], never here, because the
    /// command's output must flow on regardless.
    pub fn write(&mut self, data: &[u8]) {
        self.total += data.len() as u64;
        if self.error.is_some() {
            return;
        }
        let room = self.cap.saturating_sub(self.stored + self.buf.len() as u64);
        let take = data.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        self.buf.extend_from_slice(&data[..take]);
        if self.buf.len() >= WRITE_BUF {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.buf.is_empty() || self.error.is_some() {
            self.buf.clear();
            return;
        }
        if let Err(e) = self.file.write_all(&self.buf) {
            // Part of the buffer may be on disk, but reads stop at `stored`, so the entry
            // stays a consistent prefix.
            self.error = Some(e.to_string());
            self.buf.clear();
            return;
        }
        for (i, _) in self.buf.iter().enumerate().filter(|(_, b)| **b == b'\n') {
            self.newlines += 1;
            if self.newlines.is_multiple_of(INDEX_EVERY) {
                self.index.push(self.stored + i as u64 + 1);
            }
        }
        self.last_byte = self.buf.last().copied().or(self.last_byte);
        self.stored += self.buf.len() as u64;
        self.buf.clear();
    }

    /// Makes the entry visible and evicts the oldest entries beyond the caps.
    pub fn commit(mut self) -> SpillInfo {
        self.flush();
        let lines = self.newlines + u64::from(self.last_byte.is_some_and(|b| b != b'\n'));
        let info = SpillInfo {
            id: std::mem::take(&mut self.id),
            total_bytes: self.total,
            stored_bytes: self.stored,
            lines,
            created: self.created,
            write_error: self.error.take(),
        };
        let entry = Entry { info: info.clone(), file: Arc::new(self.file), index: Arc::new(self.index) };
        let limits = self.shared.limits;
        let mut state = self.shared.lock();
        state.entries.push_back(entry);
        loop {
            let total: u64 = state.entries.iter().map(|e| e.info.stored_bytes).sum();
            let over = state.entries.len() > limits.max_entries.max(1) || total > limits.max_total_bytes;
            if !over || state.entries.len() <= 1 {
                break;
            }
            if let Some(old) = state.entries.pop_front() {
                tracing::info!("output {} evicted from the spill store (count or size cap reached)", old.info.id);
                state.evicted.push_back(old.info.id);
                if state.evicted.len() > EVICTED_MEMORY {
                    state.evicted.pop_front();
                }
            }
        }
        info
    }
}

/// Reads lines of the stored part in bounded memory: lines longer than
/// `GREP_MAX_LINE_BYTES` are cut there and the rest of them skipped.
struct LineReader<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
    buf: Vec<u8>,
    start: usize,
    len: usize,
    line: Vec<u8>,
}

impl<'a> LineReader<'a> {
    fn new(file: &'a File, end: u64) -> Self {
        Self { file, pos: 0, end, buf: vec![0; READ_BUF], start: 0, len: 0, line: Vec::new() }
    }

    fn next_line(&mut self) -> io::Result<Option<&[u8]>> {
        self.line.clear();
        let mut any = false;
        loop {
            if self.start == self.len {
                if self.pos >= self.end {
                    return Ok(any.then_some(self.line.as_slice()));
                }
                self.len = fill(self.file, &mut self.buf, self.pos, self.end)?;
                self.pos += self.len as u64;
                self.start = 0;
            }
            any = true;
            let avail = &self.buf[self.start..self.len];
            let (piece, found) = match avail.iter().position(|&b| b == b'\n') {
                Some(i) => (&avail[..i], true),
                None => (avail, false),
            };
            let room = GREP_MAX_LINE_BYTES.saturating_sub(self.line.len());
            self.line.extend_from_slice(&piece[..piece.len().min(room)]);
            self.start += piece.len() + usize::from(found);
            if found {
                return Ok(Some(self.line.as_slice()));
            }
        }
    }
}

/// Fills `buf` from `pos`, never past `end`; returns the bytes read.
fn fill(file: &File, buf: &mut [u8], pos: u64, end: u64) -> io::Result<usize> {
    let n = buf.len().min(usize::try_from(end.saturating_sub(pos)).unwrap_or(usize::MAX));
    file.read_exact_at(&mut buf[..n], pos)?;
    Ok(n)
}

fn not_stored(info: &SpillInfo) -> SpillError {
    SpillError::NotStored {
        id: info.id.clone(),
        stored_bytes: info.stored_bytes,
        total_bytes: info.total_bytes,
        stored_lines: info.lines,
    }
}

fn io_error(id: &str, e: &io::Error) -> SpillError {
    SpillError::Io { id: id.to_string(), message: e.to_string() }
}

fn size(bytes: u64) -> String {
    crate::output::human_bytes(bytes)
}

/// `o` plus 10 base32 chars from the OS's random source. Should /dev/urandom be unreadable,
/// std's per-process random hash keys mixed with the time, the pid and a counter still give
/// ids that do not collide and are hard to guess.
fn random_id() -> String {
    let mut bytes = [0u8; 8];
    let seeded = crate::random::fill(&mut bytes).is_ok();
    let mut n = if seeded {
        u64::from_le_bytes(bytes)
    } else {
        use std::hash::{BuildHasher, Hasher};
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u32(std::process::id());
        let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        h.write_u128(nanos);
        h.finish()
    };
    let mut id = String::with_capacity(ID_CHARS + 1);
    id.push('o');
    for _ in 0..ID_CHARS {
        id.push(char::from(ID_ALPHABET[(n & 31) as usize]));
        n >>= 5;
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(max_entry_bytes: u64, max_total_bytes: u64, max_entries: usize) -> SpillStore {
        SpillStore::new(SpillLimits { max_entry_bytes, max_total_bytes, max_entries })
    }

    fn put(store: &SpillStore, data: &[u8]) -> SpillInfo {
        let mut w = store.begin().unwrap();
        // Odd chunk sizes, so the write buffer and the line index see every alignment.
        for chunk in data.chunks(7_777) {
            w.write(chunk);
        }
        w.commit()
    }

    fn numbered(n: u64) -> Vec<u8> {
        (1..=n).flat_map(|i| format!("line {i}\n").into_bytes()).collect()
    }

    #[test]
    fn ids_are_short_unique_and_url_safe() {
        let s = SpillStore::new(SpillLimits::default());
        let a = s.begin().unwrap();
        let b = s.begin().unwrap();
        assert_ne!(a.id(), b.id());
        assert_eq!(a.id().len(), 11);
        assert!(a.id().starts_with('o'));
        assert!(a.id().bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    }

    #[test]
    fn read_range_is_exact() {
        let s = SpillStore::new(SpillLimits::default());
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let info = put(&s, &data);
        assert!(info.complete());
        assert_eq!(info.total_bytes, 200_000);
        assert_eq!(s.read_range(&info.id, 0, 200_000).unwrap(), data);
        assert_eq!(s.read_range(&info.id, 65_530, 100).unwrap(), &data[65_530..65_630]);
        assert_eq!(s.read_range(&info.id, 199_990, 100).unwrap(), &data[199_990..]);
        assert_eq!(s.read_range(&info.id, 200_000, 5).unwrap(), b"");
        let e = s.read_range(&info.id, 200_001, 5).unwrap_err();
        assert_eq!(e.to_string(), format!("output {} has 200000 bytes; offset 200001 is past the end", info.id));
    }

    #[test]
    fn read_lines_across_index_boundaries() {
        let s = SpillStore::new(SpillLimits::default());
        let data = numbered(5000);
        let info = put(&s, &data);
        assert_eq!(info.lines, 5000);
        let c = s.read_lines(&info.id, 1020, 11).unwrap();
        let want: Vec<u8> = (1020..=1030).flat_map(|i| format!("line {i}\n").into_bytes()).collect();
        assert_eq!(c.bytes, want);
        assert_eq!((c.first_line, c.last_line, c.lines), (1020, 1030, 11));
        assert_eq!(&data[c.byte_offset as usize..][..want.len()], &want[..]);
        assert!(c.more);
        for first in [1, 1024, 1025, 1026, 2048, 2049, 4097, 5000] {
            let c = s.read_lines(&info.id, first, 1).unwrap();
            assert_eq!(c.bytes, format!("line {first}\n").into_bytes(), "line {first}");
        }
        let c = s.read_lines(&info.id, 4999, 10).unwrap();
        assert_eq!((c.lines, c.last_line, c.more), (2, 5000, false));
        let e = s.read_lines(&info.id, 5001, 1).unwrap_err();
        assert_eq!(e.to_string(), format!("output {} has 5000 lines; line 5001 is past the end", info.id));
        assert!(matches!(s.read_lines(&info.id, 0, 1), Err(SpillError::LineZero { .. })));
    }

    #[test]
    fn read_lines_without_trailing_newline() {
        let s = SpillStore::new(SpillLimits::default());
        let info = put(&s, b"a\nb\nlast");
        assert_eq!(info.lines, 3);
        let c = s.read_lines(&info.id, 2, 10).unwrap();
        assert_eq!(c.bytes, b"b\nlast");
        assert_eq!((c.lines, c.last_line, c.more), (2, 3, false));
        let c = s.read_lines(&info.id, 3, 1).unwrap();
        assert_eq!(c.bytes, b"last");
        let empty = put(&s, b"");
        assert_eq!(empty.lines, 0);
        assert!(matches!(s.read_lines(&empty.id, 1, 1), Err(SpillError::LinePastEnd { .. })));
    }

    #[test]
    fn read_lines_is_bounded_by_the_byte_cap() {
        let s = SpillStore::new(SpillLimits::default());
        let data = [vec![b'x'; READ_LINES_MAX_BYTES + 10], b"\nend\n".to_vec()].concat();
        let info = put(&s, &data);
        let c = s.read_lines(&info.id, 1, 5).unwrap();
        assert!(c.cut_at_byte_cap && c.more);
        assert_eq!(c.bytes.len(), READ_LINES_MAX_BYTES);
        assert_eq!(s.read_lines(&info.id, 2, 5).unwrap().bytes, b"end\n");
    }

    #[test]
    fn grep_with_context_and_max_matches() {
        let s = SpillStore::new(SpillLimits::default());
        let mut data = numbered(100);
        data.extend_from_slice(b"\x1b[31merror\x1b[0m: colored\nafter\n");
        let info = put(&s, &data);
        let re = regex::Regex::new(r"^line (1|5|7|50|99)$").unwrap();
        let g = s.grep(&info.id, &re, 1, 10).unwrap();
        let got: Vec<(u64, bool)> = g.lines.iter().map(|l| (l.line, l.is_match)).collect();
        assert_eq!(
            got,
            [
                (1, true),
                (2, false),
                (4, false),
                (5, true),
                (6, false),
                (7, true),
                (8, false),
                (49, false),
                (50, true),
                (51, false),
                (98, false),
                (99, true),
                (100, false)
            ]
        );
        assert_eq!((g.shown_matches, g.total_matches, g.lines_scanned), (5, 5, 102));
        assert!(!g.stopped_early());
        let g = s.grep(&info.id, &re, 0, 2).unwrap();
        assert_eq!(g.lines.iter().map(|l| l.line).collect::<Vec<_>>(), [1, 5]);
        assert_eq!((g.shown_matches, g.total_matches), (2, 5));
        assert!(g.stopped_early());
        // Matching sees the text without escapes, as the model does.
        let g = s.grep(&info.id, &regex::Regex::new("^error: col").unwrap(), 0, 5).unwrap();
        assert_eq!(g.lines[0].text, "error: colored");
        assert_eq!(g.lines[0].line, 101);
    }

    #[test]
    fn eviction_by_count_is_oldest_first() {
        let s = store(1 << 20, 1 << 30, 3);
        let ids: Vec<String> = (0..5).map(|i| put(&s, format!("out {i}\n").as_bytes()).id).collect();
        let listed: Vec<String> = s.list().into_iter().map(|i| i.id).collect();
        assert_eq!(listed, [ids[4].clone(), ids[3].clone(), ids[2].clone()]);
        let e = s.read_range(&ids[0], 0, 1).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "output {} is no longer kept (the store keeps the newest 3 outputs, 1.0 GiB in \
                 all); re-run the command",
                ids[0]
            )
        );
        assert!(s.info(&ids[1]).is_none());
        assert_eq!(s.read_range(&ids[2], 0, 100).unwrap(), b"out 2\n");
    }

    #[test]
    fn eviction_by_total_bytes() {
        let s = store(1000, 2500, 64);
        let a = put(&s, &[b'a'; 1000]);
        let b = put(&s, &[b'b'; 1000]);
        let c = put(&s, &[b'c'; 1000]);
        assert!(s.info(&a.id).is_none());
        assert!(s.info(&b.id).is_some() && s.info(&c.id).is_some());
        assert!(matches!(s.read_lines(&a.id, 1, 1), Err(SpillError::Evicted { .. })));
    }

    #[test]
    fn entry_cap_counts_but_does_not_store() {
        let s = store(100, 1 << 20, 8);
        let data = numbered(50);
        let info = put(&s, &data);
        assert_eq!(info.total_bytes, data.len() as u64);
        assert_eq!(info.stored_bytes, 100);
        assert!(!info.complete());
        assert_eq!(s.read_range(&info.id, 90, 50).unwrap(), &data[90..100]);
        let e = s.read_range(&info.id, 100, 5).unwrap_err();
        assert!(matches!(e, SpillError::NotStored { .. }));
        assert!(e.to_string().contains("only its first 100 bytes (lines 1–14) were kept"), "{e}");
        assert!(matches!(s.read_lines(&info.id, 40, 1), Err(SpillError::NotStored { .. })));
        assert!(s.grep(&info.id, &regex::Regex::new("x").unwrap(), 0, 1).unwrap().partial_output);
    }

    #[test]
    fn uncommitted_writer_is_invisible() {
        let s = SpillStore::new(SpillLimits::default());
        let mut w = s.begin().unwrap();
        w.write(b"secret\n");
        let id = w.id().to_string();
        assert!(s.info(&id).is_none());
        assert!(matches!(s.read_range(&id, 0, 1), Err(SpillError::Unknown { .. })));
        drop(w);
        assert!(s.list().is_empty());
    }

    #[test]
    fn unknown_id_message() {
        let s = SpillStore::new(SpillLimits::default());
        let e = s.read_range("o7", 0, 1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no output with id \"o7\" is kept (the store keeps the newest 64 outputs, 1.0 GiB in \
             all); use an id named in a truncated result, or re-run the command"
        );
    }

    #[test]
    fn omission_maps_to_the_same_bytes_by_range_and_by_lines() {
        use crate::output::{OutputConfig, OutputPolicy, Shaper};
        let data: Vec<u8> = (1..=3000).flat_map(|i| format!("\x1b[1m{i}\x1b[0m row\r\n").into_bytes()).collect();
        let policy = OutputPolicy::new(&OutputConfig::default()).unwrap();
        let mut shaper = Shaper::new(&policy);
        let s = SpillStore::new(SpillLimits::default());
        let mut w = s.begin().unwrap();
        for chunk in data.chunks(4096) {
            shaper.push(chunk);
            w.write(chunk);
        }
        let id = w.id().to_string();
        let shaped = shaper.finish(&|o| format!("read_output(id={id:?}, line={})", o.first_line));
        w.commit();
        let o = shaped.omitted.unwrap();
        assert!(shaped.text.contains(&format!("read_output(id={id:?}, line={})", o.first_line)));
        let by_range = s.read_range(&id, o.byte_offset, o.bytes).unwrap();
        let by_lines = s.read_lines(&id, o.first_line, o.lines).unwrap();
        assert_eq!(by_range, by_lines.bytes);
        assert_eq!(by_lines.byte_offset, o.byte_offset);
        assert_eq!(by_lines.last_line, o.last_line);
    }

    #[test]
    fn store_is_shareable() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<SpillStore>();
        assert_send_sync::<SpillWriter>();
        let s = SpillStore::new(SpillLimits::default());
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let s = s.clone();
                std::thread::spawn(move || put(&s, &numbered(100 * (i + 1))).id)
            })
            .collect();
        for h in handles {
            let id = h.join().unwrap();
            assert!(s.read_lines(&id, 1, 1).is_ok());
        }
        assert_eq!(s.list().len(), 4);
    }
}
