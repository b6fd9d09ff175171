//! Python indentation, checked as CPython's tokenizer does (tree-sitter-python cannot).

use super::*;

pub(super) const EMPTY_BLOCK: &str = "expected an indented block";

/// Python's indentation rules, checked the way CPython's tokenizer does, because tree-sitter-python silently
/// accepts lost indentation (a flattened body) and unexpected indents.
///
/// Rules: indentation is measured on the first physical line of each logical line, skipping blank and comment-only
/// lines and lines inside brackets, strings or backslash continuations. A stack of levels starts at `[0]`. A line
/// after a block header (a logical line whose last token is a `:` outside brackets) must be indented deeper than the
/// stack top and pushes its level; any other deeper line is an "unexpected indent"; a shallower line pops levels and
/// must land exactly on one. Tabs advance to the next multiple of 8, and as in CPython a level must compare the same
/// way when tabs count as 1 column, or the mix of tabs and spaces is ambiguous.
///
/// Returns the errors and, for each "expected an indented block" error, the line on which its header ended (where
/// tree-sitter puts the matching empty block).
pub(super) fn python_indentation(text: &str) -> (Vec<SyntaxError>, Vec<usize>) {
    let mut errors = Vec::new();
    let mut headers_reported = Vec::new();
    // Each level is (column with tab size 8, column with tab size 1).
    let mut stack: Vec<(usize, usize)> = vec![(0, 0)];
    // The header awaiting its indented block: (its first line, its text, its last line), lines 1-based. Quoted
    // (clipped, allocated) only when an error names it.
    let mut pending: Option<(usize, &str, usize)> = None;
    let quote = |first: usize, text: &str, last: usize| {
        // A header spanning lines is quoted by its first line, marked as cut.
        if first == last { clip_header(text) } else { format!("{} …", clip_header(text)) }
    };
    let mut scanner = PyScanner::default();
    let lines: Vec<&str> = text.split('\n').collect();
    let mut logical_start: Option<(usize, &str)> = None;
    for (index, raw) in lines.iter().enumerate() {
        if errors.len() >= MAX_ERRORS {
            break;
        }
        let line_no = index + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let continues = scanner.in_string() || scanner.depth > 0 || scanner.backslash;
        scanner.backslash = false;
        if !continues {
            let (col, alt, rest) = indentation(line);
            let blank = rest.is_empty() || rest.starts_with('#');
            if !blank {
                let (top, top_alt) = stack.last().copied().unwrap_or((0, 0));
                let header = pending.take();
                if let Some((header_line, header_text, header_end)) = header
                    && col <= top
                {
                    headers_reported.push(header_end);
                    errors.push(SyntaxError {
                        line: line_no,
                        column: 1,
                        message: format!(
                            "expected an indented block after `{}` on line {header_line}",
                            quote(header_line, header_text, header_end)
                        ),
                    });
                }
                if col > top {
                    if header.is_none() {
                        errors.push(SyntaxError { line: line_no, column: 1, message: "unexpected indent".into() });
                    } else if alt <= top_alt {
                        errors.push(SyntaxError {
                            line: line_no,
                            column: 1,
                            message: "inconsistent use of tabs and spaces in indentation".into(),
                        });
                    }
                    // Accept the new level either way, so the rest of this block does not cascade into errors.
                    stack.push((col, alt));
                } else if col < top {
                    while stack.last().is_some_and(|&(c, _)| col < c) {
                        stack.pop();
                    }
                    match stack.last() {
                        Some(&(c, a)) if c == col => {
                            if a != alt {
                                errors.push(SyntaxError {
                                    line: line_no,
                                    column: 1,
                                    message: "inconsistent use of tabs and spaces in indentation".into(),
                                });
                            }
                        }
                        _ => {
                            errors.push(SyntaxError {
                                line: line_no,
                                column: col.min(line.chars().count()) + 1,
                                message: "unindent does not match any outer indentation level".into(),
                            });
                            stack.push((col, alt));
                        }
                    }
                } else if alt != top_alt {
                    errors.push(SyntaxError {
                        line: line_no,
                        column: 1,
                        message: "inconsistent use of tabs and spaces in indentation".into(),
                    });
                }
                logical_start = Some((line_no, rest));
            }
        }
        scanner.scan_line(line);
        let ends_logical = !(scanner.in_string() || scanner.depth > 0 || scanner.backslash);
        if ends_logical {
            if scanner.last_significant == Some(b':')
                && let Some((start, header_text)) = logical_start.take()
            {
                pending = Some((start, header_text, line_no));
            }
            scanner.last_significant = None;
        }
    }
    if let Some((header_line, header_text, header_end)) = pending
        && errors.len() < MAX_ERRORS
    {
        headers_reported.push(header_end);
        // The header is the last statement: the block it promises never comes.
        let line = lines.len().max(1);
        errors.push(SyntaxError {
            line,
            column: 1,
            message: format!(
                "expected an indented block after `{}` on line {header_line}",
                quote(header_line, header_text, header_end)
            ),
        });
    }
    (errors, headers_reported)
}

/// The header as quoted in a message: its first physical line, clipped.
fn clip_header(rest: &str) -> String {
    let mut out: String = rest.trim_end().chars().take(60).collect();
    if rest.trim_end().chars().count() > 60 {
        out.push('…');
    }
    out
}

/// The indentation of a line as (columns with tab size 8, columns with tab size 1) and the text after it.
/// A form feed resets the column, as in CPython.
fn indentation(line: &str) -> (usize, usize, &str) {
    let (mut col, mut alt) = (0, 0);
    for (i, c) in line.char_indices() {
        match c {
            ' ' => {
                col += 1;
                alt += 1;
            }
            '\t' => {
                col = (col / 8 + 1) * 8;
                alt += 1;
            }
            '\x0c' => {
                col = 0;
                alt = 0;
            }
            _ => return (col, alt, &line[i..]),
        }
    }
    (col, alt, "")
}

/// Just enough of a Python tokenizer to know, line by line, whether we are inside a string, inside brackets or in a
/// backslash continuation, and which significant character ended the logical line.
#[derive(Default)]
struct PyScanner {
    /// The open string's quote char and whether it is triple-quoted.
    string: Option<(u8, bool)>,
    depth: usize,
    backslash: bool,
    last_significant: Option<u8>,
}

impl PyScanner {
    fn in_string(&self) -> bool {
        self.string.is_some()
    }

    fn scan_line(&mut self, line: &str) {
        // Bytes, not chars: every char that matters here is ASCII, and ASCII bytes never occur inside a multi-byte
        // UTF-8 sequence, so this is exact and avoids decoding every line.
        let chars = line.as_bytes();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if let Some((quote, triple)) = self.string {
                if c == b'\\' {
                    // A backslash escapes the next char, even in raw strings as far as termination is concerned;
                    // at the end of a line it continues the string onto the next line.
                    i += 2;
                    continue;
                }
                if c == quote {
                    if !triple {
                        self.string = None;
                        self.last_significant = Some(c);
                    } else if chars.get(i + 1) == Some(&quote) && chars.get(i + 2) == Some(&quote) {
                        self.string = None;
                        self.last_significant = Some(c);
                        i += 3;
                        continue;
                    }
                }
                i += 1;
                continue;
            }
            match c {
                b'#' => break,
                b'\\' if i + 1 == chars.len() => {
                    self.backslash = true;
                }
                b'\'' | b'"' => {
                    let triple = chars.get(i + 1) == Some(&c) && chars.get(i + 2) == Some(&c);
                    self.string = Some((c, triple));
                    i += if triple { 3 } else { 1 };
                    continue;
                }
                b'(' | b'[' | b'{' => self.depth += 1,
                b')' | b']' | b'}' => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
            if !(c.is_ascii_whitespace() || (c == b'\\' && self.backslash)) {
                self.last_significant = Some(c);
            }
            i += 1;
        }
        // A single-quoted string cannot span lines without a backslash; ending it here keeps one broken string from
        // swallowing the rest of the file (tree-sitter reports the string itself).
        if let Some((_, false)) = self.string
            && !line.ends_with('\\')
        {
            self.string = None;
        }
    }
}
