//! Applies a model's `edit_file` edits to a file's text in memory (the diff of the result is `crate::diff`'s).
//!
//! This module owns the matching rules for `old_string`, the re-basing of `new_string` onto the file's indentation,
//! the handling of line endings, byte-order marks and the final newline, and the wording of every refusal. It is
//! pure: no I/O, no global state, and no input makes it panic. Every refusal is an [`EditError`] whose message
//! names the edit ("edit 2 of 3: …") and says what to change, because the reader is a model that must fix its call.
//!
//! # Matching
//!
//! Edits apply in order, each to the text left by the previous one, and all or nothing. For each edit:
//!
//! 1. **Exact**: `old_string` is searched as a substring. One occurrence (or any number with `replace_all`) is
//!    replaced; several without `replace_all` is an ambiguity error.
//! 2. If there is no exact occurrence, whole-line fallbacks are tried in turn. `old_string` is split into lines
//!    (one trailing `\n` is dropped first) and compared line by line with every window of as many file lines, after
//!    normalising both sides: **(a) TrailingWhitespace** strips trailing whitespace; **(b) Indentation** strips leading
//!    and trailing whitespace; **(c) Punctuation** does (b) after the punctuation table below. The first fallback that
//!    finds any window decides: one window (or any number with `replace_all`) is used, several is an ambiguity error.
//!    A fallback needs at least one non-blank line in `old_string`. The matched region is the whole lines, plus the
//!    last line's `\n` when `old_string` ended with `\n`.
//!
//! Punctuation table for (c), applied to both sides: `‘ ’ ‚ ‛ ′` → `'`; `“ ” „ ‟ ″` → `"`; `‐ ‑ ‒ – — ― −` → `-`;
//! U+00A0, U+2000–U+200A, U+202F, U+205F, U+3000 → space; `…` → `...`; U+200B, U+2060, U+FEFF → removed. The
//! normalisation only decides the match: the file keeps its characters and `new_string` is inserted as sent.
//!
//! # Re-basing (fallbacks (b) and (c) only)
//!
//! For each non-blank `old_string` line, compare its leading whitespace `m` with the matched file line's `f`. If
//! `f = m + P` for the same `P` on every such line, `P` is prepended to every non-blank line of `new_string`; if
//! `m = f + P` for the same `P`, `P` is removed from the start of every non-blank line of `new_string` (if one of them
//! does not start with `P`, `new_string` goes in as sent). Otherwise (tabs against spaces, or differing offsets),
//! one more rule: when the first `old_string` line has no indentation but the file line has some, the first line is
//! taken as copied from mid-line: the file's indentation of that line is kept, the first line of `new_string` goes in
//! after it as sent, and the rule above is applied to the remaining lines. If that fails too, `new_string` is
//! inserted exactly as sent. [`Applied::rebased`] is the number of whitespace characters added (positive) or removed
//! (negative) per line, or `None` when nothing was re-based.
//!
//! # Line endings, BOM, final newline
//!
//! A leading BOM is stripped before matching and restored after. A file whose every line break is CRLF is edited as
//! LF and converted back; other files (LF or mixed) are edited as they are. CRLF in `old_string`/`new_string` is
//! always read as LF. The result ends with a newline exactly when the original did (an empty result stays empty),
//! so an edit that replaces the last line with text that ends differently gets the file's convention back; changing
//! the final newline itself takes `write_file`.
//!
//! # Refusals
//!
//! Messages read `edit N of M: …` and end with `No edits were applied (edits are all-or-nothing).`; line numbers in
//! them count in the text as left by the earlier edits of the call. A no-match shows the most similar window of file
//! lines (as many lines as `old_string`; windows ranked by bigram fingerprints, the best 16 re-scored by character
//! edit distance), and a second non-overlapping window when it scores within 3 points, as a line diff that elides
//! lines equal under (c): at most 10 lines for the first and 5 for the second. An ambiguity lists up to 10 matching
//! lines with their text, then a count of the rest.

use std::borrow::Cow;
use std::fmt;

/// One `{old_string, new_string, replace_all}` entry of an `edit_file` call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Edit {
    pub old_string: String,
    pub new_string: String,
    pub replace_all: bool,
}

impl Edit {
    /// An edit that must match exactly one place.
    #[cfg(test)]
    pub(crate) fn new(old_string: impl Into<String>, new_string: impl Into<String>) -> Self {
        Edit { old_string: old_string.into(), new_string: new_string.into(), replace_all: false }
    }
}

/// Which matching rule found `old_string`; the later ones are more lenient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strategy {
    Exact,
    TrailingWhitespace,
    Indentation,
    Punctuation,
}

impl Strategy {
    /// The stable name used in results: `exact`, `trailing-whitespace`, `indentation` or `punctuation`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Strategy::Exact => "exact",
            Strategy::TrailingWhitespace => "trailing-whitespace",
            Strategy::Indentation => "indentation",
            Strategy::Punctuation => "punctuation",
        }
    }

    fn how(self) -> &'static str {
        match self {
            Strategy::Exact => "exactly",
            Strategy::TrailingWhitespace => "when trailing whitespace is ignored",
            Strategy::Indentation => "when indentation and trailing whitespace are ignored",
            Strategy::Punctuation => "when whitespace and Unicode punctuation are normalised",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const FALLBACKS: [Strategy; 3] = [Strategy::TrailingWhitespace, Strategy::Indentation, Strategy::Punctuation];

/// What one edit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Applied {
    pub strategy: Strategy,
    pub replacements: usize,
    /// First line (1-based) of the replaced text in the final text returned by [`apply_edits`]. Ranges follow later
    /// edits that move the text, and widen to cover a later edit that rewrites part of it.
    pub first_line: usize,
    /// Last line (1-based, inclusive). A pure deletion reports the line now at the deletion point for both.
    pub last_line: usize,
    /// Indentation delta applied to `new_string`, in whitespace characters per line; see the module docs.
    pub rebased: Option<i64>,
}

/// The edited text and one [`Applied`] per edit, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EditOutcome {
    pub text: String,
    pub applied: Vec<Applied>,
}

/// Why an `edit_file` call was refused; nothing was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EditError {
    /// The failing edit, 0-based (the message counts from 1).
    pub edit_index: usize,
    pub kind: EditErrorKind,
    /// The full text for the model, including the closest-region diff or the list of matches.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum EditErrorKind {
    /// The 1-based line where the most similar region starts, when one is similar enough to show.
    NoMatch(Option<usize>),
    /// The 1-based line of each match (a line appears once per match on it).
    Ambiguous(Vec<usize>),
    EmptyOld,
    NoChange,
}

impl fmt::Display for EditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EditError {}

/// Applies `edits` in order to `text`, all or nothing.
pub(crate) fn apply_edits(text: &str, edits: &[Edit]) -> Result<EditOutcome, EditError> {
    let (bom, body) = match text.strip_prefix('\u{feff}') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let crlf = all_crlf(body);
    let mut current = if crlf { body.replace("\r\n", "\n") } else { body.to_string() };
    let ended_with_newline = current.ends_with('\n');

    let mut applied = Vec::with_capacity(edits.len());
    // Byte spans of each edit's replaced text in `current`, kept up to date as later edits move text around, so
    // that line numbers can be computed once against the final text.
    let mut spans: Vec<(usize, usize)> = Vec::with_capacity(edits.len());
    for (index, edit) in edits.iter().enumerate() {
        let fail = |kind: EditErrorKind, detail: String| EditError {
            edit_index: index,
            message: error_message(
                index,
                edits.len(),
                &detail,
                matches!(kind, EditErrorKind::NoMatch(_) | EditErrorKind::Ambiguous(_)),
            ),
            kind,
        };
        let old = lf_only(&edit.old_string);
        let new = lf_only(&edit.new_string);
        if old.is_empty() {
            return Err(fail(
                EditErrorKind::EmptyOld,
                "old_string is empty. To create a file or replace all of its content, use write_file; to insert \
                 text, put a neighbouring line in old_string and repeat it in new_string next to the insertion."
                    .to_string(),
            ));
        }
        if old == new {
            return Err(fail(
                EditErrorKind::NoChange,
                "old_string and new_string are identical, so this edit would change nothing. Remove it, or put \
                 the intended new text in new_string."
                    .to_string(),
            ));
        }
        let plan = plan_edit(&current, &old, &new, edit.replace_all).map_err(|f| fail(f.kind, f.detail))?;
        let (next, span) = splice(&current, &plan.replacements);
        for earlier in &mut spans {
            *earlier = (
                map_pos(earlier.0, &plan.replacements, Snap::Start),
                map_pos(earlier.1, &plan.replacements, Snap::End),
            );
        }
        spans.push(span);
        applied.push(Applied {
            strategy: plan.strategy,
            replacements: plan.replacements.len(),
            first_line: 0,
            last_line: 0,
            rebased: plan.rebased,
        });
        current = next;
    }

    if !current.is_empty() {
        if ended_with_newline && !current.ends_with('\n') {
            current.push('\n');
        } else if !ended_with_newline && current.ends_with('\n') {
            current.pop();
        }
    }

    let lines = LineIndex::new(&current);
    let last = lines.len().max(1);
    for (entry, &(start, end)) in applied.iter_mut().zip(&spans) {
        let end = end.min(current.len());
        let start = start.min(end);
        entry.first_line = lines.line_of(start).clamp(1, last);
        entry.last_line =
            if end > start { lines.line_of(end - 1).clamp(entry.first_line, last) } else { entry.first_line };
    }

    let mut out = String::with_capacity(text.len() + current.len() / 8 + 4);
    if bom {
        out.push('\u{feff}');
    }
    if crlf {
        out.push_str(&current.replace('\n', "\r\n"));
    } else {
        out.push_str(&current);
    }
    Ok(EditOutcome { text: out, applied })
}

/// True when the text has line breaks and every one of them is CRLF; only then is a round trip through LF lossless.
fn all_crlf(text: &str) -> bool {
    // Searching for '\n' uses the standard library's memchr, which stays fast in debug builds; a byte loop does not.
    let mut breaks = text.match_indices('\n').map(|(i, _)| i).peekable();
    breaks.peek().is_some() && breaks.all(|i| i > 0 && text.as_bytes()[i - 1] == b'\r')
}

fn lf_only(s: &str) -> Cow<'_, str> {
    if s.contains("\r\n") { Cow::Owned(s.replace("\r\n", "\n")) } else { Cow::Borrowed(s) }
}

fn error_message(index: usize, total: usize, detail: &str, has_line_numbers: bool) -> String {
    // Earlier edits of the same call have already moved lines by the time this one is matched.
    let renumbered = if index > 0 && has_line_numbers {
        "Line numbers refer to the text as changed by the earlier edits of this call.\n"
    } else {
        ""
    };
    format!(
        "edit {} of {}: {}\n{}No edits were applied (edits are all-or-nothing).",
        index + 1,
        total,
        detail,
        renumbered
    )
}

/// One planned replacement of `text[start..end]`, in the coordinates of the text the edit applies to.
struct Replacement {
    start: usize,
    end: usize,
    text: String,
}

struct Plan {
    strategy: Strategy,
    /// Sorted and non-overlapping.
    replacements: Vec<Replacement>,
    rebased: Option<i64>,
}

struct Failure {
    kind: EditErrorKind,
    detail: String,
}

fn plan_edit(text: &str, old: &str, new: &str, replace_all: bool) -> Result<Plan, Failure> {
    let positions = exact_positions(text, old);
    if !positions.is_empty() {
        if positions.len() > 1 && !replace_all {
            let lines = LineIndex::new(text);
            let at: Vec<usize> = positions.iter().map(|&p| lines.line_of(p)).collect();
            return Err(ambiguous(&lines, Strategy::Exact, at));
        }
        let mut replacements: Vec<Replacement> = Vec::new();
        for p in positions {
            if replacements.last().is_none_or(|r| p >= r.end) {
                replacements.push(Replacement { start: p, end: p + old.len(), text: new.to_string() });
            }
        }
        return Ok(Plan { strategy: Strategy::Exact, replacements, rebased: None });
    }

    let lines = LineIndex::new(text);
    let shape = OldShape::new(old);
    for strategy in FALLBACKS {
        let starts = window_matches(&lines, &shape, strategy);
        if starts.is_empty() {
            continue;
        }
        if starts.len() > 1 && !replace_all {
            return Err(ambiguous(&lines, strategy, starts.iter().map(|s| s + 1).collect()));
        }
        let mut replacements: Vec<Replacement> = Vec::new();
        let mut rebased = None;
        let mut free_from = 0;
        for s in starts {
            if s < free_from {
                continue;
            }
            free_from = s + shape.lines.len();
            let (replacement, delta) = line_replacement(&lines, &shape, s, new, strategy);
            rebased = rebased.or(delta);
            replacements.push(replacement);
        }
        return Ok(Plan { strategy, replacements, rebased });
    }
    Err(no_match(&lines, &shape))
}

/// Every start of `needle` in `text`, overlapping ones included, so that "aa" in "aaa" counts as ambiguous.
fn exact_positions(text: &str, needle: &str) -> Vec<usize> {
    let step = needle.chars().next().map_or(1, char::len_utf8);
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(offset) = text.get(from..).and_then(|rest| rest.find(needle)) {
        found.push(from + offset);
        from += offset + step;
    }
    found
}

/// Builds the edit's text and the byte span its replacements occupy in it.
fn splice(text: &str, replacements: &[Replacement]) -> (String, (usize, usize)) {
    let mut out = String::with_capacity(text.len() + replacements.iter().map(|r| r.text.len()).sum::<usize>());
    let mut copied = 0;
    let mut span = (0, 0);
    for (k, r) in replacements.iter().enumerate() {
        out.push_str(text.get(copied..r.start).unwrap_or(""));
        if k == 0 {
            span.0 = out.len();
        }
        out.push_str(&r.text);
        span.1 = out.len();
        copied = r.end;
    }
    out.push_str(text.get(copied..).unwrap_or(""));
    (out, span)
}

/// Which end of a replacement a position inside the replaced range moves to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Snap {
    Start,
    End,
}

/// Where byte `pos` of the old text lands after `replacements`; a position inside a replaced range snaps to the
/// replacement's start or end, so an earlier edit's span grows to cover a later edit that overlaps it.
fn map_pos(pos: usize, replacements: &[Replacement], snap: Snap) -> usize {
    let mut shift: isize = 0;
    for r in replacements {
        if pos <= r.start {
            break;
        }
        if pos < r.end {
            let base = (r.start as isize + shift) as usize;
            return if snap == Snap::End { base + r.text.len() } else { base };
        }
        shift += r.text.len() as isize - (r.end - r.start) as isize;
    }
    (pos as isize + shift).max(0) as usize
}

/// Line starts of a text, where a final `\n` ends the last line rather than starting an empty one.
struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(text: &'a str) -> Self {
        let mut starts = Vec::with_capacity(text.len() / 32 + 1);
        if !text.is_empty() {
            starts.push(0);
        }
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1).filter(|&start| start < text.len()));
        LineIndex { text, starts }
    }

    fn len(&self) -> usize {
        self.starts.len()
    }

    fn content_end(&self, i: usize) -> usize {
        match self.starts.get(i + 1) {
            Some(&next) => next - 1,
            None if self.text.ends_with('\n') => self.text.len() - 1,
            None => self.text.len(),
        }
    }

    /// Line `i` (0-based) without its `\n`.
    fn content(&self, i: usize) -> &'a str {
        let start = self.starts.get(i).copied().unwrap_or(self.text.len());
        self.text.get(start..self.content_end(i).max(start)).unwrap_or("")
    }

    fn has_terminator(&self, i: usize) -> bool {
        self.content_end(i) < self.text.len()
    }

    /// The 1-based line holding byte `pos`.
    fn line_of(&self, pos: usize) -> usize {
        self.starts.partition_point(|&s| s <= pos).max(1)
    }
}

/// `old_string` split for whole-line matching.
struct OldShape<'a> {
    lines: Vec<&'a str>,
    /// Whether `old_string` ended with `\n`, which then belongs to the matched region.
    newline: bool,
}

impl<'a> OldShape<'a> {
    fn new(old: &'a str) -> Self {
        let (body, newline) = match old.strip_suffix('\n') {
            Some(body) => (body, true),
            None => (old, false),
        };
        OldShape { lines: body.split('\n').collect(), newline }
    }
}

/// The comparison key of one line under a fallback strategy.
fn line_key(strategy: Strategy, line: &str) -> Cow<'_, str> {
    match strategy {
        Strategy::Exact => Cow::Borrowed(line),
        Strategy::TrailingWhitespace => Cow::Borrowed(line.trim_end()),
        Strategy::Indentation => Cow::Borrowed(line.trim()),
        Strategy::Punctuation => match normalise_punctuation(line) {
            Cow::Borrowed(s) => Cow::Borrowed(s.trim()),
            Cow::Owned(s) => Cow::Owned(s.trim().to_string()),
        },
    }
}

fn punctuation_replacement(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' => "'",
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' => "\"",
        '\u{2010}'..='\u{2015}' | '\u{2212}' => "-",
        '\u{00A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => " ",
        '\u{2026}' => "...",
        '\u{200B}' | '\u{2060}' | '\u{FEFF}' => "",
        _ => return None,
    })
}

/// Applies the punctuation table of the module docs; ASCII lines, the vast majority, are borrowed untouched.
fn normalise_punctuation(line: &str) -> Cow<'_, str> {
    if line.is_ascii() || !line.chars().any(|c| punctuation_replacement(c).is_some()) {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        match punctuation_replacement(c) {
            Some(r) => out.push_str(r),
            None => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// 0-based starts of every window of file lines equal to `old_string`'s lines under `strategy`.
fn window_matches(lines: &LineIndex, shape: &OldShape, strategy: Strategy) -> Vec<usize> {
    let n = shape.lines.len();
    let total = lines.len();
    let want: Vec<Cow<str>> = shape.lines.iter().map(|l| line_key(strategy, l)).collect();
    // A blank old_string would match every blank line, which is never what the model meant.
    if n == 0 || n > total || want.iter().all(|w| w.trim().is_empty()) {
        return Vec::new();
    }
    let have: Vec<Cow<str>> = (0..total).map(|i| line_key(strategy, lines.content(i))).collect();
    (0..=total - n).filter(|&s| want.iter().zip(&have[s..s + n]).all(|(w, h)| w == h)).collect()
}

fn leading_ws(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

/// How to move `new_string`'s lines to the file's indentation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shift<'a> {
    Keep,
    Add(&'a str),
    Remove(&'a str),
}

impl Shift<'_> {
    fn delta(self) -> Option<i64> {
        match self {
            Shift::Keep => None,
            Shift::Add(p) => Some(p.chars().count() as i64),
            Shift::Remove(p) => Some(-(p.chars().count() as i64)),
        }
    }
}

/// The single shift that turns every non-blank model line's indentation into its file line's, if there is one.
fn uniform_shift<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Option<Shift<'a>> {
    let mut found = None;
    for (model, file) in pairs {
        if model.trim().is_empty() {
            continue;
        }
        let (m, f) = (leading_ws(model), leading_ws(file));
        let shift = if let Some(extra) = f.strip_prefix(m) {
            if extra.is_empty() { Shift::Keep } else { Shift::Add(extra) }
        } else if let Some(extra) = m.strip_prefix(f) {
            Shift::Remove(extra)
        } else {
            return None;
        };
        match found {
            None => found = Some(shift),
            Some(previous) if previous == shift => {}
            Some(_) => return None,
        }
    }
    Some(found.unwrap_or(Shift::Keep))
}

/// Whether the first line of `new_string` is re-based with the others, or goes in as sent (copied from mid-line).
#[derive(Clone, Copy, PartialEq, Eq)]
enum FirstLine {
    Shifted,
    AsSent,
}

/// `new_string` with `shift` applied to its non-blank lines (the first one left alone with `FirstLine::AsSent`), or `None`
/// when a line to de-indent does not carry the indentation to remove.
fn apply_shift(new: &str, shift: Shift, first: FirstLine) -> Option<String> {
    let mut out = String::with_capacity(new.len() + 16);
    for (k, line) in new.split('\n').enumerate() {
        if k > 0 {
            out.push('\n');
        }
        if (k == 0 && first == FirstLine::AsSent) || line.trim().is_empty() {
            out.push_str(line);
            continue;
        }
        match shift {
            Shift::Keep => out.push_str(line),
            Shift::Add(prefix) => {
                out.push_str(prefix);
                out.push_str(line);
            }
            Shift::Remove(prefix) => out.push_str(line.strip_prefix(prefix)?),
        }
    }
    Some(out)
}

/// The replacement for a fallback match of `shape` at file line `s`, and the indentation delta it applied.
fn line_replacement(
    lines: &LineIndex,
    shape: &OldShape,
    s: usize,
    new: &str,
    strategy: Strategy,
) -> (Replacement, Option<i64>) {
    let last = s + shape.lines.len() - 1;
    let mut start = lines.starts.get(s).copied().unwrap_or(0);
    let mut end = lines.content_end(last);
    if shape.newline && lines.has_terminator(last) {
        end += 1;
    }
    let as_sent = |start| (Replacement { start, end, text: new.to_string() }, None);
    if strategy == Strategy::TrailingWhitespace {
        // Leading whitespace matched exactly, so new_string is already at the file's indentation.
        return as_sent(start);
    }
    let file_lines: Vec<&str> = (s..=last).map(|i| lines.content(i)).collect();
    let pairs = || shape.lines.iter().copied().zip(file_lines.iter().copied());
    if let Some(shift) = uniform_shift(pairs()) {
        return match apply_shift(new, shift, FirstLine::Shifted) {
            Some(text) => (Replacement { start, end, text }, shift.delta()),
            None => as_sent(start),
        };
    }
    let first_model = shape.lines[0];
    let first_indent = leading_ws(file_lines[0]).len();
    if !first_model.trim().is_empty() && leading_ws(first_model).is_empty() && first_indent > 0 {
        // The model copied old_string starting after the first line's indentation, as an exact match may.
        if let Some(shift) = uniform_shift(pairs().skip(1))
            && let Some(text) = apply_shift(new, shift, FirstLine::AsSent)
        {
            start += first_indent;
            return (Replacement { start, end, text }, shift.delta());
        }
    }
    as_sent(start)
}

/// The ladder for whole-line hunks (apply_patch): every 0-based start in `file[from..]` of a window of lines equal
/// to `want`, under the first of exact, trailing-whitespace, indentation and punctuation that finds any.
pub(crate) fn seek_lines(file: &[&str], from: usize, want: &[&str]) -> Option<(Strategy, Vec<usize>)> {
    let n = want.len();
    if n == 0 || from + n > file.len() {
        return None;
    }
    for strategy in [Strategy::Exact, Strategy::TrailingWhitespace, Strategy::Indentation, Strategy::Punctuation] {
        // A blank hunk would match every blank line under a fallback.
        if strategy != Strategy::Exact && want.iter().all(|w| w.trim().is_empty()) {
            return None;
        }
        let keys: Vec<Cow<str>> = want.iter().map(|l| line_key(strategy, l)).collect();
        let starts: Vec<usize> = (from..=file.len() - n)
            .filter(|&s| keys.iter().zip(&file[s..s + n]).all(|(k, f)| *k == line_key(strategy, f)))
            .collect();
        if !starts.is_empty() {
            return Some((strategy, starts));
        }
    }
    None
}

/// `new` re-based from `old`'s indentation onto `found`'s (the file lines `old` matched), as edit_file does for
/// an indentation or punctuation match; unchanged when no single shift fits.
pub(crate) fn rebase_lines(old: &[&str], found: &[&str], new: &[String]) -> Vec<String> {
    let Some(shift) = uniform_shift(old.iter().copied().zip(found.iter().copied())) else { return new.to_vec() };
    match apply_shift(&new.join("\n"), shift, FirstLine::Shifted) {
        Some(text) if !new.is_empty() => text.split('\n').map(str::to_string).collect(),
        _ => new.to_vec(),
    }
}

/// The file's lines most like `want`, as a line diff (`-` the hunk, `+` the file), for a hunk that matched nowhere.
pub(crate) fn closest_lines(text: &str, want: &[&str]) -> String {
    let old = want.join("\n");
    let lines = LineIndex::new(text);
    let shape = OldShape::new(&old);
    let regions = closest_regions(&lines, &shape);
    let Some(&(start, score)) = regions.first() else {
        return "Nothing in the file resembles these lines; re-read the file.".into();
    };
    let mut out = format!(
        "Closest lines: {}-{} ({}% similar); `-` is the patch, `+` is the file:\n",
        start + 1,
        (start + want.len()).min(lines.len()),
        (score * 100.0).round()
    );
    render_region(&mut out, &lines, &shape, start, 10);
    out
}

const MAX_LISTED: usize = 10;

fn ambiguous(lines: &LineIndex, strategy: Strategy, at: Vec<usize>) -> Failure {
    let mut detail = if strategy == Strategy::Exact {
        format!(
            "old_string matches {} places in the file, but without replace_all it must match exactly one:\n",
            at.len()
        )
    } else {
        format!(
            "old_string has no exact match, and it matches {} places {}; a fallback match must be unique:\n",
            at.len(),
            strategy.how()
        )
    };
    // Several exact matches can share a line; list each line once with its count.
    let mut groups: Vec<(usize, usize)> = Vec::new();
    for &line in &at {
        match groups.last_mut() {
            Some((l, count)) if *l == line => *count += 1,
            _ => groups.push((line, 1)),
        }
    }
    for &(line, count) in groups.iter().take(MAX_LISTED) {
        let times = if count > 1 { format!(" ({count} matches)") } else { String::new() };
        detail += &format!("  line {line}{times}: {}\n", shorten(lines.content(line - 1).trim(), 80));
    }
    if groups.len() > MAX_LISTED {
        detail += &format!("  ... and {} more\n", groups.len() - MAX_LISTED);
    }
    detail += "Add more surrounding lines to old_string so that it matches one place only, or set replace_all: true \
               to replace every match.";
    Failure { kind: EditErrorKind::Ambiguous(at), detail }
}

fn shorten(line: &str, max_chars: usize) -> Cow<'_, str> {
    match line.char_indices().nth(max_chars) {
        Some((cut, _)) => Cow::Owned(format!("{}…", &line[..cut])),
        None => Cow::Borrowed(line),
    }
}

/// A 256-bit set of hashed character bigrams, so that comparing two lines costs a few popcounts.
#[derive(Clone, Copy)]
struct Fingerprint([u64; 4]);

impl Fingerprint {
    fn of(key: &str) -> Self {
        let mut bits = [0u64; 4];
        let mut set = |a: char, b: char| {
            let h = (a as u32).wrapping_mul(0x9E37_79B1) ^ (b as u32).wrapping_mul(0x85EB_CA77);
            let bit = (h >> 24) as usize;
            bits[bit / 64] |= 1 << (bit % 64);
        };
        let mut chars = key.chars();
        let mut previous = chars.next();
        if let (Some(only), None) = (previous, key.chars().nth(1)) {
            set(only, '\0');
        }
        for c in chars {
            if let Some(p) = previous {
                set(p, c);
            }
            previous = Some(c);
        }
        Fingerprint(bits)
    }

    fn similarity(&self, other: &Fingerprint) -> f64 {
        let (mut both, mut either) = (0u32, 0u32);
        for k in 0..4 {
            both += (self.0[k] & other.0[k]).count_ones();
            either += (self.0[k] | other.0[k]).count_ones();
        }
        if either == 0 { 1.0 } else { f64::from(both) / f64::from(either) }
    }
}

struct Keyed<'a> {
    key: Cow<'a, str>,
    print: Fingerprint,
}

impl<'a> Keyed<'a> {
    fn new(line: &'a str) -> Self {
        let key = line_key(Strategy::Punctuation, line);
        let print = Fingerprint::of(&key);
        Keyed { key, print }
    }

    /// One minus the character edit distance over the longer length.
    fn precise_similarity(&self, other: &Keyed) -> f64 {
        if self.key == other.key {
            return 1.0;
        }
        let a: Vec<char> = self.key.chars().take(RESCORED_CHARS).collect();
        let b: Vec<char> = other.key.chars().take(RESCORED_CHARS).collect();
        if a.is_empty() || b.is_empty() {
            return 0.0;
        }
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.iter().enumerate() {
            let mut diagonal = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let above = row[j + 1];
                row[j + 1] = if ca == cb { diagonal } else { 1 + diagonal.min(above).min(row[j]) };
                diagonal = above;
            }
        }
        1.0 - row[b.len()] as f64 / a.len().max(b.len()) as f64
    }

    fn similarity(&self, other: &Keyed) -> f64 {
        if self.key == other.key {
            1.0
        } else if self.key.is_empty() || other.key.is_empty() {
            0.0
        } else {
            self.print.similarity(&other.print)
        }
    }
}

const MIN_SIMILARITY: f64 = 0.3;
/// Bounds the closest-region search on huge inputs by sampling old_string's lines.
const MAX_COMPARISONS: usize = 2_000_000;
/// How many of the fingerprint-ranked windows are re-scored by edit distance, and on how many of their lines.
const RESCORED_WINDOWS: usize = 16;
const RESCORED_LINES: usize = 40;
/// Edit distance is computed on at most this many characters of each line.
const RESCORED_CHARS: usize = 200;

fn no_match(lines: &LineIndex, shape: &OldShape) -> Failure {
    let mut detail = String::from(
        "old_string was not found in the file (tried an exact match, then ignoring trailing whitespace, \
         indentation, and Unicode punctuation).\n",
    );
    let regions = closest_regions(lines, shape);
    if lines.len() == 0 {
        detail += "The file is empty; use write_file to give it content.";
    } else if regions.is_empty() {
        detail += "Nothing in the file resembles old_string; re-read the file and copy the text to replace exactly.";
    } else {
        for (k, &(start, score)) in regions.iter().enumerate() {
            let end = (start + shape.lines.len()).min(lines.len());
            let percent = (score * 100.0).round();
            if k == 0 {
                detail += &format!(
                    "Closest region: lines {}-{} ({percent}% similar); `-` is your old_string, `+` is the file:\n",
                    start + 1,
                    end
                );
            } else {
                detail += &format!("Also similar: lines {}-{} ({percent}% similar):\n", start + 1, end);
            }
            render_region(&mut detail, lines, shape, start, if k == 0 { 10 } else { 5 });
        }
        detail += "Copy old_string exactly from the file (re-read it if it may have changed), or fix the lines \
                   marked above.";
    }
    Failure { kind: EditErrorKind::NoMatch(regions.first().map(|&(start, _)| start + 1)), detail }
}

/// The best window of file lines by similarity to old_string, and a second one if it is nearly as good.
fn closest_regions(lines: &LineIndex, shape: &OldShape) -> Vec<(usize, f64)> {
    let total = lines.len();
    let n = shape.lines.len();
    if total == 0 || n == 0 {
        return Vec::new();
    }
    let old: Vec<Keyed> = shape.lines.iter().map(|l| Keyed::new(l)).collect();
    let file: Vec<Keyed> = (0..total).map(|i| Keyed::new(lines.content(i))).collect();
    let window = n.min(total);
    let count = total - window + 1;
    let step = (count.saturating_mul(n) / MAX_COMPARISONS).max(1);
    let sampled: Vec<usize> = (0..n).step_by(step).collect();
    // Stage 1 ranks every window by the cheap fingerprint score; stage 2 re-scores the best few by edit distance,
    // which tells apart near-identical lines (`value_5000` against `value_5001`) that fingerprints cannot.
    let cheap = |s: usize| -> f64 {
        let sum: f64 = sampled.iter().filter_map(|&i| file.get(s + i).map(|f| old[i].similarity(f))).sum();
        sum / sampled.len() as f64
    };
    let mut ranked: Vec<(usize, f64)> = (0..count).map(|s| (s, cheap(s))).collect();
    ranked.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
    ranked.truncate(RESCORED_WINDOWS);
    let precise_step = n.div_ceil(RESCORED_LINES).max(1);
    let precise_sampled: Vec<usize> = (0..n).step_by(precise_step).collect();
    let mut scored: Vec<(usize, f64)> = ranked
        .iter()
        .map(|&(s, _)| {
            let sum: f64 =
                precise_sampled.iter().filter_map(|&i| file.get(s + i).map(|f| old[i].precise_similarity(f))).sum();
            (s, sum / precise_sampled.len() as f64)
        })
        .collect();
    scored.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
    let mut regions = Vec::new();
    if let Some(&(first, score)) = scored.first().filter(|&&(_, score)| score >= MIN_SIMILARITY) {
        regions.push((first, score));
        let apart = |s: usize| s + window <= first || s >= first + window;
        if let Some(&second) =
            scored.iter().find(|&&(s, other)| apart(s) && other >= MIN_SIMILARITY && other >= score - 0.03)
        {
            regions.push(second);
        }
    }
    regions
}

/// Appends a line-by-line comparison of old_string with the file lines from `start`, showing differing lines with
/// one line of context and eliding the rest, in at most about `budget` lines.
fn render_region(out: &mut String, lines: &LineIndex, shape: &OldShape, start: usize, budget: usize) {
    let n = shape.lines.len();
    let file_line = |i: usize| (start + i < lines.len()).then(|| lines.content(start + i));
    let same: Vec<bool> = (0..n)
        .map(|i| {
            file_line(i)
                .is_some_and(|f| line_key(Strategy::Punctuation, f) == line_key(Strategy::Punctuation, shape.lines[i]))
        })
        .collect();
    let shown: Vec<bool> = (0..n).map(|i| !same[i] || (i > 0 && !same[i - 1]) || (i + 1 < n && !same[i + 1])).collect();
    let width = (start + n).min(lines.len()).to_string().len();
    let mut used = 0;
    let mut elided = false;
    for i in 0..n {
        if !shown[i] {
            if !elided {
                out.push_str("  ...\n");
                elided = true;
            }
            continue;
        }
        elided = false;
        let cost = if same[i] { 1 } else { 2 };
        if used + cost > budget {
            let left = (i..n).filter(|&k| !same[k]).count();
            if left > 0 {
                out.push_str(&format!("  ... ({left} more differing lines)\n"));
            }
            return;
        }
        used += cost;
        let number = start + i + 1;
        match file_line(i) {
            Some(f) if same[i] => out.push_str(&format!("  {number:>width$} | {}\n", shorten(f, 160))),
            Some(f) => {
                out.push_str(&format!("- {:>width$} | {}\n", "", shorten(shape.lines[i], 160)));
                out.push_str(&format!("+ {number:>width$} | {}\n", shorten(f, 160)));
            }
            None => out.push_str(&format!(
                "- {:>width$} | {}   (past the end of the file)\n",
                "",
                shorten(shape.lines[i], 160)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies `edits` (old, new, replace_all) to `before` and checks the text, or that the error message contains
    /// every expected fragment; returns the result for further checks.
    #[track_caller]
    fn check(before: &str, edits: &[(&str, &str, bool)], expected: Result<&str, &[&str]>) -> Run {
        let edits: Vec<Edit> = edits
            .iter()
            .map(|&(old, new, all)| Edit { old_string: old.into(), new_string: new.into(), replace_all: all })
            .collect();
        let result = apply_edits(before, &edits);
        match (&result, expected) {
            (Ok(out), Ok(want)) => assert_eq!(out.text, want),
            (Err(err), Err(fragments)) => {
                for fragment in fragments {
                    assert!(err.message.contains(fragment), "missing {fragment:?} in:\n{}", err.message);
                }
            }
            (Ok(out), Err(_)) => panic!("expected an error, got text {:?}", out.text),
            (Err(err), Ok(_)) => panic!("unexpected error:\n{}", err.message),
        }
        Run(result)
    }

    /// The result of [`check`], which callers may inspect further or drop.
    struct Run(Result<EditOutcome, EditError>);

    fn applied(run: Run) -> Vec<Applied> {
        run.0.map(|o| o.applied).unwrap_or_default()
    }

    fn one(run: Run) -> (Strategy, usize, usize, usize, Option<i64>) {
        let a = &applied(run)[0];
        (a.strategy, a.replacements, a.first_line, a.last_line, a.rebased)
    }

    fn error(run: Run) -> EditError {
        run.0.expect_err("an error")
    }

    #[test]
    fn exact_match() {
        let r = check(
            "fn a() {}\nfn b() {}\nfn c() {}\n",
            &[("fn b() {}", "fn b() {\n    x();\n}", false)],
            Ok("fn a() {}\nfn b() {\n    x();\n}\nfn c() {}\n"),
        );
        assert_eq!(one(r), (Strategy::Exact, 1, 2, 4, None));
        // Exact matching works on any substring, not only whole lines.
        check("let x = foo(1);\n", &[("foo(1", "bar(2", false)], Ok("let x = bar(2);\n"));
    }

    #[test]
    fn replace_all() {
        let r = check("x = 1\ny = x\nz = 2\nw = x\n", &[("x", "v", true)], Ok("v = 1\ny = v\nz = 2\nw = v\n"));
        assert_eq!(one(r), (Strategy::Exact, 3, 1, 4, None));
        let r = check(
            "x = 1\ny = x\n",
            &[("x", "v", false)],
            Err(&["edit 1 of 1:", "matches 2 places", "line 1: x = 1", "line 2: y = x", "replace_all"]),
        );
        assert_eq!(error(r).kind, EditErrorKind::Ambiguous(vec![1, 2]));
        // Overlapping occurrences are ambiguous too, and same-line matches are grouped.
        check("aaa\n", &[("aa", "b", false)], Err(&["matches 2 places", "line 1 (2 matches): aaa"]));
        check("aaa\n", &[("aa", "b", true)], Ok("ba\n"));
    }

    #[test]
    fn ambiguity_list_is_capped() {
        let text = "x\n".repeat(14);
        let r = check(&text, &[("x", "y", false)], Err(&["matches 14 places", "line 10: x", "... and 4 more"]));
        let message = error(r).message;
        assert!(!message.contains("line 11:"), "{message}");
    }

    #[test]
    fn edits_apply_in_order() {
        let r = check(
            "alpha\nbeta\n",
            &[("alpha", "gamma", false), ("gamma\nbeta", "gamma\ndelta\nepsilon", false)],
            Ok("gamma\ndelta\nepsilon\n"),
        );
        // The second edit rewrote the first one's text, so the first range widens to cover it.
        let a = applied(r);
        assert_eq!((a[0].first_line, a[0].last_line), (1, 3));
        assert_eq!((a[1].first_line, a[1].last_line), (1, 3));
    }

    #[test]
    fn earlier_line_ranges_follow_later_edits() {
        let r = check("a\nb\nc\nd\n", &[("d", "D", false), ("a\n", "a\n1\n2\n", false)], Ok("a\n1\n2\nb\nc\nD\n"));
        let a = applied(r);
        assert_eq!((a[0].first_line, a[0].last_line), (6, 6));
        assert_eq!((a[1].first_line, a[1].last_line), (1, 3));
        // A deletion reports the line now at the deletion point.
        let r = check("a\nb\nc\n", &[("b\n", "", false)], Ok("a\nc\n"));
        assert_eq!(one(r), (Strategy::Exact, 1, 2, 2, None));
    }

    #[test]
    fn trailing_whitespace_fallback() {
        let r = check(
            "fn main() {   \n    run();\t\n}\n",
            &[("fn main() {\n    run();\n}", "fn main() {\n    go();\n}", false)],
            Ok("fn main() {\n    go();\n}\n"),
        );
        assert_eq!(one(r), (Strategy::TrailingWhitespace, 1, 1, 3, None));
        let r = check(
            "a  \nb\n\na \nb\n",
            &[("a\nb", "c", false)],
            Err(&["no exact match", "matches 2 places when trailing whitespace is ignored", "line 1: a", "line 4: a"]),
        );
        assert_eq!(error(r).kind, EditErrorKind::Ambiguous(vec![1, 4]));
        check("a  \nb\n\na \nb\n", &[("a\nb\n", "c\n", true)], Ok("c\n\nc\n"));
    }

    const IMPL: &str = "impl S {\n    fn f(&self) {\n        old();\n    }\n}\n";

    #[test]
    fn indentation_fallback_rebases() {
        // The model sent the method at column 0; the file has it at 4 spaces.
        let r = check(
            IMPL,
            &[("fn f(&self) {\n    old();\n}", "fn f(&self) {\n    new();\n\n    more();\n}", false)],
            Ok("impl S {\n    fn f(&self) {\n        new();\n\n        more();\n    }\n}\n"),
        );
        assert_eq!(one(r), (Strategy::Indentation, 1, 2, 6, Some(4)));
        // A block at 8 spaces, sent at 0.
        let r = check(
            "impl S {\n    fn f(&self) {\n        if x {\n            old();\n        }\n    }\n}\n",
            &[("if x {\n    old();\n}", "if y {\n    new();\n}", false)],
            Ok("impl S {\n    fn f(&self) {\n        if y {\n            new();\n        }\n    }\n}\n"),
        );
        assert_eq!(one(r), (Strategy::Indentation, 1, 3, 5, Some(8)));
        // The model indented more than the file: the extra indentation is removed.
        let r = check(
            IMPL,
            &[(
                "        fn f(&self) {\n            old();\n        }",
                "        fn f(&self) {\n            new();\n        }",
                false,
            )],
            Ok("impl S {\n    fn f(&self) {\n        new();\n    }\n}\n"),
        );
        assert_eq!(one(r), (Strategy::Indentation, 1, 2, 4, Some(-4)));
    }

    #[test]
    fn indentation_fallback_inserts_as_sent_when_not_uniform() {
        // Tabs against spaces: no uniform offset, so new_string goes in exactly as sent.
        let r = check(
            IMPL,
            &[("fn f(&self) {\n\told();\n}", "fn f(&self) {\n\tnew();\n}", false)],
            Ok("impl S {\nfn f(&self) {\n\tnew();\n}\n}\n"),
        );
        assert_eq!(one(r), (Strategy::Indentation, 1, 2, 4, None));
        // Offsets of 4 and 8 on different lines are not uniform either.
        check(
            IMPL,
            &[("fn f(&self) {\nold();\n}", "fn g() {\nnew();\n}", false)],
            Ok("impl S {\nfn g() {\nnew();\n}\n}\n"),
        );
    }

    #[test]
    fn indentation_fallback_first_line_copied_mid_line() {
        // old_string starts after the first line's indentation, and a trailing space defeats the exact match.
        let r = check(
            "    if x {\n        y();  \n    }\n",
            &[("if x {\n        y();\n    }", "if z {\n        w();\n    }", false)],
            Ok("    if z {\n        w();\n    }\n"),
        );
        assert_eq!(one(r), (Strategy::Indentation, 1, 1, 3, None));
    }

    #[test]
    fn indentation_fallback_must_be_unique() {
        let r = check(
            "fn a() {\n    x();\n}\nmod m {\n    fn a() {\n        x();\n    }\n}\n",
            &[("fn a() {\n  x();\n}", "fn b() {}", false)],
            Err(&[
                "matches 2 places when indentation and trailing whitespace are ignored",
                "line 1: fn a() {",
                "line 5: fn a() {",
            ]),
        );
        assert_eq!(error(r).kind, EditErrorKind::Ambiguous(vec![1, 5]));
    }

    #[test]
    fn punctuation_fallback() {
        let r = check(
            "a\n    let s = “hello” – world…;\u{a0}\nb\n",
            &[("let s = \"hello\" - world...;", "let s = \"bye\";", false)],
            Ok("a\n    let s = \"bye\";\nb\n"),
        );
        assert_eq!(one(r), (Strategy::Punctuation, 1, 2, 2, Some(4)));
        // Normalisation applies to old_string too: a model's smart quotes match the file's straight ones.
        check("say('hi')\n", &[("say(‘hi’)", "say('yo')", false)], Ok("say('yo')\n"));
        check("x\u{202f}=\u{2009}1 — 2\n", &[("x = 1 - 2", "y", false)], Ok("y\n"));
        check("x = 1 — 2\n", &[("x = 1 - 2", "y", false)], Ok("y\n"));
        let r = check(
            "it’s\nok\nit‘s\n",
            &[("it's", "it is", false)],
            Err(&[
                "matches 2 places when whitespace and Unicode punctuation are normalised",
                "line 1: it’s",
                "line 3: it‘s",
            ]),
        );
        assert_eq!(error(r).kind, EditErrorKind::Ambiguous(vec![1, 3]));
    }

    #[test]
    fn no_match_shows_closest_region() {
        let text = "fn area(&self) -> f64 {\n    let w = self.w;\n    w * self.h\n}\n\nfn other() {}\n";
        let r = check(
            text,
            &[("fn area(&self) -> f64 {\n    let w = self.w;\n    w * self.height\n}", "x", false)],
            Err(&[]),
        );
        let err = error(r);
        assert!(matches!(err.kind, EditErrorKind::NoMatch(_)));
        assert_eq!(
            err.message,
            "edit 1 of 1: old_string was not found in the file (tried an exact match, then ignoring trailing \
             whitespace, indentation, and Unicode punctuation).\n\
             Closest region: lines 1-4 (92% similar); `-` is your old_string, `+` is the file:\n  ...\n  \
             2 |     let w = self.w;\n-   |     w * self.height\n+ 3 |     w * self.h\n  4 | }\n\
             Copy old_string exactly from the file (re-read it if it may have changed), or fix the lines marked \
             above.\nNo edits were applied (edits are all-or-nothing)."
        );
        check("abc\n", &[("something else entirely", "x", false)], Err(&["Nothing in the file resembles old_string"]));
        check("", &[("x", "y", false)], Err(&["The file is empty; use write_file"]));
    }

    #[test]
    fn no_match_shows_two_similar_regions_compactly() {
        let block = "fn f() {\n    one();\n    two();\n    three();\n}\n";
        let text = format!("{block}\n{block}");
        let old = "fn f() {\n    one();\n    TWO();\n    three();\n}";
        let r = check(
            &text,
            &[(old, "x", false)],
            Err(&["Closest region: lines 1-5", "Also similar: lines 7-11", "+  9 |     two();"]),
        );
        let message = error(r).message;
        let shown = message.lines().filter(|l| l.starts_with("  ") || l.starts_with("- ") || l.starts_with("+ "));
        assert!(shown.count() <= 15, "{message}");
    }

    #[test]
    fn no_match_caps_long_diffs() {
        let text: String = (0..40).map(|i| format!("line {i} of the file\n")).collect();
        let old: String = (0..40).map(|i| format!("line {i} of thy file\n")).collect();
        let r = check(&text, &[(&old, "x", false)], Err(&["Closest region: lines 1-40", "more differing lines"]));
        let message = error(r).message;
        assert!(message.lines().count() <= 16, "{message}");
    }

    #[test]
    fn crlf_file_stays_crlf() {
        let r = check("a\r\nb\r\nc\r\n", &[("a\nb", "x\ny\nz", false)], Ok("x\r\ny\r\nz\r\nc\r\n"));
        assert_eq!(one(r), (Strategy::Exact, 1, 1, 3, None));
        // CRLF sent by the model is read as LF.
        check("a\r\nb\r\n", &[("a\r\nb", "c\r\nd", false)], Ok("c\r\nd\r\n"));
        // A mixed file is edited as it is; trailing-whitespace matching absorbs the stray CRs.
        let r = check("a\r\nb\nc\n", &[("a\nb", "x", false)], Ok("x\nc\n"));
        assert_eq!(one(r).0, Strategy::TrailingWhitespace);
    }

    #[test]
    fn bom_is_preserved() {
        check("\u{feff}first\nsecond\n", &[("first", "1st", false)], Ok("\u{feff}1st\nsecond\n"));
        check("\u{feff}a\r\nb\r\n", &[("a\nb\n", "c\n", false)], Ok("\u{feff}c\r\n"));
    }

    #[test]
    fn final_newline_is_preserved() {
        check("a\nb", &[("b", "c", false)], Ok("a\nc"));
        check("a\nb", &[("b", "c\nd\n", false)], Ok("a\nc\nd"));
        check("a\nb\n", &[("b\n", "c", false)], Ok("a\nc\n"));
        check("a\nb\n", &[("a\nb\n", "", false)], Ok(""));
        // A fallback match on a last line without a newline keeps it without one.
        check("a\nb  ", &[("a\nb\n", "c\n", false)], Ok("c"));
        check("x\n    b  \n", &[("b\n", "c\n", false)], Ok("x\n    c\n"));
    }

    #[test]
    fn unicode_content_and_line_numbers() {
        let r = check("αβγ\nδ€ζ\n😀 end\n", &[("😀", "🙂🙂", false)], Ok("αβγ\nδ€ζ\n🙂🙂 end\n"));
        assert_eq!(one(r), (Strategy::Exact, 1, 3, 3, None));
        let r = check("αβγ\n  δ€ζ  \n😀 end\n", &[("δ€ζ\n😀 end", "ω", false)], Ok("αβγ\n  ω\n"));
        assert_eq!(one(r), (Strategy::Indentation, 1, 2, 2, None));
        check("αβγ\nδ€ζ\n😀 end\n", &[("δ€x\n😀 end", "ω", false)], Err(&["lines 2-3", "-   | δ€x", "+ 2 | δ€ζ"]));
        check("ππ\nππ\n", &[("π", "p", false)], Err(&["line 1 (2 matches): ππ", "line 2 (2 matches): ππ"]));
    }

    #[test]
    fn refusals() {
        let r = check("abc\n", &[("", "x", false)], Err(&["edit 1 of 1: old_string is empty", "write_file"]));
        assert_eq!(error(r).kind, EditErrorKind::EmptyOld);
        let r = check("abc\n", &[("a", "b", false), ("abc", "abc", false)], Err(&["edit 2 of 2:", "identical"]));
        assert_eq!(error(r).kind, EditErrorKind::NoChange);
    }

    #[test]
    fn all_or_nothing() {
        let r = check(
            "one\ntwo\nthree\n",
            &[("one", "1", false), ("four", "4", false), ("three", "3", false)],
            Err(&["edit 2 of 3: old_string was not found", "No edits were applied", "earlier edits"]),
        );
        assert_eq!(error(r).edit_index, 1);
    }

    /// Edits in a 10,000-line file: exact, a fallback, and a failed search that names the nearest lines. (How
    /// fast is for the benchmarks: a timing assertion here failed under a loaded CI machine.)
    #[test]
    fn large_files_edit_exactly() {
        let text: String = (0..10_000).map(|i| format!("    let value_{i} = compute({i}, \"x\");\n")).collect();
        let out = apply_edits(&text, &[Edit::new("let value_5000 = compute(5000", "let value_5000 = other(5000")])
            .expect("applies");
        assert_eq!(out.applied[0].first_line, 5001);
        let diff = crate::diff::unified_diff("big.rs", &text, &out.text);
        assert!(diff.contains("@@ -4998,7 +4998,7 @@"), "{diff}");
        let out = apply_edits(&text, &[Edit::new("    let value_5000 = compute(5000, \"x\");   ", "x")]);
        assert_eq!(out.map(|o| o.applied[0].strategy).ok(), Some(Strategy::TrailingWhitespace));
        let err = apply_edits(&text, &[Edit::new("let value_5000 = compute(5000, \"y\");", "x")]).err();
        assert!(err.is_some_and(|e| e.message.contains("lines 5001-5001")));
    }

    #[test]
    fn never_panics_on_odd_inputs() {
        // A small deterministic generator over an alphabet of the characters that stress the code paths.
        let alphabet = ["a", "b", " ", "\t", "\n", "\r\n", "\r", "“", "…", "\u{a0}", "é", "😀", "\u{feff}", "-"];
        let mut seed: u64 = 0x1234_5678;
        let mut pick = |n: usize| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 33) as usize) % n
        };
        for _ in 0..3000 {
            let mut make = |len: usize| (0..len).map(|_| alphabet[pick(alphabet.len())]).collect::<String>();
            let text = make(12);
            let old = make(3);
            let new = make(3);
            let all = old.len() % 2 == 0;
            if let Ok(out) = apply_edits(&text, &[Edit { old_string: old, new_string: new, replace_all: all }]) {
                for a in &out.applied {
                    assert!(a.first_line >= 1 && a.first_line <= a.last_line);
                }
                let _ = crate::diff::unified_diff("p", &text, &out.text);
            }
        }
    }
}
