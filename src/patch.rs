//! apply_patch's text: Codex's patch format and unified diffs, parsed into file operations, and hunks applied to
//! a file's text in memory. Pure: no I/O; the tool (`tools/patch.rs`) reads, gates and writes.
//!
//! # Formats
//!
//! **Codex** (what GPT-family models are trained on), read leniently as Codex reads it: markers may carry
//! surrounding whitespace, and a heredoc wrapper (`<<'EOF'` … `EOF`, also after `apply_patch `) or a Markdown
//! fence around the patch is dropped.
//!
//! ```text
//! *** Begin Patch
//! *** Add File: path        every following line starts with `+`
//! *** Delete File: path
//! *** Update File: path
//! *** Move to: new/path     optional
//! @@ optional context line  the hunk's lines come after the first file line (from the cursor) equal to it
//!  context / -removed / +added lines; an empty line is an empty context line
//! *** End of File           optional: the hunk ends at the end of the file
//! *** End Patch
//! ```
//!
//! **Unified diff** (`--- a/x`, `+++ b/x`, `@@ -a,b +c,d @@`): `/dev/null` on either side adds or deletes a file,
//! two different names move it. The line numbers of a hunk header are only a hint, to choose among matches.
//!
//! # Locating a hunk
//!
//! Its `-` and context lines are searched as a window of whole lines with edit_file's ladder (exact, then
//! ignoring trailing whitespace, indentation, Unicode punctuation; `edits::seek_lines`), from after the previous
//! hunk of the same file, then anywhere. The first match wins, or the one nearest the header's line number; with
//! `*** End of File`, the last. A match that ignored indentation re-bases the `+` lines as edit_file does. A
//! hunk without `-` or context lines inserts after its `@@` context line, or at the end of the file.

use crate::edits::{self, Strategy};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FileOp {
    Add { path: String, content: String },
    Delete { path: String },
    Update { path: String, move_to: Option<String>, hunks: Vec<Hunk> },
}

impl FileOp {
    pub(crate) fn path(&self) -> &str {
        match self {
            FileOp::Add { path, .. } | FileOp::Delete { path } | FileOp::Update { path, .. } => path,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Hunk {
    /// `@@ text` lines: each is found (trimmed) after the previous one before the hunk's lines are searched.
    pub context: Vec<String>,
    /// The old start line of a unified `@@ -a,b +c,d @@` header.
    pub hint: Option<usize>,
    pub old: Vec<String>,
    pub new: Vec<String>,
    pub end_of_file: bool,
    /// 1-based line of the patch where the hunk starts, for messages.
    pub patch_line: usize,
}

const BEGIN: &str = "*** Begin Patch";
const END: &str = "*** End Patch";
const ADD: &str = "*** Add File:";
const DELETE: &str = "*** Delete File:";
const UPDATE: &str = "*** Update File:";
const MOVE: &str = "*** Move to:";
const EOF_MARK: &str = "*** End of File";

/// Parses a patch in either format. The error says which line is wrong and what was expected there.
pub(crate) fn parse(patch: &str) -> Result<Vec<FileOp>, String> {
    let text = patch.replace("\r\n", "\n");
    let lines: Vec<&str> = unwrap(&text);
    let ops = if lines.iter().any(|l| l.trim() == BEGIN) {
        parse_codex(&lines)?
    } else if lines.iter().any(|l| l.starts_with("@@") || l.starts_with("--- ")) {
        parse_unified(&lines)?
    } else {
        return Err("this is not a patch: expected `*** Begin Patch` … `*** End Patch` (Codex's format) or a \
                    unified diff (`--- a/path`, `+++ b/path`, `@@ -1,3 +1,4 @@`)"
            .into());
    };
    if ops.is_empty() {
        return Err("the patch changes no file: add `*** Update File: path` (or Add/Delete) sections".into());
    }
    Ok(ops)
}

/// The patch's lines without a heredoc wrapper or a Markdown fence, and with no blank lines at either end.
fn unwrap(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.trim().lines().collect();
    while let (Some(first), Some(last)) = (lines.first(), lines.last()) {
        let f = first.trim();
        let heredoc = f
            .strip_prefix("apply_patch")
            .unwrap_or(f)
            .trim_start()
            .strip_prefix("<<")
            .map(|w| w.trim().trim_start_matches('-').trim_matches(|c| c == '\'' || c == '"').to_string());
        let strip = match heredoc {
            Some(word) if !word.is_empty() && lines.len() >= 2 => last.trim() == word,
            _ => f.starts_with("```") && lines.len() >= 2 && last.trim() == "```",
        };
        if !strip {
            break;
        }
        lines = lines[1..lines.len() - 1].to_vec();
    }
    lines
}

fn parse_codex(lines: &[&str]) -> Result<Vec<FileOp>, String> {
    let begin = lines.iter().position(|l| l.trim() == BEGIN).unwrap_or(0);
    let Some(end) = lines.iter().rposition(|l| l.trim() == END).filter(|&e| e > begin) else {
        return Err("the patch has no `*** End Patch` line after `*** Begin Patch`; it may have been cut off. \
                    Send the whole patch"
            .into());
    };
    if let Some(stray) = lines[..begin].iter().chain(&lines[end + 1..]).find(|l| !l.trim().is_empty()) {
        return Err(format!("text outside `*** Begin Patch` … `*** End Patch`: {stray:?}"));
    }
    let mut ops = Vec::new();
    let mut i = begin + 1;
    while i < end {
        let line = lines[i].trim();
        let no = i + 1;
        if line.is_empty() {
            i += 1;
        } else if let Some(path) = marker(line, ADD) {
            i += 1;
            let mut content = String::new();
            while i < end && !is_op(lines[i]) {
                match lines[i].strip_prefix('+') {
                    Some(l) => {
                        content.push_str(l);
                        content.push('\n');
                    }
                    None if lines[i].trim().is_empty() && next_is_op_or_end(lines, i, end) => {}
                    None => {
                        return Err(format!(
                            "patch line {}: in `*** Add File: {path}` every line starts with `+`, got {:?}",
                            i + 1,
                            lines[i]
                        ));
                    }
                }
                i += 1;
            }
            ops.push(FileOp::Add { path, content });
        } else if let Some(path) = marker(line, DELETE) {
            ops.push(FileOp::Delete { path });
            i += 1;
        } else if let Some(path) = marker(line, UPDATE) {
            i += 1;
            let move_to = match lines.get(i).and_then(|l| marker(l.trim(), MOVE)) {
                Some(to) if i < end => {
                    i += 1;
                    Some(to)
                }
                _ => None,
            };
            let start = i;
            while i < end && !is_op(lines[i]) {
                i += 1;
            }
            let hunks = parse_hunks(&lines[start..i], start + 1, Format::Codex)?;
            if hunks.is_empty() && move_to.is_none() {
                return Err(format!("patch line {no}: `*** Update File: {path}` has no hunk (`@@` and changed lines)"));
            }
            ops.push(FileOp::Update { path, move_to, hunks });
        } else {
            return Err(format!(
                "patch line {no}: expected `*** Add File: path`, `*** Delete File: path` or `*** Update File: path`, \
                 got {line:?}"
            ));
        }
    }
    Ok(ops)
}

fn marker(line: &str, m: &str) -> Option<String> {
    let rest = line.strip_prefix(m)?.trim();
    (!rest.is_empty()).then(|| rest.to_string())
}

/// A line that starts the next file section (or ends the patch).
fn is_op(line: &str) -> bool {
    let t = line.trim();
    [ADD, DELETE, UPDATE, END].iter().any(|m| t.starts_with(m))
}

fn next_is_op_or_end(lines: &[&str], i: usize, end: usize) -> bool {
    lines[i..end].iter().find(|l| !l.trim().is_empty()).is_none_or(|l| is_op(l))
}

/// Which patch format a file's hunks are in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    /// Codex's: the first hunk may start without an `@@` line.
    Codex,
    Unified,
}

/// The hunks of one file: `@@` lines start hunks (the first may have none in Codex's format); ` `, `-`, `+`
/// lines fill them.
fn parse_hunks(lines: &[&str], first_no: usize, format: Format) -> Result<Vec<Hunk>, String> {
    let mut hunks: Vec<Hunk> = Vec::new();
    let mut cur: Option<Hunk> = None;
    // Blank lines are kept as empty context only when more hunk lines follow: at the end they are separators.
    let mut pending_blank = 0usize;
    for (k, raw) in lines.iter().enumerate() {
        let no = first_no + k;
        let t = raw.trim();
        if t.starts_with("@@") {
            pending_blank = 0;
            let mut next = Hunk { patch_line: no, ..Default::default() };
            match cur.take() {
                Some(h) if !h.old.is_empty() || !h.new.is_empty() => hunks.push(h),
                // `@@ a` then `@@ b` with nothing between: both narrow the same hunk.
                Some(h) => next.context = h.context,
                None => {}
            }
            if let Some(hint) = unified_header(t) {
                next.hint = Some(hint);
            } else {
                let ctx = t.trim_start_matches("@@").trim();
                if !ctx.is_empty() {
                    next.context.push(ctx.to_string());
                }
            }
            cur = Some(next);
            continue;
        }
        if t == EOF_MARK {
            if let Some(h) = cur.as_mut() {
                h.end_of_file = true;
            }
            continue;
        }
        if raw.starts_with('\\') {
            // "\ No newline at end of file"
            continue;
        }
        if raw.trim().is_empty() && !raw.starts_with(' ') {
            if cur.is_some() {
                pending_blank += 1;
            }
            continue;
        }
        let h = match cur.as_mut() {
            Some(h) => h,
            None if format == Format::Codex => cur.insert(Hunk { patch_line: no, ..Default::default() }),
            None => return Err(format!("patch line {no}: a hunk line before any `@@ -a,b +c,d @@` header: {raw:?}")),
        };
        for _ in 0..std::mem::take(&mut pending_blank) {
            h.old.push(String::new());
            h.new.push(String::new());
        }
        // The first character decides; split after it (it may be any character, not one byte).
        let sign_len = raw.chars().next().map_or(0, char::len_utf8);
        let (sign, text) = raw.split_at(sign_len);
        match sign {
            " " => {
                h.old.push(text.to_string());
                h.new.push(text.to_string());
            }
            "-" => h.old.push(text.to_string()),
            "+" => h.new.push(text.to_string()),
            _ => {
                return Err(format!(
                    "patch line {no}: every hunk line starts with ` ` (context), `-` (removed) or `+` (added); got \
                     {raw:?}. A context line keeps its leading space"
                ));
            }
        }
    }
    if let Some(h) = cur.filter(|h| !h.old.is_empty() || !h.new.is_empty()) {
        hunks.push(h);
    }
    Ok(hunks)
}

/// The old start line of `@@ -a,b +c,d @@`, if the header has that shape.
fn unified_header(t: &str) -> Option<usize> {
    let rest = t.strip_prefix("@@")?.trim_start().strip_prefix('-')?;
    let num: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let tail = rest[num.len()..].trim_start_matches(|c: char| c == ',' || c.is_ascii_digit()).trim_start();
    tail.starts_with('+').then(|| num.parse().ok())?
}

fn parse_unified(lines: &[&str]) -> Result<Vec<FileOp>, String> {
    let mut ops = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let Some(old) = line.strip_prefix("--- ").filter(|_| lines.get(i + 1).is_some_and(|n| n.starts_with("+++ ")))
        else {
            if line.starts_with("@@") {
                return Err(format!("patch line {}: a hunk before any `--- a/path` / `+++ b/path` header", i + 1));
            }
            // `diff --git`, `index …`, mode lines and any commentary between files.
            i += 1;
            continue;
        };
        let new = &lines[i + 1][4..];
        i += 2;
        let start = i;
        while i < lines.len()
            && !(lines[i].starts_with("--- ") && lines.get(i + 1).is_some_and(|n| n.starts_with("+++ ")))
            && !lines[i].starts_with("diff ")
        {
            i += 1;
        }
        let hunks = parse_hunks(&lines[start..i], start + 1, Format::Unified)?;
        let (old, new) = (diff_path(old), diff_path(new));
        match (old, new) {
            (None, None) => return Err(format!("patch line {}: both sides are /dev/null", start - 1)),
            (None, Some(path)) => {
                let mut content = String::new();
                for h in &hunks {
                    for l in &h.new {
                        content.push_str(l);
                        content.push('\n');
                    }
                }
                ops.push(FileOp::Add { path, content });
            }
            (Some(path), None) => ops.push(FileOp::Delete { path }),
            (Some(path), Some(to)) => {
                let move_to = (to != path).then_some(to);
                if hunks.is_empty() && move_to.is_none() {
                    return Err(format!("patch line {}: no hunk for {path}", start - 1));
                }
                ops.push(FileOp::Update { path, move_to, hunks });
            }
        }
    }
    Ok(ops)
}

/// `a/src/x.rs\t2024-…` → `src/x.rs`; `/dev/null` → None.
fn diff_path(s: &str) -> Option<String> {
    let p = s.split('\t').next().unwrap_or(s).trim();
    if p == "/dev/null" {
        return None;
    }
    Some(p.strip_prefix("a/").or_else(|| p.strip_prefix("b/")).unwrap_or(p).to_string())
}

/// Why a hunk did not apply; the message names the hunk and shows the nearest lines.
#[derive(Debug)]
pub(crate) struct HunkError {
    pub message: String,
}

/// How one hunk was placed, for the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Placed {
    pub strategy: Strategy,
    /// 1-based first line of the hunk in the new text.
    pub line: usize,
}

/// Applies `hunks` in order to `text`. The result ends with a newline (as Codex writes files); a CRLF file stays
/// CRLF and a BOM stays.
pub(crate) fn apply_hunks(text: &str, hunks: &[Hunk]) -> Result<(String, Vec<Placed>), HunkError> {
    let (bom, body) = match text.strip_prefix('\u{feff}') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let crlf = body.contains("\r\n") && !body.replace("\r\n", "").contains('\n');
    let body = if crlf { body.replace("\r\n", "\n") } else { body.to_string() };
    let mut file: Vec<String> = body.split('\n').map(str::to_string).collect();
    if body.ends_with('\n') || body.is_empty() {
        file.pop();
    }
    let mut cursor = 0usize;
    let mut placed = Vec::new();
    let total = hunks.len();
    for (k, h) in hunks.iter().enumerate() {
        let fail = |what: String| HunkError {
            message: format!("hunk {} of {total} (patch line {}): {what}", k + 1, h.patch_line),
        };
        for c in &h.context {
            let refs: Vec<&str> = file.iter().map(String::as_str).collect();
            let at = edits::seek_lines(&refs, cursor, &[c.as_str()])
                .or_else(|| edits::seek_lines(&refs, 0, &[c.as_str()]))
                .map(|(_, s)| s[0]);
            match at {
                Some(i) => cursor = i + 1,
                None => return Err(fail(format!("the `@@ {c}` line is not in the file"))),
            }
        }
        if h.old.is_empty() {
            let at = if h.context.is_empty() || h.end_of_file { file.len() } else { cursor };
            file.splice(at..at, h.new.iter().cloned());
            placed.push(Placed { strategy: Strategy::Exact, line: at + 1 });
            cursor = at + h.new.len();
            continue;
        }
        let refs: Vec<&str> = file.iter().map(String::as_str).collect();
        let mut old: Vec<&str> = h.old.iter().map(String::as_str).collect();
        let mut new = h.new.clone();
        let mut found = seek(&refs, cursor, &old, h);
        // A blank line the model left at the end of a hunk: retry without it (on both sides).
        while found.is_none() && old.len() > 1 && old.last().is_some_and(|l| l.trim().is_empty()) {
            old.pop();
            if new.last().is_some_and(|l| l.trim().is_empty()) {
                new.pop();
            }
            found = seek(&refs, cursor, &old, h);
        }
        let Some((strategy, s)) = found else {
            let orig: Vec<&str> = h.old.iter().map(String::as_str).collect();
            let shown = refs.join("\n");
            return Err(fail(format!(
                "its context and `-` lines are not in the file (tried exact, then ignoring trailing whitespace, \
                 indentation and Unicode punctuation).\n{}",
                edits::closest_lines(&shown, &orig)
            )));
        };
        if matches!(strategy, Strategy::Indentation | Strategy::Punctuation) {
            new = edits::rebase_lines(&old, &refs[s..s + old.len()], &new);
        }
        let n_new = new.len();
        file.splice(s..s + old.len(), new);
        placed.push(Placed { strategy, line: s + 1 });
        cursor = s + n_new;
    }
    let mut out = String::new();
    if bom {
        out.push('\u{feff}');
    }
    let nl = if crlf { "\r\n" } else { "\n" };
    for l in &file {
        out.push_str(l);
        out.push_str(nl);
    }
    Ok((out, placed))
}

/// The window for `old`: after the cursor, else anywhere; the last one for an end-of-file hunk, the nearest to
/// the header's line number when it has one, else the first.
fn seek(file: &[&str], cursor: usize, old: &[&str], h: &Hunk) -> Option<(Strategy, usize)> {
    let (strategy, starts) = edits::seek_lines(file, cursor, old).or_else(|| edits::seek_lines(file, 0, old))?;
    let pick = if h.end_of_file {
        starts.iter().copied().find(|s| s + old.len() == file.len()).unwrap_or(*starts.last()?)
    } else if let Some(hint) = h.hint {
        *starts.iter().min_by_key(|s| (**s as i64 - hint.saturating_sub(1) as i64).abs())?
    } else {
        starts[0]
    };
    Some((strategy, pick))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(patch: &str, text: &str) -> String {
        let ops = parse(patch).unwrap();
        let FileOp::Update { hunks, .. } = &ops[0] else { panic!("{ops:?}") };
        apply_hunks(text, hunks).unwrap().0
    }

    #[test]
    fn codex_update_with_context_and_two_hunks() {
        let text = "a\nb\nc\nd\ne\nf\ng\n";
        let patch = "*** Begin Patch\n*** Update File: x\n@@\n a\n-b\n+B\n c\n@@ e\n-f\n+F\n*** End Patch";
        assert_eq!(update(patch, text), "a\nB\nc\nd\ne\nF\ng\n");
    }

    #[test]
    fn heredoc_fence_whitespace_and_eof() {
        let patch = "apply_patch <<'EOF'\n  *** Begin Patch\n*** Update File: x\n@@\n-last\n+LAST\n*** End of File\n *** End Patch \nEOF";
        assert_eq!(update(patch, "last\nmid\nlast\n"), "last\nmid\nLAST\n");
        let fenced = "```\n*** Begin Patch\n*** Update File: x\n-a\n+b\n*** End Patch\n```";
        assert_eq!(update(fenced, "a\n"), "b\n");
    }

    #[test]
    fn unified_diff_with_hint_and_add_delete() {
        let patch = "--- a/x\n+++ b/x\n@@ -5,1 +5,1 @@\n-dup\n+DUP\n--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1 @@\n+hi\n--- a/old\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n";
        let ops = parse(patch).unwrap();
        assert_eq!(ops[1], FileOp::Add { path: "new.txt".into(), content: "hi\n".into() });
        assert_eq!(ops[2], FileOp::Delete { path: "old".into() });
        let FileOp::Update { hunks, .. } = &ops[0] else { panic!() };
        assert_eq!(apply_hunks("dup\nx\nx\nx\ndup\n", hunks).unwrap().0, "dup\nx\nx\nx\nDUP\n");
    }

    #[test]
    fn indentation_and_punctuation_fallbacks_rebase() {
        let patch =
            "*** Begin Patch\n*** Update File: x\n@@\n-if x:\n-    return “a”\n+if x:\n+    return 'b'\n*** End Patch";
        assert_eq!(
            update(patch, "def f():\n    if x:\n        return \"a\"\n"),
            "def f():\n    if x:\n        return 'b'\n"
        );
    }

    #[test]
    fn malformed_patches_are_refused_with_the_line() {
        assert!(parse("*** Begin Patch\n*** Update File: x\n@@\n-a\n+b\n").unwrap_err().contains("End Patch"));
        assert!(parse("*** Begin Patch\n*** Frobnicate: x\n*** End Patch").unwrap_err().contains("patch line 2"));
        assert!(
            parse("*** Begin Patch\n*** Update File: x\n@@\nno prefix\n*** End Patch")
                .unwrap_err()
                .contains("patch line 4")
        );
        assert!(parse("just text").unwrap_err().contains("not a patch"));
        assert!(
            parse("*** Begin Patch\n*** Update File: x\n@@\n→ arrow\n*** End Patch")
                .unwrap_err()
                .contains("patch line 4")
        );
        let ops = parse("*** Begin Patch\n*** Update File: x\n@@\n-zzz\n+y\n*** End Patch").unwrap();
        let FileOp::Update { hunks, .. } = &ops[0] else { panic!() };
        assert!(apply_hunks("a\nb\n", hunks).unwrap_err().message.contains("hunk 1 of 1 (patch line 3)"));
    }
}
