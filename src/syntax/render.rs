//! The refusal text shown to the model: each new error in a numbered window of the text.

use super::*;

/// The refusal text for the model: each new error with a numbered window of the would-be text around it, then how
/// to proceed.
///
/// `changed`: the lines of the new text the write changed (1-based, inclusive), when there was an old text. When
/// tree-sitter's error recovery puts an error away from them (it may start an error where the enclosing construct
/// starts, far above the edit), the refusal also shows where the change is.
pub(crate) fn render_errors(
    path: &str,
    lang: Lang,
    new_text: &str,
    errors: &[SyntaxError],
    changed: Option<(usize, usize)>,
) -> String {
    let mut out = String::new();
    let count = errors.len();
    let noun = if count == 1 { "error" } else { "errors" };
    let _ = writeln!(out, "Refused: this write would introduce {count} {} syntax {noun} into {path}:", lang.name());
    let lines: Vec<&str> = new_text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
    let width = (errors.iter().map(|e| e.line).max().unwrap_or(1) + CONTEXT_LINES).to_string().len();
    for error in errors.iter().take(MAX_RENDERED) {
        let _ = writeln!(out, "\n{path}:{}:{}: {}", error.line, error.column, error.message);
        let row = error.line.saturating_sub(1);
        let first = row.saturating_sub(CONTEXT_LINES);
        let last = (row + CONTEXT_LINES).min(lines.len().saturating_sub(1));
        for (i, line) in lines.iter().enumerate().take(last + 1).skip(first) {
            let marker = if i == row { '>' } else { ' ' };
            let (shown, caret_at) = window(line, error.column.saturating_sub(1));
            let _ = writeln!(out, "{marker} {:>width$} | {shown}", i + 1);
            if i == row {
                let _ = writeln!(out, "  {:>width$} | {caret_at}^", "");
            }
        }
    }
    if count > MAX_RENDERED {
        let _ = writeln!(out, "\n… and {} more.", count - MAX_RENDERED);
    }
    if let Some((first, last)) = changed {
        let near = |e: &SyntaxError| e.line + CONTEXT_LINES >= first && e.line <= last + CONTEXT_LINES;
        if !errors.iter().take(MAX_RENDERED).any(near) {
            let _ = writeln!(
                out,
                "\nThe parser reports the error where its recovery starts; the change itself is at line {first}{}:",
                if last > first { format!("-{last}") } else { String::new() }
            );
            let shown_last = last.min(first + 2).min(lines.len());
            for (i, line) in lines.iter().enumerate().take(shown_last).skip(first.saturating_sub(1)) {
                let (shown, _) = window(line, 0);
                let _ = writeln!(out, "  {:>width$} | {shown}", i + 1, width = width.max((last + 1).to_string().len()));
            }
        }
    }
    let _ = write!(
        out,
        "\nThe file was not written. Fix the edit and retry. If you are sure the code is valid and the {} grammar is \
         wrong, retry with allow_syntax_errors: true.",
        lang.name()
    );
    out
}

/// A line clipped to at most ~120 chars around `column` (0-based, in chars), and the padding that puts a caret
/// under that column. Tabs in the padding stay tabs so the caret lines up however the reader renders them.
fn window(line: &str, column: usize) -> (String, String) {
    const SPAN: usize = 120;
    let chars: Vec<char> = line.chars().collect();
    let start = if chars.len() > SPAN { column.saturating_sub(SPAN / 2).min(chars.len() - SPAN) } else { 0 };
    let end = (start + SPAN).min(chars.len());
    let mut shown = String::new();
    let mut pad = String::new();
    if start > 0 {
        shown.push('…');
        pad.push(' ');
    }
    shown.extend(&chars[start..end]);
    if end < chars.len() {
        shown.push('…');
    }
    for &c in chars.iter().take(column.min(chars.len())).skip(start) {
        pad.push(if c == '\t' { '\t' } else { ' ' });
    }
    // A column past the end of the line (an error at the line's end) still gets its caret.
    pad.extend(std::iter::repeat_n(' ', column.saturating_sub(chars.len().max(start))));
    (shown, pad)
}

/// The first whitespace-delimited token at or after byte `from`, with its offset; `None` at the end of the text.
pub(super) fn token_after(text: &str, from: usize) -> Option<(usize, &str)> {
    let rest = text.get(from..)?;
    let skipped = rest.len() - rest.trim_start().len();
    let token = rest.split_whitespace().next()?;
    Some((from + skipped, token))
}
