//! read_file: numbered lines of a text file, a window at a time, within the result budget.
//!
//! The file is read through a bounded line scanner, so a 5 GB file or a 2 GB line costs a window's worth of
//! memory, not the file's. Binary files are described, never dumped.

use std::borrow::Cow;
use std::io::{BufRead, BufReader, Read};

use crate::error::{ErrorKind, ToolError, ToolResult};
use crate::tools::{Context, human_bytes};
use crate::workspace::WorkspacePath;
use crate::workspace::{content_version, meta_version};

use crate::syntax::{Lang, WARM_MIN_BYTES};
use crate::workspace::CONTENT_VERSION_MAX;
/// After the window, lines are still counted to tell the model the file's length, but never past this much.
const COUNT_SCAN_MAX: u64 = 256 << 20;
/// Binary detection looks at this many leading bytes, as git and ripgrep do.
const SNIFF_BYTES: usize = 8192;
/// The most lines one call may ask for; more would never fit a result anyway.
pub(crate) const MAX_LIMIT: u64 = 100_000;
/// Room kept in the budget for the closing status line.
const FOOTER_RESERVE: usize = 400;

pub(crate) struct ReadRequest<'a> {
    pub path: &'a str,
    pub offset: Option<u64>,
    pub limit: Option<u64>,
    pub max_output_chars: Option<usize>,
}

/// Files up to this size are read on the calling thread: the read costs less than a hand-off.
const INLINE_MAX: u64 = 256 << 10;

/// A file `read_opened` reads without opening it again.
pub(crate) struct Opened {
    path: WorkspacePath,
    file: std::fs::File,
    meta: std::fs::Metadata,
}

/// `req`'s file, opened, when it is a regular file small enough to read inline. Errors say None: the full call
/// reports them.
pub(crate) fn open_small(ctx: &Context, req: &ReadRequest<'_>) -> Option<Opened> {
    let path = ctx.ws.path(req.path).ok()?;
    let (file, meta) = ctx.ws.open_file(&path).ok()?;
    (meta.len() <= INLINE_MAX).then_some(Opened { path, file, meta })
}

/// read_file's structuredContent: what a program driving the loop needs without scraping the text.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct ReadInfo {
    pub path: String,
    /// Pass as expected_version to a write to refuse it if the file changed since.
    pub version: String,
    /// The lines returned, 1-based (0 and 0 when none: an empty or binary file).
    pub start_line: u64,
    pub end_line: u64,
    /// The file's line count (a lower bound when counting stopped in a huge file).
    pub total_lines: u64,
    /// The offset of the next window, when there is more.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<u64>,
}

pub(crate) fn read_file(ctx: &Context, req: &ReadRequest<'_>) -> ToolResult<(String, ReadInfo)> {
    read_opened(ctx, req, None)
}

/// read_file, from the file `opened` when given (it must be `req`'s).
pub(crate) fn read_opened(
    ctx: &Context,
    req: &ReadRequest<'_>,
    opened: Option<Opened>,
) -> ToolResult<(String, ReadInfo)> {
    let offset = req.offset.unwrap_or(1);
    if offset == 0 {
        return Err(ToolError::invalid("offset is 1-based: the first line is offset=1"));
    }
    let default_limit = ctx.config.limits.read_default_lines as u64;
    let limit = req.limit.unwrap_or(default_limit);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ToolError::invalid(format!(
            "limit must be between 1 and {MAX_LIMIT} lines (default {default_limit})"
        )));
    }
    let budget = ctx.budget(req.max_output_chars)?;
    let Opened { path, file, meta } = match opened {
        Some(opened) => opened,
        None => {
            let path = ctx.ws.path(req.path)?;
            let (file, meta) = ctx.ws.open_file(&path)?;
            Opened { path, file, meta }
        }
    };
    let shown = path.display();
    let io_err = |e: std::io::Error| ToolError::new(ErrorKind::Io, format!("cannot read {shown:?}: {e}"));

    let size = meta.len();
    let whole;
    let mut reader: Box<dyn BufRead> = if size <= CONTENT_VERSION_MAX {
        let mut buf = Vec::with_capacity(size as usize);
        (&file).take(CONTENT_VERSION_MAX + 1).read_to_end(&mut buf).map_err(io_err)?;
        whole = Some(buf);
        Box::new(whole.as_deref().unwrap_or_default())
    } else {
        whole = None;
        Box::new(BufReader::with_capacity(64 << 10, file))
    };
    let version = match &whole {
        Some(bytes) => content_version(bytes),
        None => meta_version(&meta),
    };

    let head = reader.fill_buf().map_err(io_err)?;
    let sniff = &head[..head.len().min(SNIFF_BYTES)];
    let info = |start_line, end_line, total_lines, next_offset| ReadInfo {
        path: shown.clone(),
        version: version.clone(),
        start_line,
        end_line,
        total_lines,
        next_offset,
    };
    if sniff.contains(&0) {
        let text = format!(
            "{shown}: binary file, {} ({}); not shown. version {version}",
            human_bytes(size),
            guess_type(sniff)
        );
        return Ok((text, info(0, 0, 0, None)));
    }
    if size == 0 {
        return Ok((format!("[{shown}: empty file (0 lines) · version {version}]"), info(0, 0, 0, None)));
    }
    // An edit usually follows a read: parse the file now, off the call, so the edit's syntax check is incremental.
    if let Some(text) = whole.as_deref().filter(|b| b.len() >= WARM_MIN_BYTES).and_then(|b| std::str::from_utf8(b).ok())
        && let Some(lang) = Lang::detect(&shown, text)
    {
        ctx.trees.warm(&shown, lang, text);
    }

    let max_line = ctx.config.limits.max_line_chars;
    let line_cap = max_line * 4 + 4;
    let mut out = String::new();
    let mut line = Vec::new();
    let mut line_no = 0u64;
    let mut last_shown = 0u64;
    let mut lossy = false;
    let mut clipped_lines = 0u64;
    let mut budget_hit = false;
    let end = offset.saturating_add(limit - 1);
    let mut scanned = 0u64;
    let mut counting_stopped = false;
    while let Some(total_len) = next_line(&mut reader, line_cap, &mut line).map_err(io_err)? {
        line_no += 1;
        scanned += total_len as u64;
        if line_no < offset {
            continue;
        }
        if line_no > end || budget_hit {
            if whole.is_none() && scanned > COUNT_SCAN_MAX {
                counting_stopped = true;
                break;
            }
            continue;
        }
        let kept = strip_newline(&line);
        // `from_utf8` first: its ASCII fast path is several times cheaper than the lossy decoder, which only the
        // rare invalid line needs.
        let text = match std::str::from_utf8(kept) {
            Ok(valid) => std::borrow::Cow::Borrowed(valid),
            Err(_) => {
                lossy = true;
                String::from_utf8_lossy(kept)
            }
        };
        let (text, clipped) = clip_head(&text, max_line, total_len);
        clipped_lines += clipped as u64;
        // `{line_no}\t{text}\n`, written in place: its length is known without building it. No padding: the
        // gutter is paid on every line of every read.
        let entry_len = line_no.checked_ilog10().unwrap_or(0) as usize + 1 + text.len() + 2;
        if out.len() + entry_len + FOOTER_RESERVE > budget && last_shown >= offset {
            budget_hit = true;
            continue;
        }
        push_number(&mut out, line_no);
        out.push('\t');
        out.push_str(&text);
        out.push('\n');
        last_shown = line_no;
    }
    let total = if counting_stopped { format!("at least {line_no}") } else { line_no.to_string() };
    if offset > line_no && !counting_stopped {
        return Err(ToolError::invalid(format!(
            "offset {offset} is past the end of {shown:?}, which has {line_no} lines"
        )));
    }
    let more = last_shown < line_no || counting_stopped;
    // The whole file: its length and version are all the footer needs to say.
    let entire = offset == 1 && !more;
    let mut footer = if entire {
        format!("[{shown}: {total} lines · version {version}")
    } else {
        format!("[{shown}: lines {offset}-{last_shown} of {total}")
    };
    if counting_stopped {
        footer.push_str(&format!(" ({} file; counting stopped)", human_bytes(size)));
    }
    if !entire {
        footer.push_str(&format!(" · version {version}"));
    }
    if more {
        let why = if budget_hit { "output budget reached; " } else { "" };
        footer.push_str(&format!(" · {why}next: read_file(path={shown:?}, offset={})", last_shown + 1));
    }
    footer.push(']');
    if clipped_lines > 0 {
        footer.push_str(&format!(
            "\n[{clipped_lines} line(s) longer than {max_line} chars were clipped; search can show the rest of a line]"
        ));
    }
    if lossy {
        footer.push_str("\n[the file is not valid UTF-8; invalid bytes are shown as \u{FFFD}]");
    }
    out.push_str(&footer);
    let next = more.then_some(last_shown + 1);
    Ok((out, info(if last_shown >= offset { offset } else { 0 }, last_shown, line_no, next)))
}

/// Reads one line into `buf`, keeping at most `cap` bytes of it; returns the line's full length (with its
/// newline), or None at end of file. Memory stays bounded by `cap` whatever the line's length.
fn next_line(r: &mut dyn BufRead, cap: usize, buf: &mut Vec<u8>) -> std::io::Result<Option<usize>> {
    buf.clear();
    let mut total = 0usize;
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            return Ok(if total == 0 { None } else { Some(total) });
        }
        let (take, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let room = cap.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..take.min(room)]);
        total += take;
        r.consume(take);
        if done {
            return Ok(Some(total));
        }
    }
}

fn strip_newline(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Keeps the first `max` chars of a long line and says how much was cut; lines are read from the start.
fn clip_head(text: &str, max: usize, total_bytes: usize) -> (Cow<'_, str>, bool) {
    // A line of at most `max` bytes has at most `max` chars: no need to count them.
    if text.len() <= max {
        return (Cow::Borrowed(text), false);
    }
    match text.char_indices().nth(max) {
        None => (Cow::Borrowed(text), false),
        Some((cut, _)) => {
            let rest = total_bytes.saturating_sub(cut);
            (Cow::Owned(format!("{}…[{} more bytes on this line]", &text[..cut], rest)), true)
        }
    }
}

/// A short guess at what a binary file is, from its first bytes.
fn guess_type(head: &[u8]) -> &'static str {
    const MAGIC: &[(&[u8], &str)] = &[
        (b"\x89PNG", "PNG image"),
        (b"\xFF\xD8\xFF", "JPEG image"),
        (b"GIF8", "GIF image"),
        (b"%PDF", "PDF document"),
        (b"PK\x03\x04", "zip archive (also jar, docx, xlsx)"),
        (b"\x1F\x8B", "gzip data"),
        (b"\x7FELF", "ELF executable or library"),
        (b"\0asm", "WebAssembly module"),
        (b"SQLite format 3", "SQLite database"),
        (b"BZh", "bzip2 data"),
        (b"\xFD7zXZ", "xz data"),
        (b"\x28\xB5\x2F\xFD", "zstd data"),
        (b"7z\xBC\xAF", "7z archive"),
        (b"RIFF", "RIFF media (wav, webp, avi)"),
        (b"\xCA\xFE\xBA\xBE", "Java class or Mach-O fat binary"),
        (b"!<arch>", "ar archive (static library, .deb)"),
    ];
    MAGIC.iter().find(|(m, _)| head.starts_with(m)).map(|(_, name)| *name).unwrap_or("unknown binary data")
}

/// Appends `n` in decimal: what `write!(out, "{n}")` writes, without the formatting machinery (paid on every line
/// of every read).
fn push_number(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    out.push_str(std::str::from_utf8(&digits[at..]).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_number_writes_what_display_writes() {
        for n in [0, 1, 9, 10, 99, 100, 12345, u64::MAX] {
            let mut out = String::from("x");
            push_number(&mut out, n);
            assert_eq!(out, format!("x{n}"));
        }
    }

    #[test]
    fn next_line_bounds_memory_and_reports_full_length() {
        let data = format!("short\n{}\nlast", "x".repeat(100_000));
        let mut r: &[u8] = data.as_bytes();
        let mut buf = Vec::new();
        assert_eq!(next_line(&mut r, 10, &mut buf).unwrap(), Some(6));
        assert_eq!(buf, b"short\n");
        assert_eq!(next_line(&mut r, 10, &mut buf).unwrap(), Some(100_001));
        assert_eq!(buf.len(), 10);
        assert_eq!(next_line(&mut r, 10, &mut buf).unwrap(), Some(4));
        assert_eq!(buf, b"last");
        assert_eq!(next_line(&mut r, 10, &mut buf).unwrap(), None);
    }

    #[test]
    fn clip_head_respects_char_boundaries() {
        assert_eq!(clip_head("héllo", 10, 6), (Cow::Borrowed("héllo"), false));
        assert_eq!(clip_head("héllo", 5, 6), (Cow::Borrowed("héllo"), false));
        assert_eq!(clip_head("héllo wörld", 3, 13), (Cow::Owned("hél…[9 more bytes on this line]".to_string()), true));
    }

    #[test]
    fn binary_guess() {
        assert_eq!(guess_type(b"\x89PNG\r\n\x1a\n\0\0"), "PNG image");
        assert_eq!(guess_type(b"\0\0\0"), "unknown binary data");
    }
}
