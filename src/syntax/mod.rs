//! The syntax gate: decides whether a file write would introduce syntax errors.
//!
//! This module owns language detection from a path (and a shebang), parsing with the tree-sitter grammars, the
//! checks the grammars cannot do themselves (Python indentation, stray HTML end tags), the comparison of the errors
//! before and after an edit, the refusal text shown to the model, and a cache of parse trees (`Trees`) so that
//! checking an edit reparses only what changed. It is text in, report out: it never fails, never panics on any
//! input and never does I/O. Deciding whether to write the file stays with the caller.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tree_sitter::{InputEdit, Node, ParseOptions, ParseState, Parser, Point, Tree};

/// More errors than this are noise: the model needs the first few, and a file this broken is refused anyway.
pub(crate) const MAX_ERRORS: usize = 50;

/// At most this many errors are shown in full in a refusal; the rest are only counted, to keep the text compact.
const MAX_RENDERED: usize = 5;

/// Lines shown on either side of an error line in a refusal.
const CONTEXT_LINES: usize = 2;

/// A parse that takes longer than this is abandoned and reported as not checked: the gate must never stall a write.
const PARSE_DEADLINE: Duration = Duration::from_secs(3);

mod lang;
mod python;
mod render;
#[cfg(test)]
mod tests;
mod trees;

pub use lang::Lang;
use python::{EMPTY_BLOCK, python_indentation};
pub(crate) use render::render_errors;
use render::token_after;
pub use trees::Trees;
pub(crate) use trees::{WARM_MIN_BYTES, changed_lines};

/// One syntax error, located in the checked text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in chars (not bytes) from the start of the line.
    pub column: usize,
    /// What is wrong, e.g. "unexpected `}`", "missing `;`", "unexpected indent".
    pub message: String,
}

/// The outcome of checking one text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub lang: Lang,
    /// In text order, at most `MAX_ERRORS`.
    pub errors: Vec<SyntaxError>,
    /// False when the parser could not run (grammar refused, deadline passed, text too large): absence of errors
    /// then proves nothing, and the caller should let the write through with a note rather than refuse it.
    pub checked: bool,
}

impl Report {
    fn unchecked(lang: Lang) -> Report {
        Report { lang, errors: Vec::new(), checked: false }
    }
}

thread_local! {
    /// One parser per language per thread: setting a language up costs far more than a small parse.
    static PARSERS: RefCell<[Option<Parser>; 20]> = RefCell::new(Default::default());
}

/// Checks `text` as `lang` with a full parse. Never fails: a parser that cannot run yields `checked: false`.
pub fn check(lang: Lang, text: &str) -> Report {
    match parse_tree(lang, text, None) {
        Some(tree) => report_of(lang, &tree, text),
        None => Report::unchecked(lang),
    }
}

/// Parses `text`, reusing `old` (already edited to match `text`) where nothing changed. None when the parser
/// could not run.
pub fn parse_tree(lang: Lang, text: &str, old: Option<&Tree>) -> Option<Tree> {
    // tree-sitter addresses text with u32 byte offsets.
    if u32::try_from(text.len()).is_err() {
        return None;
    }
    PARSERS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut parsers) => {
            let slot = &mut parsers[lang.slot()];
            if slot.is_none() {
                *slot = new_parser(lang);
            }
            slot.as_mut().and_then(|parser| parse(parser, text, old))
        }
        // Only re-entrancy could get here; a throwaway parser is slower but still correct.
        Err(_) => new_parser(lang).and_then(|mut parser| parse(&mut parser, text, old)),
    })
}

/// The errors in a parsed text, with the checks the grammar cannot do itself.
fn report_of(lang: Lang, tree: &Tree, text: &str) -> Report {
    report_within(lang, tree, text, None)
}

/// `report_of`, with the tree walk limited to `within` (see `tree_errors`).
fn report_within(lang: Lang, tree: &Tree, text: &str, within: Option<&[std::ops::Range<usize>]>) -> Report {
    let mut errors = tree_errors(lang, tree, text, within);
    if lang == Lang::Python {
        let (indentation_errors, headers_reported) = python_indentation(text);
        // The empty-block signal and the indentation check see the same flattened body; the indentation check says
        // it better (it names the header and points at the line that should be indented), so it wins.
        errors.retain(|e| e.message != EMPTY_BLOCK || !headers_reported.contains(&e.line));
        errors.extend(indentation_errors);
    }
    errors.sort_by_key(|e| (e.line, e.column));
    // Two checks (or two nodes) may flag the same spot; one report of it is enough.
    errors.dedup_by(|a, b| a.line == b.line && a.column == b.column);
    errors.truncate(MAX_ERRORS);
    Report { lang, errors, checked: true }
}

fn new_parser(lang: Lang) -> Option<Parser> {
    let mut parser = Parser::new();
    parser.set_language(&lang.grammar()).ok()?;
    Some(parser)
}

fn parse(parser: &mut Parser, text: &str, old: Option<&Tree>) -> Option<Tree> {
    let started = Instant::now();
    let mut give_up = |_: &ParseState| {
        if started.elapsed() > PARSE_DEADLINE { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    };
    let bytes = text.as_bytes();
    let mut read = |offset: usize, _| bytes.get(offset..).unwrap_or_default();
    let tree = parser.parse_with_options(&mut read, old, Some(ParseOptions::new().progress_callback(&mut give_up)));
    if tree.is_none() {
        // An abandoned parse leaves state behind that the next parse would try to resume.
        parser.reset();
    }
    tree
}

/// Byte offsets at which each line starts; line `i` (0-based) spans `starts[i]..starts[i + 1]`.
fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect()
}

/// The 1-based (line, char column) of a byte offset.
fn locate(text: &str, starts: &[usize], byte: usize) -> (usize, usize) {
    let byte = byte.min(text.len());
    let row = starts.partition_point(|&s| s <= byte).saturating_sub(1);
    let start = starts.get(row).copied().unwrap_or(0);
    // Offsets from tree-sitter fall on char boundaries for valid UTF-8, but a lossy count is safe either way.
    let column = String::from_utf8_lossy(text.as_bytes().get(start..byte).unwrap_or_default()).chars().count();
    (row + 1, column + 1)
}

/// Clips a token for a message: first line only, at most 30 chars, so one bad token cannot flood a refusal.
fn clip(token: &str) -> String {
    let line = token.lines().next().unwrap_or("").trim();
    let mut out: String = line.chars().take(30).collect();
    if line.chars().count() > 30 || token.trim().lines().nth(1).is_some() {
        out.push('…');
    }
    out
}

/// The first token (leaf) of a node with some text: what the parser stumbled on.
fn first_token<'t>(node: Node<'t>) -> Node<'t> {
    let mut current = node;
    'down: while current.child_count() > 0 {
        let mut cursor = current.walk();
        for child in current.children(&mut cursor) {
            if child.end_byte() > child.start_byte() {
                current = child;
                continue 'down;
            }
        }
        break;
    }
    current
}

/// The errors tree-sitter itself reports: ERROR nodes (something unexpected) and MISSING nodes (something absent),
/// plus the grammar-specific signals the grammars record without an error node.
///
/// `within`: when given, error-free nodes are entered only where they overlap one of these byte ranges (see
/// `Trees::check`).
fn tree_errors(lang: Lang, tree: &Tree, text: &str, within: Option<&[std::ops::Range<usize>]>) -> Vec<SyntaxError> {
    let root = tree.root_node();
    // Python must always be walked, for empty blocks; the other grammars only where an error was recorded.
    let needs_walk = root.has_error() || lang == Lang::Python || lang == Lang::Html;
    if !needs_walk {
        return Vec::new();
    }
    let starts = line_starts(text);
    let bytes = text.as_bytes();
    let roles = roles(lang);
    // ERROR nodes carry an id past the grammar's kinds.
    let role = |node: &Node| roles.get(usize::from(node.kind_id())).copied().unwrap_or(Role::Skip);
    let mut errors = Vec::new();
    let push = |errors: &mut Vec<SyntaxError>, byte: usize, message: String| {
        let (line, column) = locate(text, &starts, byte);
        errors.push(SyntaxError { line, column, message });
    };
    // An explicit cursor walk instead of recursion: deeply nested input must not overflow the stack.
    let mut cursor = tree.walk();
    loop {
        if errors.len() >= MAX_ERRORS {
            break;
        }
        let node = cursor.node();
        let mut descend = false;
        if node.is_missing() {
            push(&mut errors, node.start_byte(), format!("missing `{}`", clip(node.kind())));
        } else if node.is_error()
            && lang == Lang::Yaml
            && let Some((at, token)) = token_after(text, node.end_byte())
        {
            // tree-sitter-yaml wraps the whole enclosing mapping, from its first key, in the ERROR node and stops
            // where the indentation went wrong: the token right after the node is the culprit, not its first one.
            push(&mut errors, at, format!("unexpected `{}`", clip(token)));
        } else if node.is_error() {
            let token = first_token(node);
            let token_text = token.utf8_text(bytes).unwrap_or("");
            let message = if token_text.trim().is_empty() {
                if node.start_byte() >= text.trim_end().len() {
                    "unexpected end of file".to_string()
                } else {
                    "syntax error".to_string()
                }
            } else {
                format!("unexpected `{}`", clip(token_text))
            };
            push(&mut errors, token.start_byte().max(node.start_byte()), message);
        } else if role(&node) == Role::PythonBlock && node.named_child_count() == 0 {
            // An empty block never occurs in valid Python; it is what a body flattened to the header's level leaves.
            push(&mut errors, node.start_byte(), EMPTY_BLOCK.to_string());
        } else if role(&node) == Role::StrayEndTag {
            // The HTML grammar accepts a stray or mismatched end tag without an ERROR node; validators reject it.
            let tag = node.utf8_text(bytes).unwrap_or("");
            push(&mut errors, node.start_byte(), format!("unexpected end tag `{}`", clip(tag)));
        } else {
            // Error-free subtrees are skipped, except where the signals above can hide; even there only nodes
            // that can hold them are entered (compound statements, not expressions), which keeps big files fast.
            descend = node.has_error()
                || (matches!(role(&node), Role::Enter | Role::PythonBlock)
                    && within.is_none_or(|ranges| {
                        ranges.iter().any(|r| node.start_byte() <= r.end && r.start <= node.end_byte())
                    }));
        }
        if descend && cursor.goto_first_child() {
            continue;
        }
        // Move to the next node in document order that is not inside the current one.
        loop {
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return errors;
            }
        }
    }
    errors
}

/// What the error walk does with a node kind that holds no error (see `tree_errors`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Skip,
    /// Entered: it can hold a node the walk looks for.
    Enter,
    /// A Python block: an empty one is a flattened body. Entered.
    PythonBlock,
    /// An HTML end tag without its start tag.
    StrayEndTag,
}

/// Each node kind id of `lang`'s grammar mapped to its role, computed once per language: the walk then compares
/// ids, not kind names.
fn roles(lang: Lang) -> &'static [Role] {
    static ROLES: [OnceLock<Vec<Role>>; Lang::ALL.len()] = [const { OnceLock::new() }; Lang::ALL.len()];
    ROLES[lang.slot()].get_or_init(|| {
        let grammar = lang.grammar();
        (0..grammar.node_kind_count())
            .map(|id| {
                let kind = u16::try_from(id).ok().and_then(|id| grammar.node_kind_for_id(id)).unwrap_or("");
                match (lang, kind) {
                    (Lang::Python, "block") => Role::PythonBlock,
                    // The nodes that hold a block (the grammar's node-types), and the module.
                    (
                        Lang::Python,
                        "module"
                        | "class_definition"
                        | "function_definition"
                        | "decorated_definition"
                        | "if_statement"
                        | "elif_clause"
                        | "else_clause"
                        | "for_statement"
                        | "while_statement"
                        | "try_statement"
                        | "except_clause"
                        | "except_group_clause"
                        | "finally_clause"
                        | "with_statement"
                        | "match_statement"
                        | "case_clause",
                    ) => Role::Enter,
                    (Lang::Html, "document" | "element") => Role::Enter,
                    (Lang::Html, "erroneous_end_tag") => Role::StrayEndTag,
                    _ => Role::Skip,
                }
            })
            .collect()
    })
}

/// The errors of `new` that `old` did not have.
///
/// Errors are matched as a multiset keyed by (message with digits blanked, trimmed text of the error's line): each
/// error of `old` excuses one identical error of `new`. Keying on the line's text rather than its number makes the
/// match immune to lines inserted or removed above an old error, and blanking digits keeps messages that quote a
/// line number ("… on line 3") comparable after such a shift. An edit that adds a second, identical error on an
/// identical line is still caught, because each old error excuses only one. An edit of the very line that holds an
/// old error makes that error count as new: the model touched the broken line and left it broken.
pub(crate) fn new_errors(old: &Report, old_text: &str, new: &Report, new_text: &str) -> Vec<SyntaxError> {
    let mut excused: HashMap<(String, String), usize> = HashMap::new();
    let old_lines: Vec<&str> = old_text.split('\n').collect();
    for error in &old.errors {
        *excused.entry(match_key(error, &old_lines)).or_default() += 1;
    }
    let new_lines: Vec<&str> = new_text.split('\n').collect();
    new.errors
        .iter()
        .filter(|error| match excused.get_mut(&match_key(error, &new_lines)) {
            Some(count) if *count > 0 => {
                *count -= 1;
                false
            }
            _ => true,
        })
        .cloned()
        .collect()
}

fn match_key(error: &SyntaxError, lines: &[&str]) -> (String, String) {
    let message: String = error.message.chars().map(|c| if c.is_ascii_digit() { '#' } else { c }).collect();
    let line = lines.get(error.line.wrapping_sub(1)).map(|l| l.trim()).unwrap_or("");
    (message, line.to_string())
}
