//! Output shaping: turns the raw byte stream of a tool result into text that fits a model's
//! context window.
//!
//! This module owns the whole view the model gets of an output: stripping ANSI escapes and
//! other control characters, resolving carriage-return progress updates, folding runs of
//! identical lines, clipping overlong lines around their middle, the lossy UTF-8 view, and the
//! head/tail budget split with a marker for the omitted middle and the error lines rescued
//! from it.
//!
//! It never does I/O, never spawns threads, never touches async runtimes or MCP types, and
//! never panics on any input. It does not know where the full output is kept: the caller
//! names the call that returns the omitted part through the `rest` closure given to
//! [`Shaper::finish`]. Memory is bounded by the budget and the line limit, never by the size
//! of the input, so a 2 GB line without a newline is as safe as a short log.

use regex::RegexSet;
use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt::Write as _;

/// About 5k tokens: a model can read that much whole without crowding out its own work.
pub(crate) const DEFAULT_MAX_CHARS: usize = 20_000;
/// Long enough for any line a person wrote, short enough that one minified bundle or base64
/// blob cannot eat the budget.
pub(crate) const DEFAULT_MAX_LINE_CHARS: usize = 1_000;

/// Share of the budget for the first lines: they show what ran and how it started.
const HEAD_PERCENT: usize = 30;
/// Share of the budget for the last lines: outcomes, summaries and the final error are there,
/// so the tail gets the larger part.
const TAIL_PERCENT: usize = 55;
/// The remaining 15% holds the omission marker and the error lines kept from the middle.
const ERRORS_PERCENT: usize = 100 - HEAD_PERCENT - TAIL_PERCENT;
/// Chars of the middle share held back for the marker line and the error header (at most half
/// of that share), so the error lines collected while streaming rarely have to be dropped
/// again at the end.
const MARKER_RESERVE: usize = 240;
/// Error lines from the middle are clipped harder than ordinary lines: the gist of an error is
/// at its start and end, and shorter lines let more distinct errors fit.
const ERROR_LINE_CHARS: usize = 300;
/// A run of identical lines is folded only from three lines on: folding two would cost more
/// chars (the note) than it saves.
const FOLD_MIN_RUN: u64 = 3;
/// Below this a clipped line would be mostly clip marker, so the line limit never goes lower.
const MIN_LINE_CHARS: usize = 32;
/// One line may take at most a quarter of the budget, so that small per-call budgets still
/// show a head and a tail rather than one clipped line.
const LINE_SHARE_DIVISOR: usize = 4;
/// Said once, at the end, so the model knows the U+FFFD characters are not in the output.
const INVALID_UTF8_NOTE: &str = "[note: the output is not valid UTF-8; invalid bytes are shown as \u{FFFD}]";

/// What the caller may tune. Built once from the server's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputConfig {
    /// Budget for the whole shaped text, in chars (not bytes, not tokens).
    pub max_chars: usize,
    /// Longer lines are clipped around their middle. Values below 32 are raised to 32.
    pub max_line_chars: usize,
    /// Regexes for lines worth keeping from the omitted middle, in priority order: when the
    /// error sub-budget is full, a line matching an earlier pattern displaces one that only
    /// matches later patterns.
    pub error_patterns: Vec<String>,
}

impl Default for OutputConfig {
    fn default() -> Self {
        Self {
            max_chars: DEFAULT_MAX_CHARS,
            max_line_chars: DEFAULT_MAX_LINE_CHARS,
            error_patterns: default_error_patterns(),
        }
    }
}

/// The default error patterns, most important first.
pub(crate) fn default_error_patterns() -> Vec<String> {
    [
        // Word-bounded, so "errors", "stderr" and "-Werror" do not match while "error:",
        // "Error", "ERROR" and "error[E0308]" do; summaries like "0 errors" stay quiet.
        // ASCII word boundaries (`(?-u:\b)`): Unicode ones cost most of the shaping time on large outputs.
        r"(?i)(?-u:\b)error(?-u:\b)",
        r"(?i)(?-u:\b)fatal(?-u:\b)",
        // Rust panics.
        r"panicked at",
        // Case-sensitive: test runners shout ("FAILED", Go's "--- FAIL:"), prose does not.
        r"(?-u:\b)FAIL(ED)?(?-u:\b)",
        r"^Traceback \(most recent call last\)",
        // Exception class names: ValueError, NullPointerException, Exception.
        r"(?-u:\b)(?-u:\w)*Exception(?-u:\b)|(?-u:\b)[A-Z](?-u:\w)*Error(?-u:\b)",
        // Last, so that a flood of warnings never pushes out the errors after it.
        r"(?i)(?-u:\b)warning(?-u:\b)",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

/// The compiled configuration, built once and shared by every call.
#[derive(Debug, Clone)]
pub struct OutputPolicy {
    max_chars: usize,
    max_line_chars: usize,
    errors: RegexSet,
}

impl OutputPolicy {
    /// Compiles the error patterns; the error message names the first bad pattern.
    pub fn new(cfg: &OutputConfig) -> Result<Self, String> {
        for p in &cfg.error_patterns {
            regex::Regex::new(p).map_err(|e| format!("error pattern {p:?} is not a valid regex: {e}"))?;
        }
        let errors = RegexSet::new(&cfg.error_patterns)
            .map_err(|e| format!("the error patterns cannot be compiled together: {e}"))?;
        Ok(Self { max_chars: cfg.max_chars, max_line_chars: cfg.max_line_chars.max(MIN_LINE_CHARS), errors })
    }

    /// The default budget, in chars.
    pub fn max_chars(&self) -> usize {
        self.max_chars
    }

    /// The index of the first pattern the line matches: lower is more important.
    fn error_priority(&self, line: &str) -> Option<usize> {
        // Most lines match nothing: the one-pass `is_match` settles them before the costlier `matches`.
        if !self.errors.is_match(line) {
            return None;
        }
        self.errors.matches(line).iter().next()
    }
}

/// The contiguous middle of the output that the text does not show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Omission {
    /// 1-based line numbers in the raw input (split on `\n`).
    pub first_line: u64,
    pub last_line: u64,
    pub lines: u64,
    /// Raw bytes of those lines, including their newlines: `byte_offset..byte_offset + bytes`
    /// of the raw input is exactly the omitted part.
    pub bytes: u64,
    pub byte_offset: u64,
}

/// The result of shaping one output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shaped {
    /// What the model sees. Lines are joined with `\n` and there is no trailing newline; its
    /// `chars().count()` never exceeds the budget.
    pub text: String,
    /// Raw lines; a last line without a newline counts.
    pub total_lines: u64,
    pub total_bytes: u64,
    pub omitted: Option<Omission>,
    /// Invalid UTF-8 was shown as U+FFFD; the text then ends with a note saying so.
    pub invalid_utf8: bool,
    /// Error lines from the omitted middle shown under the marker.
    pub kept_error_lines: usize,
    /// Error lines from the omitted middle that did not fit.
    pub dropped_error_lines: u64,
    /// Lines clipped around their middle.
    pub clipped_lines: u64,
    /// The budget was too small even for the marker, so the text was cut at the budget.
    pub hard_cut: bool,
}

impl Shaped {
    /// True when the model does not see all of the output's content (cleaning aside).
    pub(crate) fn truncated(&self) -> bool {
        self.omitted.is_some() || self.clipped_lines > 0 || self.hard_cut
    }
}

/// Clips a line longer than `max_chars` around its middle, keeping its start and end and
/// saying how many chars were cut. A `max_chars` below the marker's own length yields just
/// the marker.
pub(crate) fn clip_line(line: &str, max_chars: usize) -> Cow<'_, str> {
    if line.len() <= max_chars {
        return Cow::Borrowed(line);
    }
    let total = line.chars().count();
    if total <= max_chars {
        return Cow::Borrowed(line);
    }
    Cow::Owned(clip_parts(line, line, total as u64, max_chars))
}

/// Removes ANSI escape sequences and the control characters a terminal would not print
/// (everything below U+0020 and U+007F except tab, newline and carriage return).
pub(crate) fn strip_ansi(s: &str) -> Cow<'_, str> {
    if !s.bytes().any(is_special) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    AnsiStrip::default().feed(s, |run| out.push_str(run));
    Cow::Owned(out)
}

/// Streaming state for one output. Feed it chunks of any size with [`Shaper::push`], then
/// call [`Shaper::finish`].
pub(crate) struct Shaper<'p> {
    policy: &'p OutputPolicy,
    budget: usize,
    total_bytes: u64,
    /// Raw offset where the current line starts.
    line_start: u64,
    lines_done: u64,
    /// The start of a UTF-8 character split across chunks.
    carry: [u8; 4],
    carry_len: usize,
    invalid_utf8: bool,
    ansi: AnsiStrip,
    /// A `\r` was seen; the next visible text overwrites the line.
    pending_cr: bool,
    line: LineBuf,
    clipped_lines: u64,
    run: Option<Run>,
    layout: Layout,
}

impl<'p> Shaper<'p> {
    #[cfg(test)]
    pub(crate) fn new(policy: &'p OutputPolicy) -> Self {
        Self::with_budget(policy, policy.max_chars)
    }

    /// Same policy, another budget (a per-call override).
    pub(crate) fn with_budget(policy: &'p OutputPolicy, max_chars: usize) -> Self {
        let line_limit = policy.max_line_chars.min((max_chars / LINE_SHARE_DIVISOR).max(MIN_LINE_CHARS));
        let head_cap = max_chars / 100 * HEAD_PERCENT + max_chars % 100 * HEAD_PERCENT / 100;
        let tail_cap = max_chars / 100 * TAIL_PERCENT + max_chars % 100 * TAIL_PERCENT / 100;
        let middle = max_chars / 100 * ERRORS_PERCENT + max_chars % 100 * ERRORS_PERCENT / 100;
        // Small budgets still get some error lines; `finish` trims them if the marker needs it.
        let err_cap = middle - MARKER_RESERVE.min(middle / 2);
        Self {
            policy,
            budget: max_chars,
            total_bytes: 0,
            line_start: 0,
            lines_done: 0,
            carry: [0; 4],
            carry_len: 0,
            invalid_utf8: false,
            ansi: AnsiStrip::default(),
            pending_cr: false,
            line: LineBuf::new(line_limit),
            clipped_lines: 0,
            run: None,
            layout: Layout { budget: max_chars, head_cap, tail_cap, err_cap, ..Layout::default() },
        }
    }

    /// Feeds the next bytes. Chunk boundaries may fall anywhere, even inside a UTF-8
    /// character, an escape sequence or a `\r\n`; the result does not depend on them.
    pub(crate) fn push(&mut self, chunk: &[u8]) {
        let mut rest = chunk;
        while !rest.is_empty() {
            match rest.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let (line, after) = rest.split_at(i);
                    self.decode(line);
                    self.total_bytes += i as u64 + 1;
                    self.end_line();
                    rest = after.get(1..).unwrap_or_default();
                }
                None => {
                    self.decode(rest);
                    self.total_bytes += rest.len() as u64;
                    return;
                }
            }
        }
    }

    /// Bytes held by this shaper, for tests of the memory bound: O(budget + line limit).
    #[cfg(test)]
    pub(crate) fn retained_bytes(&self) -> usize {
        let items = |it: &Item| it.text.capacity() + std::mem::size_of::<Item>();
        let lay = &self.layout;
        lay.head.iter().map(items).sum::<usize>()
            + lay.tail.iter().map(items).sum::<usize>()
            + lay.errors.iter().map(|e| e.text.capacity() + std::mem::size_of::<ErrLine>()).sum::<usize>()
            + self.line.head.capacity()
            + self.line.tail.capacity()
            + self.run.as_ref().map_or(0, |r| r.text.capacity())
    }

    /// Ends the output and lays out the text. `rest` builds the caller's part of the marker,
    /// naming the call that returns the omitted part; it may be called more than once.
    pub(crate) fn finish(mut self, rest: &dyn Fn(&Omission) -> String) -> Shaped {
        if self.total_bytes > self.line_start {
            self.end_line();
        }
        self.flush_run();
        let note = self.invalid_utf8.then_some(INVALID_UTF8_NOTE);
        let policy = self.policy;
        let budget = self.budget;
        let lay = &mut self.layout;
        // Make room until the text fits: first the tail beyond its share (only possible when
        // the output almost fit), then up to a quarter of the head and tail shares (rescued
        // error lines say more than a few more lines of context), then error lines, then
        // lines from whichever of head and tail is over its share. Every round removes
        // something, so this ends.
        let context_floor = (lay.head_cap + lay.tail_cap) / 4 * 3;
        let block = loop {
            let block = lay.marker_block(rest);
            let total = lay.rendered_chars(block.as_deref(), note);
            if total <= budget {
                break block;
            }
            let mut deficit = total - budget;
            let mut progressed = false;
            while deficit > 0 {
                let freed = if lay.tail_chars > lay.tail_cap && !lay.tail.is_empty() {
                    lay.pop_tail(policy)
                } else if lay.head_chars + lay.tail_chars > context_floor {
                    lay.pop_balanced(policy)
                } else if let Some(freed) = lay.drop_worst_error() {
                    freed
                } else {
                    match lay.pop_balanced(policy) {
                        0 => break,
                        freed => freed,
                    }
                };
                progressed = true;
                deficit = deficit.saturating_sub(freed);
            }
            if !progressed {
                break block;
            }
        };
        let mut text = lay.render(block.as_deref(), note);
        // Only a budget smaller than the marker itself gets here; the promise is the budget.
        let hard_cut = match text.char_indices().nth(budget) {
            Some((cut, _)) => {
                text.truncate(cut);
                true
            }
            None => false,
        };
        let omitted = lay.span.map(Span::omission);
        Shaped {
            text,
            total_lines: self.lines_done,
            total_bytes: self.total_bytes,
            omitted,
            invalid_utf8: self.invalid_utf8,
            kept_error_lines: lay.errors.len(),
            dropped_error_lines: lay.err_dropped,
            clipped_lines: self.clipped_lines,
            hard_cut,
        }
    }

    /// Decodes UTF-8 lossily, holding back a character split across chunks.
    fn decode(&mut self, mut input: &[u8]) {
        if self.carry_len > 0 {
            // Complete the held-back character one byte at a time: that finds the same
            // maximal invalid sequence as decoding the whole input at once would.
            let mut tmp = self.carry;
            let mut n = self.carry_len;
            let mut used = 0;
            loop {
                let Some(&b) = input.get(used) else {
                    self.carry = tmp;
                    self.carry_len = n;
                    return;
                };
                if n >= tmp.len() {
                    break;
                }
                tmp[n] = b;
                n += 1;
                used += 1;
                match std::str::from_utf8(&tmp[..n]) {
                    Ok(s) => {
                        self.carry_len = 0;
                        self.feed_text(s);
                        input = input.get(used..).unwrap_or_default();
                        break;
                    }
                    Err(e) => {
                        let bad = match e.error_len() {
                            None if n < tmp.len() => continue,
                            None => 1,
                            Some(bad) => bad,
                        };
                        self.carry_len = 0;
                        self.invalid_utf8 = true;
                        self.feed_text("\u{FFFD}");
                        // Bytes after the invalid sequence start afresh.
                        let leftover = tmp;
                        self.decode(leftover.get(bad..n).unwrap_or_default());
                        self.decode(input.get(used..).unwrap_or_default());
                        return;
                    }
                }
            }
        }
        loop {
            match std::str::from_utf8(input) {
                Ok(s) => {
                    self.feed_text(s);
                    return;
                }
                Err(e) => {
                    let (valid, after) = input.split_at(e.valid_up_to());
                    if let Ok(s) = std::str::from_utf8(valid) {
                        self.feed_text(s);
                    }
                    match e.error_len() {
                        Some(bad) => {
                            self.invalid_utf8 = true;
                            self.feed_text("\u{FFFD}");
                            input = after.get(bad..).unwrap_or_default();
                        }
                        None => {
                            let n = after.len().min(self.carry.len());
                            self.carry[..n].copy_from_slice(&after[..n]);
                            self.carry_len = n;
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Decoded text of the current line: strip escapes, then apply `\r` overwrites.
    fn feed_text(&mut self, s: &str) {
        let line = &mut self.line;
        let pending_cr = &mut self.pending_cr;
        self.ansi.feed(s, |run| {
            for (i, seg) in run.split('\r').enumerate() {
                if i > 0 {
                    *pending_cr = true;
                }
                // A `\r` overwrites the line only once new text arrives, so "50%\r" and
                // "done\r\n" keep their text.
                if !seg.is_empty() {
                    if *pending_cr {
                        line.clear();
                        *pending_cr = false;
                    }
                    line.push(seg);
                }
            }
        });
    }

    fn end_line(&mut self) {
        if self.carry_len > 0 {
            // A newline can never continue a character, so the held-back bytes are invalid.
            self.carry_len = 0;
            self.invalid_utf8 = true;
            self.feed_text("\u{FFFD}");
        }
        // Escape sequences do not span lines here: a stray ESC or an unterminated OSC must
        // not swallow the rest of the output.
        self.ansi = AnsiStrip::default();
        self.pending_cr = false;
        let (text, clipped) = self.line.take();
        if clipped {
            self.clipped_lines += 1;
        }
        self.lines_done += 1;
        let line_no = self.lines_done;
        let offset = self.line_start;
        let len = self.total_bytes - self.line_start;
        self.line_start = self.total_bytes;

        if let Some(run) = &mut self.run
            && run.text == text
        {
            run.count += 1;
            run.bytes += len;
            if run.lens.len() < FOLD_MIN_RUN as usize {
                run.lens.push(len);
            }
            return;
        }
        self.flush_run();
        self.run = Some(Run { text, first_line: line_no, offset, count: 1, bytes: len, lens: vec![len] });
    }

    fn flush_run(&mut self) {
        let Some(run) = self.run.take() else { return };
        let policy = self.policy;
        if run.count >= FOLD_MIN_RUN {
            let last = run.first_line + run.count - 1;
            let body_len = run.text.len();
            let mut text = run.text;
            let _ = write!(
                text,
                "\n… the line above repeated {} more times (lines {}–{})",
                run.count - 1,
                run.first_line + 1,
                last
            );
            let item = Item::new(text, body_len, run.first_line, last, run.offset, run.bytes);
            self.layout.add(item, policy);
        } else {
            let mut offset = run.offset;
            for (line, len) in (run.first_line..).zip(run.lens) {
                let item = Item::new(run.text.clone(), run.text.len(), line, line, offset, len);
                self.layout.add(item, policy);
                offset += len;
            }
        }
    }
}

/// One unit of layout: a line, or a folded run of identical lines. Items are kept or omitted
/// whole, which keeps the omission a contiguous range of raw lines and bytes.
#[derive(Debug)]
struct Item {
    text: String,
    /// Bytes of `text` that are the line itself, before any fold note.
    body_len: usize,
    /// Chars of `text` plus one for the newline joining it to the next part.
    chars: usize,
    first_line: u64,
    last_line: u64,
    offset: u64,
    bytes: u64,
}

impl Item {
    fn new(text: String, body_len: usize, first: u64, last: u64, offset: u64, bytes: u64) -> Self {
        let chars = text.chars().count() + 1;
        Self { text, body_len, chars, first_line: first, last_line: last, offset, bytes }
    }
}

/// Consecutive identical lines seen so far. Only the first few raw lengths are kept: a run
/// that reaches the fold threshold is shown once, whatever its length.
struct Run {
    text: String,
    first_line: u64,
    offset: u64,
    count: u64,
    bytes: u64,
    lens: Vec<u64>,
}

#[derive(Debug, Clone, Copy)]
struct Span {
    first_line: u64,
    last_line: u64,
    offset: u64,
    bytes: u64,
}

impl Span {
    fn omission(self) -> Omission {
        Omission {
            first_line: self.first_line,
            last_line: self.last_line,
            lines: self.last_line + 1 - self.first_line,
            bytes: self.bytes,
            byte_offset: self.offset,
        }
    }
}

#[derive(Debug)]
struct ErrLine {
    line: u64,
    text: String,
    /// Index of the first matching pattern: lower is more important.
    prio: usize,
    /// Estimated rendered chars, newline included; the gutter may be a little wider.
    chars: usize,
}

/// Head, tail and the omitted middle. Until the output overflows the budget everything after
/// the head stays in the tail, so an output that fits is shown whole.
#[derive(Debug, Default)]
struct Layout {
    budget: usize,
    head_cap: usize,
    tail_cap: usize,
    err_cap: usize,
    head: Vec<Item>,
    head_chars: usize,
    head_closed: bool,
    tail: VecDeque<Item>,
    tail_chars: usize,
    overflowed: bool,
    span: Option<Span>,
    errors: Vec<ErrLine>,
    err_chars: usize,
    err_dropped: u64,
}

impl Layout {
    fn add(&mut self, item: Item, policy: &OutputPolicy) {
        if !self.head_closed {
            if self.head_chars + item.chars <= self.head_cap {
                self.head_chars += item.chars;
                self.head.push(item);
                return;
            }
            // The head must be a prefix of the output, so once a line misses it, it is done.
            self.head_closed = true;
        }
        self.tail_chars += item.chars;
        self.tail.push_back(item);
        // The item counts include one joining newline too many, hence the `+ 1`.
        if self.head_chars + self.tail_chars > self.budget.saturating_add(1) {
            self.overflowed = true;
        }
        if self.overflowed {
            while self.tail_chars > self.tail_cap && self.tail.len() > 1 {
                self.pop_tail(policy);
            }
        }
    }

    /// Moves the first tail item into the omission; returns the chars freed.
    fn pop_tail(&mut self, policy: &OutputPolicy) -> usize {
        let Some(it) = self.tail.pop_front() else {
            return 0;
        };
        self.tail_chars -= it.chars;
        let freed = it.chars;
        self.omit(it, true, policy);
        freed
    }

    /// Omits a line from whichever of head and tail is further over its share.
    fn pop_balanced(&mut self, policy: &OutputPolicy) -> usize {
        let tail_heavier = self.head.is_empty() || self.tail_chars * HEAD_PERCENT >= self.head_chars * TAIL_PERCENT;
        if !self.tail.is_empty() && tail_heavier { self.pop_tail(policy) } else { self.pop_head(policy) }
    }

    /// Moves the last head item into the omission; returns the chars freed.
    fn pop_head(&mut self, policy: &OutputPolicy) -> usize {
        let Some(it) = self.head.pop() else {
            return 0;
        };
        self.head_chars -= it.chars;
        let freed = it.chars;
        self.omit(it, false, policy);
        freed
    }

    fn omit(&mut self, it: Item, at_end: bool, policy: &OutputPolicy) {
        match &mut self.span {
            None => {
                self.span = Some(Span {
                    first_line: it.first_line,
                    last_line: it.last_line,
                    offset: it.offset,
                    bytes: it.bytes,
                })
            }
            Some(sp) if at_end => {
                sp.last_line = it.last_line;
                sp.bytes += it.bytes;
            }
            Some(sp) => {
                sp.first_line = it.first_line;
                sp.offset = it.offset;
                sp.bytes += it.bytes;
            }
        }
        let body = it.text.get(..it.body_len).unwrap_or(&it.text);
        if let Some(prio) = policy.error_priority(body) {
            let text = clip_line(body, ERROR_LINE_CHARS).into_owned();
            let chars = digits(it.first_line) + 2 + text.chars().count() + 1;
            self.keep_error(ErrLine { line: it.first_line, text, prio, chars });
        }
    }

    /// Keeps the first error lines that fit; a more important line displaces the latest of
    /// the least important ones. Build errors cascade, so the first ones are the causes; the
    /// final summary is usually in the tail anyway.
    fn keep_error(&mut self, e: ErrLine) {
        loop {
            if self.err_chars + e.chars <= self.err_cap {
                let pos = self.errors.partition_point(|k| k.line < e.line);
                self.err_chars += e.chars;
                self.errors.insert(pos, e);
                return;
            }
            let victim = self
                .errors
                .iter()
                .enumerate()
                .filter(|(_, k)| k.prio > e.prio)
                .max_by_key(|(_, k)| (k.prio, k.line))
                .map(|(i, _)| i);
            match victim {
                Some(i) => {
                    let k = self.errors.remove(i);
                    self.err_chars -= k.chars;
                    self.err_dropped += 1;
                }
                None => {
                    self.err_dropped += 1;
                    return;
                }
            }
        }
    }

    /// Drops the least important, latest error line; returns the chars freed.
    fn drop_worst_error(&mut self) -> Option<usize> {
        let i = self.errors.iter().enumerate().max_by_key(|(_, k)| (k.prio, k.line)).map(|(i, _)| i)?;
        let k = self.errors.remove(i);
        self.err_chars -= k.chars;
        self.err_dropped += 1;
        Some(k.chars)
    }

    /// The marker line, then any error lines kept from the omitted part.
    fn marker_block(&self, rest: &dyn Fn(&Omission) -> String) -> Option<String> {
        let om = self.span?.omission();
        let range = if om.lines == 1 {
            format!("line {}", om.first_line)
        } else {
            format!("lines {}–{}", om.first_line, om.last_line)
        };
        let mut s = format!("[… {} ({}) omitted: {range}", plural(om.lines, "line"), human_bytes(om.bytes));
        let r = rest(&om);
        if !r.is_empty() {
            s.push_str(". ");
            s.push_str(&r);
        }
        s.push_str(" …]");
        let kept = self.errors.len();
        if kept > 0 {
            let _ = write!(s, "\n[{} from the omitted part match error patterns", plural(kept as u64, "line"));
            if self.err_dropped > 0 {
                let _ = write!(s, "; {} more not shown", self.err_dropped);
            }
            s.push_str(":]");
            let width = digits(self.errors.iter().map(|e| e.line).max().unwrap_or(0));
            for e in &self.errors {
                let _ = write!(s, "\n{:>width$}│ {}", e.line, e.text);
            }
        } else if self.err_dropped > 0 {
            let _ = write!(
                s,
                "\n[{} in the omitted part match error patterns; none fit here]",
                plural(self.err_dropped, "line")
            );
        }
        Some(s)
    }

    fn rendered_chars(&self, block: Option<&str>, note: Option<&str>) -> usize {
        let extra = |s: Option<&str>| s.map_or(0, |s| s.chars().count() + 1);
        (self.head_chars + self.tail_chars + extra(block) + extra(note)).saturating_sub(1)
    }

    fn render(&self, block: Option<&str>, note: Option<&str>) -> String {
        let mut out = String::new();
        let mut first = true;
        let mut add = |s: &str| {
            if !first {
                out.push('\n');
            }
            first = false;
            out.push_str(s);
        };
        self.head.iter().for_each(|it| add(&it.text));
        block.into_iter().for_each(&mut add);
        self.tail.iter().for_each(|it| add(&it.text));
        note.into_iter().for_each(&mut add);
        out
    }
}

/// The visible text of the current line, in bounded memory: the first `limit` chars and a
/// rolling window of the last chars, plus a count of everything.
#[derive(Debug)]
struct LineBuf {
    limit: usize,
    head: String,
    head_chars: usize,
    tail: String,
    tail_chars: usize,
    total: u64,
}

impl LineBuf {
    fn new(limit: usize) -> Self {
        Self { limit, head: String::new(), head_chars: 0, tail: String::new(), tail_chars: 0, total: 0 }
    }

    fn clear(&mut self) {
        self.head.clear();
        self.tail.clear();
        self.head_chars = 0;
        self.tail_chars = 0;
        self.total = 0;
    }

    fn push(&mut self, mut s: &str) {
        if self.head_chars < self.limit {
            let (end, n) = prefix_chars(s, self.limit - self.head_chars);
            let (now, later) = s.split_at_checked(end).unwrap_or((s, ""));
            self.head.push_str(now);
            self.head_chars += n;
            self.total += n as u64;
            s = later;
            if s.is_empty() {
                return;
            }
        }
        let n = s.chars().count();
        self.total += n as u64;
        if n >= self.limit {
            self.tail.clear();
            self.tail.push_str(suffix_chars(s, self.limit));
            self.tail_chars = self.limit;
        } else {
            self.tail.push_str(s);
            self.tail_chars += n;
            // Trimming only at twice the window keeps the work per char constant.
            if self.tail_chars > 2 * self.limit {
                let (cut, _) = prefix_chars(&self.tail, self.tail_chars - self.limit);
                self.tail.drain(..cut);
                self.tail_chars = self.limit;
            }
        }
    }

    /// The finished line, clipped if needed, and whether it was clipped.
    fn take(&mut self) -> (String, bool) {
        let out = if self.total <= self.limit as u64 {
            let mut s = std::mem::take(&mut self.head);
            s.push_str(&self.tail);
            (s, false)
        } else if self.total == (self.head_chars + self.tail_chars) as u64 {
            // Nothing was dropped yet, so the end may reach back into the head.
            let mut full = std::mem::take(&mut self.head);
            full.push_str(&self.tail);
            (clip_parts(&full, &full, self.total, self.limit), true)
        } else {
            (clip_parts(&self.head, &self.tail, self.total, self.limit), true)
        };
        self.clear();
        out
    }
}

/// `start` begins with the line's first chars, `end` ends with its last chars; together the
/// result is at most `limit` chars when `limit` exceeds the marker's length.
fn clip_parts(start: &str, end: &str, total: u64, limit: usize) -> String {
    let marker_len = |clipped: u64| clip_marker(clipped).chars().count();
    // The marker for `total` is at least as long as the real one, so this keep fits...
    let mut keep = limit.saturating_sub(marker_len(total));
    // ...but the real count may have fewer digits, and then one more char can be kept.
    let more = limit.saturating_sub(marker_len(total.saturating_sub(keep as u64)));
    if more > keep && marker_len(total.saturating_sub(more as u64)) + more <= limit {
        keep = more;
    }
    let head = keep.div_ceil(2);
    let tail = keep - head;
    let (cut, _) = prefix_chars(start, head);
    let clipped = total.saturating_sub((head + tail) as u64);
    let mut out = String::with_capacity(cut + 64 + tail * 4);
    out.push_str(start.get(..cut).unwrap_or(start));
    out.push_str(&clip_marker(clipped));
    out.push_str(suffix_chars(end, tail));
    out
}

fn clip_marker(clipped: u64) -> String {
    format!("…[{clipped} chars clipped]…")
}

/// Byte length and char count of the first `n` chars of `s` (or all of it).
fn prefix_chars(s: &str, n: usize) -> (usize, usize) {
    if s.len() <= n {
        return (s.len(), s.chars().count());
    }
    match s.char_indices().nth(n) {
        Some((i, _)) => (i, n),
        None => (s.len(), s.chars().count()),
    }
}

/// The last `n` chars of `s` (or all of it).
fn suffix_chars(s: &str, n: usize) -> &str {
    if n == 0 {
        return "";
    }
    match s.char_indices().rev().nth(n - 1) {
        Some((i, _)) => s.get(i..).unwrap_or(s),
        None => s,
    }
}

fn digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

fn plural(n: u64, word: &str) -> String {
    if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") }
}

/// A byte count the way every result shows it: 1 byte, 512 bytes, 3.4 KiB, 12.0 MiB, 1.5 GiB.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return plural(n, "byte");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// Bytes that end a run of plain text: ESC and the control characters a terminal would not
/// print. Tab, newline and `\r` pass; `\r` is resolved by the caller.
fn is_special(b: u8) -> bool {
    (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0x7f
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Seq {
    #[default]
    Text,
    /// After ESC.
    Esc,
    /// ESC followed by intermediate bytes, as in `ESC ( B`.
    EscInter,
    /// `ESC [` parameters and intermediates up to the final byte.
    Csi,
    /// OSC, DCS, SOS, PM or APC: a string up to BEL or `ESC \`.
    Str,
    /// ESC inside such a string.
    StrEsc,
}

/// A byte-level state machine over text, so it works across chunk boundaries. Every state
/// change happens at an ASCII byte, so the runs it emits are valid `str` slices.
#[derive(Debug, Default)]
struct AnsiStrip {
    state: Seq,
}

impl AnsiStrip {
    fn feed<'a>(&mut self, s: &'a str, mut emit: impl FnMut(&'a str)) {
        let b = s.as_bytes();
        let mut i = 0;
        while let Some(&c) = b.get(i) {
            match self.state {
                Seq::Text => {
                    let start = i;
                    while b.get(i).is_some_and(|&c| !is_special(c)) {
                        i += 1;
                    }
                    if i > start
                        && let Some(run) = s.get(start..i)
                    {
                        emit(run);
                    }
                    if let Some(&c) = b.get(i) {
                        if c == 0x1b {
                            self.state = Seq::Esc;
                        }
                        i += 1;
                    }
                }
                Seq::Esc => match c {
                    b'[' => {
                        self.state = Seq::Csi;
                        i += 1;
                    }
                    b']' | b'P' | b'X' | b'^' | b'_' => {
                        self.state = Seq::Str;
                        i += 1;
                    }
                    0x20..=0x2f => {
                        self.state = Seq::EscInter;
                        i += 1;
                    }
                    0x30..=0x7e => {
                        self.state = Seq::Text;
                        i += 1;
                    }
                    // Not a sequence after all: drop the ESC, keep the byte.
                    _ => self.state = Seq::Text,
                },
                Seq::EscInter => match c {
                    0x20..=0x2f => i += 1,
                    0x30..=0x7e => {
                        self.state = Seq::Text;
                        i += 1;
                    }
                    _ => self.state = Seq::Text,
                },
                Seq::Csi => match c {
                    0x20..=0x3f => i += 1,
                    0x40..=0x7e => {
                        self.state = Seq::Text;
                        i += 1;
                    }
                    // A malformed sequence ends at the first byte that cannot be part of it.
                    _ => self.state = Seq::Text,
                },
                Seq::Str => match c {
                    0x07 => {
                        self.state = Seq::Text;
                        i += 1;
                    }
                    0x1b => {
                        self.state = Seq::StrEsc;
                        i += 1;
                    }
                    // An unterminated string must not swallow the following lines.
                    b'\n' => self.state = Seq::Text,
                    _ => i += 1,
                },
                Seq::StrEsc => {
                    if c == b'\\' {
                        self.state = Seq::Text;
                        i += 1;
                    } else {
                        self.state = Seq::Esc;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rest(o: &Omission) -> String {
        format!("Rest: read_output(id=\"o7\", line={}, limit={})", o.first_line, o.lines)
    }

    fn cfg(max_chars: usize, max_line_chars: usize) -> OutputConfig {
        OutputConfig { max_chars, max_line_chars, ..OutputConfig::default() }
    }

    fn shape<'a>(policy: &OutputPolicy, budget: usize, chunks: impl Iterator<Item = &'a [u8]>) -> Shaped {
        let mut s = Shaper::with_budget(policy, budget);
        chunks.for_each(|c| s.push(c));
        s.finish(&rest)
    }

    /// A tiny deterministic PRNG (xorshift64*), so the tests need no crate and always see
    /// the same "random" splits.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    fn random_splits<'a>(input: &'a [u8], rng: &mut Rng) -> Vec<&'a [u8]> {
        let mut out = Vec::new();
        let mut rest = input;
        while !rest.is_empty() {
            let n = 1 + rng.below(rest.len().min(40));
            let (a, b) = rest.split_at(n);
            out.push(a);
            rest = b;
        }
        out
    }

    /// Raw (start, end) byte ranges of the input's lines, split on `\n`.
    fn raw_lines(input: &[u8]) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut start = 0;
        for (i, &b) in input.iter().enumerate() {
            if b == b'\n' {
                out.push((start, i + 1));
                start = i + 1;
            }
        }
        if start < input.len() {
            out.push((start, input.len()));
        }
        out
    }

    /// Shapes `input` whole and in many chunkings, checks that they all agree, that the
    /// invariants hold, and returns the result for further checks.
    fn shaped(input: &[u8], cfg: &OutputConfig) -> Shaped {
        let policy = OutputPolicy::new(cfg).expect("valid config");
        let budget = cfg.max_chars;
        let whole = shape(&policy, budget, std::iter::once(input));
        assert!(whole.text.chars().count() <= budget, "over budget: {whole:?}");
        let lines = raw_lines(input);
        assert_eq!(whole.total_lines, lines.len() as u64);
        assert_eq!(whole.total_bytes, input.len() as u64);
        if let Some(o) = whole.omitted {
            assert!(o.first_line >= 1 && o.first_line <= o.last_line);
            assert_eq!(o.lines, o.last_line - o.first_line + 1);
            let start = lines[o.first_line as usize - 1].0;
            let end = lines[o.last_line as usize - 1].1;
            assert_eq!(o.byte_offset, start as u64);
            assert_eq!(o.bytes, (end - start) as u64);
        }
        if input.len() <= 20_000 {
            for size in 1..=7 {
                let chunked = shape(&policy, budget, input.chunks(size));
                assert_eq!(chunked, whole, "chunk size {size}");
            }
        }
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ input.len() as u64);
        for _ in 0..3 {
            let chunks = random_splits(input, &mut rng);
            assert_eq!(shape(&policy, budget, chunks.into_iter()), whole, "random split");
        }
        whole
    }

    /// The one data-driven check: input, config, expected text.
    fn check(input: &[u8], cfg: &OutputConfig, expected: &str) -> Shaped {
        let s = shaped(input, cfg);
        assert_eq!(s.text, expected, "\n--- got ---\n{}\n---", s.text);
        s
    }

    fn numbered(n: usize) -> String {
        (1..=n).map(|i| format!("line {i}\n")).collect()
    }

    #[test]
    fn fits_in_budget_passes_through() {
        let c = OutputConfig::default();
        let s = check(b"hello\nworld\n", &c, "hello\nworld");
        assert!(!s.truncated());
        assert_eq!(s.omitted, None);
        check(b"a\nb", &c, "a\nb");
        check(b"", &c, "");
        check(b"\n", &c, "");
        check(b"a\n\nb\n\n", &c, "a\n\nb\n");
        check(b"tab\there\n", &c, "tab\there");
    }

    #[test]
    fn exactly_the_budget_fits() {
        // 10 lines of 6 chars + 9 newlines = 69 chars.
        let input = numbered(9) + "line10\n";
        let s = check(input.as_bytes(), &cfg(69, 1000), &input[..input.len() - 1]);
        assert_eq!(s.omitted, None);
    }

    #[test]
    fn head_and_tail_with_marker() {
        let input = numbered(100);
        let s = check(
            input.as_bytes(),
            &cfg(400, 1000),
            "line 1\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\nline 8\nline 9\nline 10\n\
             line 11\nline 12\nline 13\nline 14\n\
             [… 61 lines (488 bytes) omitted: lines 15–75. Rest: read_output(id=\"o7\", line=15, limit=61) …]\n\
             line 76\nline 77\nline 78\nline 79\nline 80\nline 81\n\
             line 82\nline 83\nline 84\nline 85\nline 86\nline 87\nline 88\nline 89\nline 90\n\
             line 91\nline 92\nline 93\nline 94\nline 95\nline 96\nline 97\nline 98\nline 99\nline 100",
        );
        assert!(s.truncated());
        assert_eq!(
            s.omitted,
            Some(Omission { first_line: 15, last_line: 75, lines: 61, bytes: 488, byte_offset: 103 })
        );
    }

    #[test]
    fn marker_without_rest_and_sizes() {
        let policy = OutputPolicy::new(&cfg(300, 1000)).unwrap();
        let mut s = Shaper::new(&policy);
        let input = "x".repeat(60) + "\n";
        for i in 0..2000 {
            s.push(format!("{i} {input}").as_bytes());
        }
        let out = s.finish(&|_| String::new());
        assert!(out.text.contains(" KiB) omitted: lines "), "{}", out.text);
        assert!(out.text.contains(" …]"));
        assert!(!out.text.contains(". "));
        assert_eq!(human_bytes(1023), "1023 bytes");
        assert_eq!(human_bytes(1), "1 byte");
        assert_eq!(human_bytes(58_060), "56.7 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }

    #[test]
    fn error_lines_from_the_middle_are_kept_with_line_numbers() {
        let mut input = numbered(200);
        input = input.replace("line 50\n", "error[E0308]: mismatched types\n");
        input = input.replace("line 120\n", "warning: unused variable\n");
        let s = check(
            input.as_bytes(),
            &cfg(1000, 1000),
            &[
                (1..=36).map(|i| format!("line {i}\n")).collect::<String>().as_str(),
                "[… 108 lines (948 bytes) omitted: lines 37–144. Rest: read_output(id=\"o7\", line=37, limit=108) …]\n",
                "[2 lines from the omitted part match error patterns:]\n",
                " 50│ error[E0308]: mismatched types\n",
                "120│ warning: unused variable\n",
                (145..=200).map(|i| format!("line {i}")).collect::<Vec<_>>().join("\n").as_str(),
            ]
            .concat(),
        );
        assert_eq!(s.kept_error_lines, 2);
        assert_eq!(s.dropped_error_lines, 0);
    }

    #[test]
    fn error_overflow_keeps_first_and_prefers_errors_over_warnings() {
        // 200 warnings, then 3 errors, all in the middle; the sub-budget holds only a few.
        let mut input = numbered(20);
        for i in 0..200 {
            input += &format!("warning: unused thing number {i}\n");
        }
        for i in 0..3 {
            input += &format!("error: failed {i}\n");
        }
        input += &numbered(300);
        let s = shaped(input.as_bytes(), &cfg(3000, 1000));
        let errors: Vec<&str> = s.text.lines().filter(|l| l.contains('│')).collect();
        assert!(errors.iter().any(|l| l.ends_with("error: failed 0")), "{}", s.text);
        assert!(errors.iter().any(|l| l.ends_with("error: failed 2")));
        // Warnings 0-22 made the head; the first ones after it are kept.
        assert!(errors.iter().any(|l| l.ends_with("warning: unused thing number 23")));
        assert!(!errors.iter().any(|l| l.ends_with("warning: unused thing number 199")));
        assert!(s.dropped_error_lines > 0);
        let note = format!("; {} more not shown:]", s.dropped_error_lines);
        assert!(s.text.contains(&note), "{}", s.text);
        assert_eq!(errors.len(), s.kept_error_lines);
        assert_eq!(s.kept_error_lines as u64 + s.dropped_error_lines, 203 - 23);
        // Raw line numbers: the first error is raw line 221.
        assert!(errors.contains(&"221│ error: failed 0"), "{errors:?}");
    }

    #[test]
    fn default_patterns_judgement() {
        let p = OutputPolicy::new(&OutputConfig::default()).unwrap();
        for hit in [
            "error: could not compile",
            "error[E0308]: mismatched types",
            "ERROR root: boom",
            "thread 'main' panicked at src/main.rs:1:1",
            "test foo ... FAILED",
            "--- FAIL: TestX",
            "Traceback (most recent call last):",
            "ValueError: bad",
            "java.lang.NullPointerException",
            "warning: unused",
            "fatal: not a git repository",
        ] {
            assert!(p.error_priority(hit).is_some(), "{hit}");
        }
        for miss in
            ["0 errors, 0 warnings", "cc -Werror main.c", "test result: ok. 3 passed; 0 failed", "writing to stderr"]
        {
            assert_eq!(p.error_priority(miss), None, "{miss}");
        }
        assert!(p.error_priority("error: x") < p.error_priority("warning: x"));
    }

    #[test]
    fn bad_pattern_is_named() {
        let c = OutputConfig { error_patterns: vec!["ok".into(), "bad(".into()], ..OutputConfig::default() };
        let e = OutputPolicy::new(&c).unwrap_err();
        assert!(e.contains("\"bad(\""), "{e}");
    }

    #[test]
    fn ansi_sequences_are_stripped() {
        let c = OutputConfig::default();
        check(b"\x1b[1;31mred\x1b[0m plain\n", &c, "red plain");
        check(b"\x1b]0;title\x07after\n", &c, "after");
        check(b"\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\\n", &c, "link");
        check(b"\x1b(Bx\x1b=y\x1b7z\n", &c, "xyz");
        check(b"bell\x07 nul\x00 del\x7f\n", &c, "bell nul del");
        // An unterminated OSC or a stray ESC ends with its line.
        check(b"a\x1b]0;never ends\nnext\n", &c, "a\nnext");
        check(b"a\x1b\nb\n", &c, "a\nb");
        // A malformed CSI ends at the first byte that cannot belong to it.
        check("x\x1b[12é\n".as_bytes(), &c, "xé");
        assert_eq!(strip_ansi("\x1b[32mok\x1b[0m\n"), "ok\n");
        assert!(matches!(strip_ansi("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn carriage_returns_keep_the_final_state() {
        let c = OutputConfig::default();
        check(b"10%\r50%\r100%\ndone\r\n", &c, "100%\ndone");
        check(b"abc\r", &c, "abc");
        check(b"abc\r\r\n", &c, "abc");
        check(b"abc\rxy\n", &c, "xy");
        check(b"a\r\nb\r\n", &c, "a\nb");
        check(b"old\r\x1b[2Knew\n", &c, "new");
        check(b"x\r\x1b[K\n", &c, "x");
    }

    #[test]
    fn repeated_lines_fold() {
        let c = OutputConfig::default();
        check(
            b"start\nsame\nsame\nsame\nsame\nend\n",
            &c,
            "start\nsame\n… the line above repeated 3 more times (lines 3–5)\nend",
        );
        check(b"a\na\nb\n", &c, "a\na\nb");
        // Identical after cleaning counts as identical.
        check(b"\x1b[1mx\x1b[0m\nx\r\nx\n", &c, "x\n… the line above repeated 2 more times (lines 2–3)");
        let many = "tick\n".repeat(100_000);
        let s = check(
            many.as_bytes(),
            &cfg(200, 1000),
            "tick\n… the line above repeated 99999 more times (lines 2–100000)",
        );
        assert_eq!(s.total_lines, 100_000);
    }

    #[test]
    fn long_lines_are_clipped_in_the_middle() {
        let line: String = ('a'..='z').cycle().take(100).collect();
        let s = check(
            format!("{line}\nshort\n").as_bytes(),
            &cfg(20_000, 40),
            "abcdefghij…[80 chars clipped]…mnopqrstuv\nshort",
        );
        assert_eq!(s.clipped_lines, 1);
        assert!(s.truncated());
        assert!(s.text.lines().next().unwrap().chars().count() <= 40);
        assert_eq!(clip_line(&line, 40), "abcdefghij…[80 chars clipped]…mnopqrstuv");
        assert_eq!(clip_line("short", 40), "short");
        // Just over the limit: the end comes from what would otherwise be the head.
        let s = check(
            ("0123456789".repeat(4) + "abcde").as_bytes(),
            &cfg(20_000, 40),
            "0123456789…[25 chars clipped]…56789abcde",
        );
        assert_eq!(s.total_lines, 1);
    }

    #[test]
    fn huge_single_line_without_newline() {
        let policy = OutputPolicy::new(&OutputConfig::default()).unwrap();
        let mut s = Shaper::new(&policy);
        s.push(b"START");
        let chunk = vec![b'x'; 1 << 20];
        let mut peak = 0;
        for _ in 0..20 {
            s.push(&chunk);
            peak = peak.max(s.retained_bytes());
        }
        s.push(b"END");
        assert!(peak < 16 * 1024, "retained {peak}");
        let out = s.finish(&rest);
        assert_eq!(out.total_lines, 1);
        assert_eq!(out.total_bytes, 20 * (1 << 20) + 8);
        assert!(out.text.starts_with("STARTxxx"));
        assert!(out.text.ends_with("xxxEND"));
        assert!(out.text.contains("…[20970554 chars clipped]…"), "{}", &out.text[490..530]);
        assert_eq!(out.text.chars().count(), 1000);
        assert_eq!(out.omitted, None);
    }

    #[test]
    fn many_lines_keep_memory_bounded() {
        // No error patterns: debug builds of the regex crate take ~2 ms per 1000-char line,
        // and this test is about memory; error matching has its own tests.
        let c = OutputConfig { error_patterns: vec![], ..OutputConfig::default() };
        let policy = OutputPolicy::new(&c).unwrap();
        let mut s = Shaper::new(&policy);
        let mut block = String::new();
        for i in 0..10 {
            block += &format!("{i} {}\n", "y".repeat(1990));
        }
        let mut total = 0;
        let mut peak = 0;
        while total < 20 << 20 {
            s.push(block.as_bytes());
            total += block.len();
            peak = peak.max(s.retained_bytes());
        }
        let out = s.finish(&rest);
        assert!(peak < 200 * 1024, "retained {peak}");
        assert!(out.text.chars().count() <= 20_000);
        let o = out.omitted.unwrap();
        assert_eq!(out.total_bytes, total as u64);
        // Every line is 1993 bytes, so offsets follow from line numbers.
        assert_eq!(o.byte_offset, (o.first_line - 1) * 1993);
        assert_eq!(o.bytes, o.lines * 1993);
        assert!(o.last_line < out.total_lines);
        assert!(out.text.ends_with(&"y".repeat(400)));
    }

    #[test]
    fn utf8_is_never_split() {
        let c = OutputConfig::default();
        check("héllo wörld €𝄞\n".as_bytes(), &c, "héllo wörld €𝄞");
        // Clipping and budget cuts count chars, never bytes.
        let line = "é".repeat(100);
        let s = check(line.as_bytes(), &cfg(20_000, 40), &clip_line(&line, 40));
        assert!(s.text.starts_with("éééé"));
        let many: String = (0..300).map(|i| format!("ü{i}€\n")).collect();
        for budget in [0, 1, 5, 37, 120, 333, 500] {
            shaped(many.as_bytes(), &cfg(budget, 1000));
        }
    }

    #[test]
    fn invalid_utf8_is_shown_lossily_and_noted_once() {
        let c = OutputConfig::default();
        let input = b"ok\xff\xfe\nhalf \xe2\x82\nend \xf0\x9f";
        let s = check(input, &c, &format!("{}\n{INVALID_UTF8_NOTE}", String::from_utf8_lossy(input)));
        assert!(s.invalid_utf8);
        assert_eq!(s.text.matches("not valid UTF-8").count(), 1);
        check(b"\xe2\x82x\n", &c, &format!("\u{FFFD}x\n{INVALID_UTF8_NOTE}"));
    }

    #[test]
    fn any_chunking_gives_the_same_result() {
        let pieces: &[&[u8]] = &[
            b"plain text ",
            b"\n",
            b"\r\n",
            b"\r",
            b"\x1b[31m",
            b"\x1b]0;t\x07",
            b"\x1b",
            "é€𝄞".as_bytes(),
            b"\xff",
            b"\xe2\x82",
            b"error: boom",
            b"same\nsame\nsame\n",
            b"0123456789012345678901234567890123456789",
        ];
        let mut rng = Rng(42);
        for round in 0..40 {
            let mut input = Vec::new();
            for _ in 0..rng.below(300) {
                input.extend_from_slice(pieces[rng.below(pieces.len())]);
            }
            let budget = [0, 30, 150, 400, 2_000, 20_000][round % 6];
            shaped(&input, &cfg(budget, 40 + round));
        }
    }

    #[test]
    fn omission_bytes_are_exact_with_crlf_and_escapes() {
        let mut input = Vec::new();
        for i in 0..300 {
            input.extend_from_slice(format!("\x1b[2m{i}\x1b[0m row\r\n").as_bytes());
            if i % 7 == 0 {
                input.extend_from_slice(b"dup\ndup\ndup\ndup\n");
            }
        }
        let s = shaped(&input, &cfg(600, 1000));
        let o = s.omitted.unwrap();
        let part = &input[o.byte_offset as usize..(o.byte_offset + o.bytes) as usize];
        assert_eq!(part.iter().filter(|&&b| b == b'\n').count() as u64, o.lines);
        assert!(part.ends_with(b"\n"));
    }

    #[test]
    fn tiny_budgets_never_overflow() {
        let input = numbered(50) + "error: x\n" + &numbered(50);
        for budget in (0..80).step_by(2) {
            let s = shaped(input.as_bytes(), &cfg(budget, 1000));
            assert!(s.truncated());
        }
    }

    #[test]
    fn extreme_budgets_do_not_overflow() {
        let c = cfg(usize::MAX, usize::MAX);
        let s = check(b"a\nb\n", &c, "a\nb");
        assert!(!s.truncated());
        assert_eq!(clip_line("abcdef", usize::MAX), "abcdef");
        assert_eq!(clip_line("abcdef", 0), "…[6 chars clipped]…");
    }

    #[test]
    fn invalid_note_counts_against_the_budget() {
        // Fits without the note, not with it: a line gives way to the marker.
        let mut input: Vec<u8> = (0..50).flat_map(|i| format!("row {i:02}\n").into_bytes()).collect();
        input.extend_from_slice(b"\xff\n");
        let s = shaped(&input, &cfg(400, 1000));
        assert!(s.omitted.is_some());
        assert!(s.text.ends_with(INVALID_UTF8_NOTE));
    }
}
