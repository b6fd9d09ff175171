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
pub const MAX_ERRORS: usize = 50;

/// At most this many errors are shown in full in a refusal; the rest are only counted, to keep the text compact.
const MAX_RENDERED: usize = 5;

/// Lines shown on either side of an error line in a refusal.
const CONTEXT_LINES: usize = 2;

/// A parse that takes longer than this is abandoned and reported as not checked: the gate must never stall a write.
const PARSE_DEADLINE: Duration = Duration::from_secs(3);

/// The languages the gate knows. Markdown is deliberately absent: its grammars never report errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    Rust,
    Python,
    JavaScript,
    TypeScript,
    Tsx,
    Go,
    C,
    Cpp,
    Java,
    CSharp,
    Ruby,
    Php,
    Kotlin,
    Swift,
    Bash,
    Json,
    Toml,
    Yaml,
    Html,
    Css,
}

impl Lang {
    /// Every language, in declaration order; the index of a language here is its parser slot.
    pub const ALL: [Lang; 20] = [
        Lang::Rust,
        Lang::Python,
        Lang::JavaScript,
        Lang::TypeScript,
        Lang::Tsx,
        Lang::Go,
        Lang::C,
        Lang::Cpp,
        Lang::Java,
        Lang::CSharp,
        Lang::Ruby,
        Lang::Php,
        Lang::Kotlin,
        Lang::Swift,
        Lang::Bash,
        Lang::Json,
        Lang::Toml,
        Lang::Yaml,
        Lang::Html,
        Lang::Css,
    ];

    /// Detects the language by extension first (case-insensitive), then by well-known file names, then by shebang.
    ///
    /// Files whose format only looks like a gated language return `None`, because a false refusal costs more than
    /// a missed check: JSONC files such as `tsconfig.json` (trailing commas are legal there), lock files other than
    /// the TOML ones, and `.h` headers are sniffed for C++ before being treated as C.
    pub fn detect(path: &str, text: &str) -> Option<Lang> {
        let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
        let lower = name.to_ascii_lowercase();
        if is_jsonc_name(&lower) {
            return None;
        }
        if let Some(lang) = by_file_name(&lower) {
            return Some(lang);
        }
        let ext = match lower.rfind('.') {
            // A leading dot alone (".bashrc") is a hidden file, not an extension; those were handled by name.
            Some(0) | None => "",
            Some(i) => &lower[i + 1..],
        };
        let by_ext = match ext {
            "rs" => Some(Lang::Rust),
            "py" | "pyi" | "pyw" => Some(Lang::Python),
            "js" | "mjs" | "cjs" | "jsx" => Some(Lang::JavaScript),
            "ts" | "mts" | "cts" => Some(Lang::TypeScript),
            "tsx" => Some(Lang::Tsx),
            "go" => Some(Lang::Go),
            "c" => Some(Lang::C),
            "h" => Some(if looks_like_cpp(text) { Lang::Cpp } else { Lang::C }),
            "cc" | "cpp" | "cxx" | "c++" | "hpp" | "hh" | "hxx" | "h++" | "ipp" | "tpp" => Some(Lang::Cpp),
            "java" => Some(Lang::Java),
            "cs" => Some(Lang::CSharp),
            "rb" | "rake" | "gemspec" | "ru" => Some(Lang::Ruby),
            "php" | "phtml" => Some(Lang::Php),
            "kt" | "kts" => Some(Lang::Kotlin),
            "swift" => Some(Lang::Swift),
            "sh" | "bash" => Some(Lang::Bash),
            "json" => Some(Lang::Json),
            "toml" => Some(Lang::Toml),
            "yaml" | "yml" => Some(Lang::Yaml),
            "html" | "htm" | "xhtml" => Some(Lang::Html),
            "css" => Some(Lang::Css),
            // Any other extension names a format we do not parse; a shebang must not override it (a `.txt` that
            // happens to start with `#!` is still text).
            "" => None,
            _ => return None,
        };
        by_ext.or_else(|| by_shebang(text))
    }

    /// A human-readable name, as used in refusals.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
            Lang::JavaScript => "JavaScript",
            Lang::TypeScript => "TypeScript",
            Lang::Tsx => "TSX",
            Lang::Go => "Go",
            Lang::C => "C",
            Lang::Cpp => "C++",
            Lang::Java => "Java",
            Lang::CSharp => "C#",
            Lang::Ruby => "Ruby",
            Lang::Php => "PHP",
            Lang::Kotlin => "Kotlin",
            Lang::Swift => "Swift",
            Lang::Bash => "Bash",
            Lang::Json => "JSON",
            Lang::Toml => "TOML",
            Lang::Yaml => "YAML",
            Lang::Html => "HTML",
            Lang::Css => "CSS",
        }
    }

    fn slot(self) -> usize {
        Lang::ALL.iter().position(|&l| l == self).unwrap_or(0)
    }

    /// The tree-sitter grammar of this language.
    pub fn grammar(self) -> tree_sitter::Language {
        match self {
            Lang::Rust => tree_sitter_rust::LANGUAGE.into(),
            Lang::Python => tree_sitter_python::LANGUAGE.into(),
            Lang::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            Lang::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            Lang::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
            Lang::Go => tree_sitter_go::LANGUAGE.into(),
            Lang::C => tree_sitter_c::LANGUAGE.into(),
            Lang::Cpp => tree_sitter_cpp::LANGUAGE.into(),
            Lang::Java => tree_sitter_java::LANGUAGE.into(),
            Lang::CSharp => tree_sitter_c_sharp::LANGUAGE.into(),
            Lang::Ruby => tree_sitter_ruby::LANGUAGE.into(),
            // The full PHP grammar, not PHP_ONLY: real PHP files mix in HTML outside `<?php … ?>`.
            Lang::Php => tree_sitter_php::LANGUAGE_PHP.into(),
            Lang::Kotlin => tree_sitter_kotlin_ng::LANGUAGE.into(),
            Lang::Swift => tree_sitter_swift::LANGUAGE.into(),
            Lang::Bash => tree_sitter_bash::LANGUAGE.into(),
            Lang::Json => tree_sitter_json::LANGUAGE.into(),
            Lang::Toml => tree_sitter_toml_ng::LANGUAGE.into(),
            Lang::Yaml => tree_sitter_yaml::LANGUAGE.into(),
            Lang::Html => tree_sitter_html::LANGUAGE.into(),
            Lang::Css => tree_sitter_css::LANGUAGE.into(),
        }
    }
}

/// Well-known file names without a telling extension. `lower` is the lowercased base name.
fn by_file_name(lower: &str) -> Option<Lang> {
    match lower {
        // These lock files are TOML; other lock files (yarn.lock, Gemfile.lock, …) are formats of their own.
        "cargo.lock" | "poetry.lock" | "uv.lock" | "pdm.lock" | "pipfile" => Some(Lang::Toml),
        ".bashrc" | ".bash_profile" | ".bash_login" | ".bash_logout" | ".bash_aliases" | ".profile" | "pkgbuild" => {
            Some(Lang::Bash)
        }
        "gemfile" | "rakefile" | "guardfile" | "podfile" | "vagrantfile" | "brewfile" | "fastfile" | "appfile"
        | "dangerfile" | "capfile" | "berksfile" | "thorfile" => Some(Lang::Ruby),
        _ => None,
    }
}

/// True for file names whose JSON is really JSONC, where trailing commas are legal and the JSON grammar would refuse
/// them; `detect` must not fall through to the `.json` extension for these.
fn is_jsonc_name(lower: &str) -> bool {
    matches!(lower, "tsconfig.json" | "jsconfig.json" | ".eslintrc.json" | "devcontainer.json" | ".devcontainer.json")
        || (lower.starts_with("tsconfig.") && lower.ends_with(".json"))
}

/// A cheap sniff for C++ in a `.h` header: parsing C++ with the C grammar would refuse valid edits.
fn looks_like_cpp(text: &str) -> bool {
    let head = text.get(..text.len().min(64 * 1024)).unwrap_or(text);
    ["namespace ", "template <", "template<", "class ", "public:", "private:", "std::", "#include <iostream>", "::"]
        .iter()
        .any(|marker| head.contains(marker))
}

/// The language named by a `#!` line, if any: `#!/usr/bin/env python3`, `#!/bin/bash`, `#!/usr/bin/env -S node …`.
fn by_shebang(text: &str) -> Option<Lang> {
    let first = text.lines().next()?.strip_prefix("#!")?;
    let mut words = first.split_whitespace();
    let mut program = words.next()?.rsplit('/').next()?;
    if program == "env" {
        // `env` may carry flags (-S, -i) and VAR=value assignments before the interpreter.
        program = words.find(|w| !w.starts_with('-') && !w.contains('='))?;
        program = program.rsplit('/').next()?;
    }
    // Version suffixes (python3.12, ruby2.7, php8) do not change the language.
    let base = program.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.' || c == '-');
    match base {
        "python" | "pypy" => Some(Lang::Python),
        "bash" | "sh" | "dash" | "ksh" => Some(Lang::Bash),
        "node" | "nodejs" | "bun" => Some(Lang::JavaScript),
        "ts-node" | "tsx" | "deno" => Some(Lang::TypeScript),
        "ruby" => Some(Lang::Ruby),
        "php" => Some(Lang::Php),
        _ => None,
    }
}

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

/// At most this many parse trees are kept, most recently used first out last.
const CACHED_TREES: usize = 8;
/// ... and at most this much text in all (a tree costs a few times its text).
const CACHED_BYTES: usize = 16 << 20;
/// read_file warms the cache for files at least this large; smaller ones parse in a few milliseconds anyway.
pub const WARM_MIN_BYTES: usize = 32 << 10;

/// Parse trees of recently checked or read texts, one per key (a file's path), so that checking an edit reparses
/// only what changed: tree-sitter's incremental parsing, given the byte range where the new text differs. After a
/// one-line edit of a 10,000-line file that is a fraction of a millisecond instead of a full parse.
///
/// Each entry keeps the text its tree was parsed from, and the edit is computed from that text to the one being
/// checked: a tree is never applied to a text it does not describe, whatever happened to the file in between.
pub struct Trees {
    state: Mutex<TreesState>,
    warmed: Condvar,
    reused: AtomicUsize,
}

#[derive(Default)]
struct TreesState {
    /// Least recently used first.
    entries: VecDeque<Cached>,
    /// The key a background parse is working on.
    warming: Option<String>,
}

struct Cached {
    key: String,
    lang: Lang,
    text: String,
    tree: Tree,
    /// The text has no syntax error.
    clean: bool,
}

impl Default for Trees {
    fn default() -> Trees {
        Trees { state: Mutex::default(), warmed: Condvar::new(), reused: AtomicUsize::new(0) }
    }
}

impl Trees {
    fn lock(&self) -> std::sync::MutexGuard<'_, TreesState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many checks reused a cached tree (for tests and benchmarks).
    pub fn reused(&self) -> usize {
        self.reused.load(Ordering::Relaxed)
    }

    /// Checks `text` as `lang`, reparsing incrementally from the tree cached under `key` when there is one (and
    /// waiting for a background parse of `key` that is under way), then caches the new tree under `key`.
    ///
    /// The report is always the one a full parse gives. An incremental parse that finds no error proves the text
    /// valid (its tree is a derivation of the whole text), but tree-sitter's error recovery can place and name
    /// errors differently than a fresh parse would, so a text with errors is parsed again from scratch: refusals
    /// and the comparison with the errors already there stay exactly what they were. A test compares both on
    /// every gate case and on chains of random edits.
    pub fn check(&self, key: &str, lang: Lang, text: &str) -> Report {
        let incremental = self.take(key, lang).and_then(|base| {
            let Cached { text: old_text, tree: mut old_tree, clean: old_clean, .. } = base;
            old_tree.edit(&input_edit(&old_text, text));
            let tree = parse_tree(lang, text, Some(&old_tree))?;
            self.reused.fetch_add(1, Ordering::Relaxed);
            // The walk for the signals that are not error nodes (empty Python blocks, stray HTML end tags) need
            // only visit what changed when the old text had none: anywhere else the new tree has the old
            // structure.
            let changed: Vec<std::ops::Range<usize>>;
            let within = if old_clean && !tree.root_node().has_error() {
                changed = old_tree.changed_ranges(&tree).map(|r| r.start_byte..r.end_byte).collect();
                Some(changed.as_slice())
            } else {
                None
            };
            let report = report_within(lang, &tree, text, within);
            Some((tree, report))
        });
        let (tree, report) = match incremental {
            Some((tree, report)) if report.errors.is_empty() => (tree, report),
            _ => match parse_tree(lang, text, None) {
                Some(tree) => {
                    let report = report_of(lang, &tree, text);
                    (tree, report)
                }
                None => return Report::unchecked(lang),
            },
        };
        let clean = report.errors.is_empty();
        self.put(Cached { key: key.to_string(), lang, text: text.to_string(), tree, clean });
        report
    }

    /// Parses `text` on a background thread and caches its tree under `key`, so that the edit likely to follow a
    /// read is checked incrementally. Skipped for small texts, when `key` already holds this text, and while another
    /// background parse runs (one at a time: it must never compete with the calls themselves for long).
    pub fn warm(self: &Arc<Self>, key: &str, lang: Lang, text: &str) {
        if text.len() < WARM_MIN_BYTES || text.len() > CACHED_BYTES {
            return;
        }
        {
            let mut state = self.lock();
            if state.warming.is_some() || state.entries.iter().any(|e| e.key == key && e.lang == lang && e.text == text)
            {
                return;
            }
            state.warming = Some(key.to_string());
        }
        let (trees, key, text) = (Arc::clone(self), key.to_string(), text.to_string());
        let parse = move || {
            // Clears `warming` and wakes waiters however the parse ends, a panic included.
            let _done = WarmDone(&trees);
            if let Some(tree) = parse_tree(lang, &text, None) {
                let clean = report_of(lang, &tree, &text).errors.is_empty();
                trees.put(Cached { key, lang, text, tree, clean });
            }
        };
        if std::thread::Builder::new().name("codebox-parse".into()).spawn(parse).is_err() {
            // No thread to spare: no warming, and nothing waits for it.
            self.lock().warming = None;
            self.warmed.notify_all();
        }
    }

    /// Removes and returns the entry for `key`, after any background parse of it has finished.
    fn take(&self, key: &str, lang: Lang) -> Option<Cached> {
        let state = self.lock();
        let (mut state, _) = self
            .warmed
            .wait_timeout_while(state, PARSE_DEADLINE, |s| s.warming.as_deref() == Some(key))
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let at = state.entries.iter().position(|e| e.key == key && e.lang == lang)?;
        state.entries.remove(at)
    }

    fn put(&self, entry: Cached) {
        if entry.text.len() > CACHED_BYTES {
            return;
        }
        let mut state = self.lock();
        state.entries.retain(|e| e.key != entry.key);
        state.entries.push_back(entry);
        while state.entries.len() > CACHED_TREES
            || state.entries.iter().map(|e| e.text.len()).sum::<usize>() > CACHED_BYTES
        {
            state.entries.pop_front();
        }
    }
}

struct WarmDone<'a>(&'a Trees);

impl Drop for WarmDone<'_> {
    fn drop(&mut self) {
        self.0.lock().warming = None;
        self.0.warmed.notify_all();
    }
}

/// The edit that turns `old` into `new`: the span between their common prefix and common suffix.
fn input_edit(old: &str, new: &str) -> InputEdit {
    let (a, b) = (old.as_bytes(), new.as_bytes());
    let prefix = common_prefix(a, b);
    let suffix = common_suffix(&a[prefix..], &b[prefix..]);
    let (old_end, new_end) = (a.len() - suffix, b.len() - suffix);
    InputEdit {
        start_byte: prefix,
        old_end_byte: old_end,
        new_end_byte: new_end,
        start_position: point_at(a, prefix),
        old_end_position: point_at(a, old_end),
        new_end_position: point_at(b, new_end),
    }
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    // Whole chunks first: slice equality is a memcmp.
    while i + 64 <= n && a[i..i + 64] == b[i..i + 64] {
        i += 64;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let (ea, eb) = (a.len(), b.len());
    let mut i = 0;
    while i + 64 <= n && a[ea - i - 64..ea - i] == b[eb - i - 64..eb - i] {
        i += 64;
    }
    while i < n && a[ea - i - 1] == b[eb - i - 1] {
        i += 1;
    }
    i
}

/// The lines of `new` that differ from `old` (1-based, inclusive; a pure deletion gives the line where it was).
pub fn changed_lines(old: &str, new: &str) -> (usize, usize) {
    let (a, b) = (old.as_bytes(), new.as_bytes());
    let prefix = common_prefix(a, b);
    let suffix = common_suffix(&a[prefix..], &b[prefix..]);
    let end = b.len() - suffix;
    // The last changed byte's line (a change that ends with a newline ends on that line, not the next).
    let last_byte = if end > prefix { end - 1 } else { prefix };
    (point_at(b, prefix).row + 1, point_at(b, last_byte).row + 1)
}

/// tree-sitter's position of a byte offset: 0-based row, byte column.
fn point_at(text: &[u8], byte: usize) -> Point {
    let before = &text[..byte];
    let row = memchr::memchr_iter(b'\n', before).count();
    let column = byte - memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
    Point { row, column }
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

const EMPTY_BLOCK: &str = "expected an indented block";

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
fn python_indentation(text: &str) -> (Vec<SyntaxError>, Vec<usize>) {
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

/// The errors of `new` that `old` did not have.
///
/// Errors are matched as a multiset keyed by (message with digits blanked, trimmed text of the error's line): each
/// error of `old` excuses one identical error of `new`. Keying on the line's text rather than its number makes the
/// match immune to lines inserted or removed above an old error, and blanking digits keeps messages that quote a
/// line number ("… on line 3") comparable after such a shift. An edit that adds a second, identical error on an
/// identical line is still caught, because each old error excuses only one. An edit of the very line that holds an
/// old error makes that error count as new: the model touched the broken line and left it broken.
pub fn new_errors(old: &Report, old_text: &str, new: &Report, new_text: &str) -> Vec<SyntaxError> {
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

/// The refusal text for the model: each new error with a numbered window of the would-be text around it, then how
/// to proceed.
///
/// `changed`: the lines of the new text the write changed (1-based, inclusive), when there was an old text. When
/// tree-sitter's error recovery puts an error away from them (it may start an error where the enclosing construct
/// starts, far above the edit), the refusal also shows where the change is.
pub fn render_errors(
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
fn token_after(text: &str, from: usize) -> Option<(usize, &str)> {
    let rest = text.get(from..)?;
    let skipped = rest.len() - rest.trim_start().len();
    let token = rest.split_whitespace().next()?;
    Some((from + skipped, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gate as the caller runs it: the errors a write of `after` over `before` would introduce.
    fn gate(lang: Lang, before: &str, after: &str) -> Vec<SyntaxError> {
        let old = check(lang, before);
        let new = check(lang, after);
        assert!(old.checked && new.checked, "{lang:?}: parser did not run");
        new_errors(&old, before, &new, after)
    }

    const RUST: &str = "use std::fmt;\n\npub struct Point {\n    x: i32,\n    y: i32,\n}\n\nimpl fmt::Display for Point {\n    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {\n        write!(f, \"({}, {})\", self.x, self.y)\n    }\n}\n";
    const PYTHON: &str = "import os\n\n\nclass User:\n    def __init__(self, first, last):\n        self.first = first\n        self.last = last\n\n    def full_name(self):\n        return f\"{self.first} {self.last}\"\n";
    const JS: &str = "import fs from 'node:fs';\n\nexport function load(path) {\n  const text = fs.readFileSync(path, 'utf8');\n  return JSON.parse(text);\n}\n";
    const TS: &str = "interface User {\n  id: number;\n  name: string;\n}\n\nexport function greet(user: User): string {\n  return `Hello, ${user.name}`;\n}\n";
    const TSX: &str = "type Props = { name: string };\n\nexport function Hello({ name }: Props) {\n  return <div className=\"hello\">Hello, {name}</div>;\n}\n";
    const GO: &str =
        "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfor i := 0; i < 3; i++ {\n\t\tfmt.Println(i)\n\t}\n}\n";
    const C_SRC: &str = "#include <stdio.h>\n\nint add(int a, int b) {\n    return a + b;\n}\n\nint main(void) {\n    printf(\"%d\\n\", add(1, 2));\n    return 0;\n}\n";
    const CPP: &str = "#include <vector>\n\nnamespace geo {\ntemplate <typename T>\nclass Stack {\npublic:\n    void push(T v) { items.push_back(v); }\nprivate:\n    std::vector<T> items;\n};\n}\n";
    const JAVA: &str = "package app;\n\npublic class Greeter {\n    private final String name;\n\n    public Greeter(String name) {\n        this.name = name;\n    }\n\n    public String greet() {\n        return \"Hello, \" + name;\n    }\n}\n";
    const CSHARP: &str = "using System;\n\nnamespace App\n{\n    public class Greeter\n    {\n        public string Greet(string name)\n        {\n            return $\"Hello, {name}\";\n        }\n    }\n}\n";
    const RUBY: &str = "class Greeter\n  def initialize(name)\n    @name = name\n  end\n\n  def greet\n    \"Hello, #{@name}\"\n  end\nend\n";
    const PHP: &str = "<?php\n\nfunction greet(string $name): string\n{\n    return \"Hello, \" . $name;\n}\n\necho greet(\"world\");\n";
    const KOTLIN: &str = "package app\n\ndata class User(val name: String)\n\nfun greet(user: User): String {\n    return \"Hello, ${user.name}\"\n}\n";
    const SWIFT: &str = "import Foundation\n\nstruct User {\n    let name: String\n}\n\nfunc greet(_ user: User) -> String {\n    return \"Hello, \\(user.name)\"\n}\n";
    const BASH: &str = "#!/bin/bash\nset -euo pipefail\n\nfor f in \"$@\"; do\n  if [ -f \"$f\" ]; then\n    echo \"$f\"\n  fi\ndone\n";
    const JSON: &str =
        "{\n  \"name\": \"app\",\n  \"version\": \"1.0.0\",\n  \"scripts\": {\n    \"test\": \"jest\"\n  }\n}\n";
    const TOML: &str = "[package]\nname = \"app\"\nversion = \"0.1.0\"\n\n[dependencies]\nserde = { version = \"1\", features = [\"derive\"] }\n";
    const YAML: &str = "name: CI\non:\n  push:\n    branches: [main]\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - name: Test\n        run: cargo test\n";
    const HTML: &str = "<!DOCTYPE html>\n<html>\n  <head>\n    <title>App</title>\n  </head>\n  <body>\n    <div class=\"main\">\n      <p>Hello</p>\n    </div>\n  </body>\n</html>\n";
    const CSS: &str = "body {\n  margin: 0;\n  font-family: sans-serif;\n}\n\n.main > p {\n  color: #333;\n}\n";

    /// Applies a one-off textual edit, failing the test if the anchor is not there exactly once.
    fn edit(text: &str, from: &str, to: &str) -> String {
        assert_eq!(text.matches(from).count(), 1, "anchor {from:?} must occur once");
        text.replacen(from, to, 1)
    }

    fn edits() -> Vec<(Lang, &'static str, String, bool)> {
        use Lang::*;
        // One edit per row: (language, file before, text replaced, replacement, must the write be refused?).
        let rows: Vec<(Lang, &str, &str, &str, bool)> = vec![
            (Rust, RUST, "    y: i32,\n", "    y: i32,\n    z: i32,\n", false),
            (Rust, RUST, "self.x, self.y)\n", "self.x, self.y\n", true),
            (
                Python,
                PYTHON,
                "        self.last = last\n",
                "        self.last = last\n        self.age = None\n",
                false,
            ),
            (Python, PYTHON, "return f\"{self.first} {self.last}\"", "return f\"{self.first} {self.last}\" +", true),
            (
                JavaScript,
                JS,
                "  return JSON.parse(text);\n",
                "  const data = JSON.parse(text);\n  return data;\n",
                false,
            ),
            (JavaScript, JS, "  return JSON.parse(text);\n}\n", "  return JSON.parse(text);\n", true),
            (TypeScript, TS, "  name: string;\n", "  name: string;\n  email?: string;\n", false),
            (TypeScript, TS, "(user: User): string {", "(user: User): string", true),
            (Tsx, TSX, "Hello, {name}</div>", "Hi, {name}!</div>", false),
            (Tsx, TSX, "Hello, {name}</div>", "Hello, {name</div>", true),
            (Go, GO, "\t\tfmt.Println(i)\n", "\t\tfmt.Println(i * 2)\n", false),
            (Go, GO, "i < 3; i++ {", "i < 3; i++", true),
            (C, C_SRC, "    return a + b;\n", "    int sum = a + b;\n    return sum;\n", false),
            (C, C_SRC, "    return a + b;\n", "    return a + ;\n", true),
            (Cpp, CPP, "    std::vector<T> items;\n", "    std::vector<T> items;\n    int count = 0;\n", false),
            (Cpp, CPP, "items.push_back(v); }", "items.push_back(v);", true),
            (Java, JAVA, "        return \"Hello, \" + name;\n", "        return \"Hi, \" + name + \"!\";\n", false),
            (Java, JAVA, "        this.name = name;\n", "        this.name = name\n", true),
            (CSharp, CSHARP, "return $\"Hello, {name}\";", "return $\"Hi, {name}!\";", false),
            (CSharp, CSHARP, "public string Greet(string name)", "public string Greet(string name", true),
            (Ruby, RUBY, "  def greet\n", "  def greet(loud = false)\n", false),
            (Ruby, RUBY, "    \"Hello, #{@name}\"\n  end\n", "    \"Hello, #{@name}\"\n", true),
            (Php, PHP, "echo greet(\"world\");", "echo greet(\"PHP\");", false),
            (Php, PHP, "return \"Hello, \" . $name;", "return \"Hello, \" . ;", true),
            (
                Kotlin,
                KOTLIN,
                "data class User(val name: String)",
                "data class User(val name: String, val age: Int = 0)",
                false,
            ),
            (Kotlin, KOTLIN, "fun greet(user: User): String {", "fun greet(user: User): String", true),
            (Swift, SWIFT, "    let name: String\n", "    let name: String\n    var age: Int = 0\n", false),
            (Swift, SWIFT, "func greet(_ user: User) -> String {", "func greet(_ user: User) -> String", true),
            (Bash, BASH, "    echo \"$f\"\n", "    echo \"found: $f\"\n", false),
            (Bash, BASH, "  fi\ndone\n", "  fi\n", true),
            (Json, JSON, "\"test\": \"jest\"\n", "\"test\": \"jest\",\n    \"lint\": \"eslint .\"\n", false),
            (Json, JSON, "\"test\": \"jest\"\n", "\"test\": \"jest\",\n", true),
            (Json, JSON, "    \"test\": \"jest\"\n  }\n}", "    \"test\": \"jest\"\n  }\n", true),
            (Toml, TOML, "version = \"0.1.0\"\n", "version = \"0.2.0\"\nedition = \"2024\"\n", false),
            (Toml, TOML, "features = [\"derive\"] }", "features = [\"derive\" }", true),
            (
                Yaml,
                YAML,
                "        run: cargo test\n",
                "        run: cargo test --all\n      - name: Lint\n        run: cargo clippy\n",
                false,
            ),
            // The break we fear in YAML: a key dedented between two levels, a tab, an unclosed flow sequence.
            (Yaml, YAML, "        run: cargo test\n", "       run: cargo test\n", true),
            (Yaml, YAML, "        run: cargo test\n", "\trun: cargo test\n", true),
            (Yaml, YAML, "branches: [main]", "branches: [main, dev", true),
            (Yaml, YAML, "    runs-on: ubuntu-latest\n", "    runs-on: ubuntu-latest\n      timeout: 10\n", true),
            (Html, HTML, "<p>Hello</p>", "<p>Hello, <b>world</b></p>", false),
            (Html, HTML, "    </div>\n", "    </div>\n    </section>\n", true),
            (Css, CSS, "  color: #333;\n", "  color: #333;\n  margin: 0 auto;\n", false),
            (Css, CSS, "  color: #333;\n}\n", "  color: #333;\n", true),
        ];
        rows.into_iter()
            .map(|(lang, before, from, to, refused)| (lang, before, edit(before, from, to), refused))
            .collect()
    }

    /// A deterministic generator of indices below `n` (xorshift64), for the random edit chains.
    fn xorshift(mut seed: u64) -> impl FnMut(usize) -> usize {
        move |n| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        }
    }

    /// An incremental check (from the tree cached for the previous text) reports exactly what a full parse reports:
    /// for every gate case, both ways, and for a chain of random mutations of every sample.
    #[test]
    fn incremental_checks_agree_with_full_checks() {
        let trees = Trees::default();
        let cases = edits();
        for (i, (lang, before, after, _)) in cases.iter().enumerate() {
            let key = format!("f{i}");
            for text in [*before, after.as_str(), *before] {
                assert_eq!(trees.check(&key, *lang, text), check(*lang, text), "{lang:?}:\n{text}");
            }
        }
        assert!(trees.reused() >= 2 * cases.len(), "{} reuses", trees.reused());

        const PIECES: [&str; 14] = ["{", "}", "(", ")", ";", "\n", " ", "x", "\"", "'", ":", "    ", "é", "\n    "];
        let mut next = xorshift(0x2545_f491_4f6c_dd1du64);
        for (i, (lang, before, _, _)) in cases.iter().enumerate() {
            let key = format!("m{i}");
            let mut text = before.to_string();
            for _ in 0..25 {
                let mut at = next(text.len() + 1);
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                if next(2) == 0 {
                    let mut end = (at + 1 + next(6)).min(text.len());
                    while !text.is_char_boundary(end) {
                        end += 1;
                    }
                    text.replace_range(at..end, "");
                } else {
                    text.insert_str(at, PIECES[next(PIECES.len())]);
                }
                assert_eq!(trees.check(&key, *lang, &text), check(*lang, &text), "{lang:?}:\n{text}");
            }
        }
    }

    /// Line-level edits (a line duplicated, deleted, or swapped with the next) keep texts valid more often than
    /// character noise does, and produce the signals found by walking the tree (empty Python blocks, stray HTML end
    /// tags): the incremental walk limited to the changed ranges must find exactly what a full walk finds.
    #[test]
    fn incremental_checks_agree_with_full_checks_under_line_edits() {
        let trees = Trees::default();
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15u64);
        let (mut clean_to_clean, mut clean_to_broken) = (0, 0);
        for (i, (lang, before, _, _)) in edits().iter().enumerate() {
            let key = format!("l{i}");
            let mut lines: Vec<String> = before.lines().map(str::to_string).collect();
            let mut was_clean = trees.check(&key, *lang, before).errors.is_empty();
            for _ in 0..25 {
                if lines.len() < 2 {
                    break;
                }
                let at = next(lines.len() - 1);
                match next(3) {
                    0 => lines.insert(at, lines[at].clone()),
                    1 => drop(lines.remove(at)),
                    _ => lines.swap(at, at + 1),
                }
                let text = lines.join("\n") + "\n";
                let report = trees.check(&key, *lang, &text);
                assert_eq!(report, check(*lang, &text), "{lang:?}:\n{text}");
                let clean = report.errors.is_empty();
                clean_to_clean += usize::from(was_clean && clean);
                clean_to_broken += usize::from(was_clean && !clean);
                was_clean = clean;
            }
        }
        assert!(
            clean_to_clean > 20 && clean_to_broken > 20,
            "{clean_to_clean} / {clean_to_broken}: the chains explore both"
        );
    }

    /// A background parse started by a read is what the next check of that path reparses from.
    #[test]
    fn a_warmed_tree_is_reused_by_the_next_check() {
        let trees = Arc::new(Trees::default());
        let body = "pub fn f(items: &[u32]) -> u32 {\n    let mut total = 0;\n    for x in items {\n        total += x * 2;\n    }\n    total\n}\n\n";
        let text = body.repeat(WARM_MIN_BYTES / body.len() + 1);
        trees.warm("big.rs", Lang::Rust, &text);
        let edited = text.replacen("x * 2", "x * 3", 1);
        assert_eq!(trees.check("big.rs", Lang::Rust, &edited), check(Lang::Rust, &edited));
        assert_eq!(trees.reused(), 1, "the check waited for the warm parse and reused its tree");
        // A small file is not warmed: a full parse of it is already fast.
        trees.warm("small.rs", Lang::Rust, body);
        trees.check("small.rs", Lang::Rust, body);
        assert_eq!(trees.reused(), 1);
    }

    #[test]
    fn every_language_has_a_passing_and_a_refused_edit() {
        let rows = edits();
        for lang in Lang::ALL {
            assert!(rows.iter().any(|r| r.0 == lang && !r.3), "{lang:?} lacks a valid edit");
            assert!(rows.iter().any(|r| r.0 == lang && r.3), "{lang:?} lacks a breaking edit");
        }
        let mut failures = Vec::new();
        for (lang, before, after, refused) in &rows {
            assert!(
                check(*lang, before).errors.is_empty(),
                "{lang:?} fixture is not valid: {:?}",
                check(*lang, before)
            );
            let found = gate(*lang, before, after);
            if found.is_empty() == *refused {
                failures.push(format!("{lang:?}: refused={refused} but got {found:?} for\n{after}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    }

    const USER: &str = "class User:\n    def __init__(self, first):\n        self.first = first\n\n    def full_name(self):\n        return self.first\n";

    #[test]
    fn python_flattened_method_body_is_refused_at_the_right_line() {
        let after = edit(USER, "        return self.first\n", "return self.first\n");
        let found = gate(Lang::Python, USER, &after);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].line, found[0].column), (6, 1));
        assert_eq!(found[0].message, "expected an indented block after `def full_name(self):` on line 5");
    }

    #[test]
    fn python_whole_flattened_method_is_refused() {
        let after = edit(USER, "    def full_name(self):\n        return", "def full_name(self):\nreturn");
        let found = gate(Lang::Python, USER, &after);
        assert_eq!(found.iter().map(|e| e.line).collect::<Vec<_>>(), vec![6], "{found:?}");
        // The whole class flattened: both headers lose their blocks.
        let flat: String = USER.lines().map(|l| format!("{}\n", l.trim_start())).collect();
        let found = gate(Lang::Python, USER, &flat);
        assert!(found.iter().any(|e| e.line == 2 && e.message.contains("`class User:` on line 1")), "{found:?}");
    }

    #[test]
    fn python_empty_block_signal_fires_on_its_own() {
        // The backstop behind the indentation check: tree-sitter's empty `block`, even deep inside a class.
        let text = "class User:\n    def full_name(self):\n    x = 1\n";
        let mut parser = new_parser(Lang::Python).expect("grammar loads");
        let tree = parse(&mut parser, text, None).expect("parses");
        let found = tree_errors(Lang::Python, &tree, text, None);
        assert_eq!(found.iter().map(|e| (e.line, e.message.as_str())).collect::<Vec<_>>(), vec![(2, EMPTY_BLOCK)]);
        // In the full check the indentation error replaces it, so the model sees one error, not two.
        assert_eq!(check(Lang::Python, text).errors.len(), 1);
    }

    #[test]
    fn html_stray_end_tag_is_refused() {
        let found = check(Lang::Html, "<div>\n  <p>x</p>\n</span>\n</div>\n").errors;
        assert!(found.iter().any(|e| e.line == 3), "{found:?}");
    }

    #[test]
    fn python_unexpected_indent_and_bad_dedent_are_refused() {
        let extra = edit(USER, "        self.first = first\n", "        self.first = first\n            self.x = 1\n");
        let found = gate(Lang::Python, USER, &extra);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].line, found[0].message.as_str()), (4, "unexpected indent"));

        let dedent =
            edit(USER, "        return self.first\n", "        if self.first:\n            return 1\n      return 2\n");
        let found = gate(Lang::Python, USER, &dedent);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].line, 8);
        assert!(found[0].message.contains("unindent does not match"), "{found:?}");

        let tabs = "if x:\n\tpass\n        pass\n";
        assert!(!check(Lang::Python, tabs).errors.is_empty());
        assert!(!check(Lang::Python, "def f():\n    pass\nif x:\n").errors.is_empty(), "a header at EOF");
        assert!(!check(Lang::Python, "    x = 1\n").errors.is_empty(), "an indented first line");
    }

    #[test]
    fn valid_python_has_no_false_positives() {
        let text = r#"#!/usr/bin/env python3
import os, \
    sys

CONFIG = {
    "a": [1,
  2, 3],
        "b": (4,
    5),
}
total = 1 + \
        2


def f(x, y=lambda: 0,
        *args):
    """Docstring with
weird
            indentation:
    """
# a comment at column 0 inside a block
    s = '''also:
  weird'''
    t = "a # not a comment:"  # a comment:
    u = r"back\"slash" + 'it''s'
    if x: return y
    match x:
        case {"k": v}:
            pass
        case [1, 2, *rest]:
            return rest
        case _:
            return f"{x!r:>10} {y['k']}"

    for i in range(3):

        pass
    else:
        pass
    return [i
for i in x]


class A: pass


@decorator(
    arg=1,
)
class B(A):
    x: int = 0
    y = x[1:2]

    async def g(self):
        async with self.lock:
            await self.h()
        try:
            pass
        except (ValueError,
                TypeError):
            pass
        finally:
            pass
"#;
        let report = check(Lang::Python, text);
        assert!(report.checked);
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        // CRLF line endings and a file without a final newline are just as valid.
        assert!(check(Lang::Python, &text.replace('\n', "\r\n")).errors.is_empty());
        assert!(check(Lang::Python, text.trim_end()).errors.is_empty());
    }

    #[test]
    fn an_already_broken_file_can_be_edited_elsewhere() {
        let broken = edit(RUST, "self.x, self.y)\n", "self.x, self.y\n");
        assert!(!check(Lang::Rust, &broken).errors.is_empty());
        // An edit elsewhere that adds no error passes.
        let elsewhere = edit(&broken, "    y: i32,\n", "    y: i32,\n    z: i32,\n");
        assert!(gate(Lang::Rust, &broken, &elsewhere).is_empty());
        // Lines inserted above the old error shift it; that is not a new error.
        let above = format!("// header\n// more\n\n{broken}");
        assert!(gate(Lang::Rust, &broken, &above).is_empty());
        // A second, distinct error is caught.
        let second = edit(&broken, "    x: i32,\n", "    x: i32\n    w: i32,,\n");
        assert!(!gate(Lang::Rust, &broken, &second).is_empty());

        // The same in Python, whose messages quote a line number that shifts with the insertion.
        let flat = edit(USER, "        return self.first\n", "return self.first\n");
        let shifted = format!("import os\nimport sys\n\n{flat}");
        assert!(gate(Lang::Python, &flat, &shifted).is_empty());
        let twice = edit(&flat, "        self.first = first\n", "        self.first = first\n          self.y = 2\n");
        assert_eq!(gate(Lang::Python, &flat, &twice).len(), 1);
    }

    #[test]
    fn an_identical_second_error_on_an_identical_line_is_caught() {
        let before = "{\n  \"a\": 1,\n}\n";
        let after = "{\n  \"a\": 1,\n}\n{\n  \"a\": 1,\n}\n";
        assert!(!gate(Lang::Json, before, after).is_empty());
    }

    #[test]
    fn yaml_misses_are_documented() {
        // Duplicate keys are invalid YAML 1.2 (and TOML) but the grammars accept them; a key dedented onto another
        // valid level is valid YAML with a different meaning. Both pass the gate: this test pins that down so a grammar upgrade
        // that starts catching them is noticed.
        assert!(check(Lang::Yaml, "a: 1\na: 2\n").errors.is_empty());
        let onto_steps_level = edit(YAML, "        run: cargo test\n", "    run: cargo test\n");
        assert!(gate(Lang::Yaml, YAML, &onto_steps_level).is_empty());
        assert!(check(Lang::Toml, "[a]\nb = 1\nb = 2\n").errors.is_empty());
    }

    #[test]
    fn render_errors_shows_location_window_caret_and_advice() {
        let after = edit(USER, "        return self.first\n", "return self.first\n");
        let found = gate(Lang::Python, USER, &after);
        let text = render_errors("app/user.py", Lang::Python, &after, &found, None);
        let expected = "\
Refused: this write would introduce 1 Python syntax error into app/user.py:

app/user.py:6:1: expected an indented block after `def full_name(self):` on line 5
  4 | 
  5 |     def full_name(self):
> 6 | return self.first
    | ^
  7 | 

The file was not written. Fix the edit and retry. If you are sure the code is valid and the Python grammar is \
wrong, retry with allow_syntax_errors: true.";
        assert_eq!(text, expected);

        let rust = edit(RUST, "        write!", "        let = 1;\n        write!");
        let found = check(Lang::Rust, &rust).errors;
        let text = render_errors("src/p.rs", Lang::Rust, &rust, &found, None);
        assert!(text.contains("src/p.rs:10:13: unexpected `=`\n"), "{text}");
        assert!(text.contains("\n> 10 |         let = 1;\n     |             ^\n"), "{text}");
    }

    #[test]
    fn changed_lines_of_replacements_insertions_and_deletions() {
        assert_eq!(changed_lines("a\nb\nc\n", "a\nB\nc\n"), (2, 2));
        assert_eq!(changed_lines("a\nb\nc\n", "a\nb\nx\ny\nc\n"), (3, 4));
        assert_eq!(changed_lines("a\nb\nc\n", "a\nc\n"), (2, 2));
        assert_eq!(changed_lines("a\n", "a\n"), (2, 2));
    }

    /// When recovery reports an error far from the edit, the refusal also shows where the edit is.
    #[test]
    fn a_refusal_points_at_the_change_when_the_error_is_elsewhere() {
        let error = SyntaxError { line: 1, column: 1, message: "unexpected `def`".into() };
        let text = "def a(x):\n    pass\n\n\n\n\ndef b(x:\n    pass\n";
        let far = render_errors("m.py", Lang::Python, text, std::slice::from_ref(&error), Some((7, 7)));
        assert!(far.contains("the change itself is at line 7:\n  7 | def b(x:"), "{far}");
        let near = render_errors("m.py", Lang::Python, text, &[error], Some((2, 2)));
        assert!(!near.contains("the change itself"), "{near}");
    }

    #[test]
    fn render_errors_caps_the_list() {
        let errors: Vec<SyntaxError> =
            (1..=8).map(|line| SyntaxError { line, column: 1, message: "unexpected `x`".into() }).collect();
        let text = render_errors("a.rs", Lang::Rust, "x\n".repeat(8).as_str(), &errors, None);
        assert_eq!(text.matches("\na.rs:").count(), 5);
        assert!(text.contains("… and 3 more."));
    }

    #[test]
    fn error_messages_name_the_unexpected_and_the_missing() {
        let missing = check(Lang::Rust, "fn main() {\n    let x = 1\n    let y = 2;\n}\n").errors;
        assert!(missing.iter().any(|e| e.message == "missing `;`" && e.line == 2), "{missing:?}");
        let unexpected = check(Lang::Json, "{\"a\": 1}}\n").errors;
        assert!(unexpected.iter().any(|e| e.message == "unexpected `}`"), "{unexpected:?}");
        // Columns count chars, not bytes.
        let wide = check(Lang::Json, "{\"é€\": 1,}\n").errors;
        assert_eq!(wide.first().map(|e| (e.line, e.column)), Some((1, 9)), "{wide:?}");
    }

    #[test]
    fn no_panics_on_odd_input() {
        let odd = ["", "\n", "\u{feff}", "\0\0\0", "((((((((((", "\"\"\"", "\\", "\r\r\r", "é\u{301}", "\t\t\tx:"];
        let deep = "[".repeat(20_000);
        for lang in Lang::ALL {
            for text in odd.iter().copied().chain([deep.as_str()]) {
                let report = check(lang, text);
                assert!(report.errors.len() <= MAX_ERRORS);
                let _ = render_errors("f", lang, text, &report.errors, Some((1, 3)));
                let _ = new_errors(&report, text, &report, text);
            }
        }
        let _ = render_errors(
            "f",
            Lang::Rust,
            "",
            &[SyntaxError { line: 99, column: 99, message: "x".into() }],
            Some((5, 9)),
        );
    }

    #[test]
    fn detect_by_extension_name_and_shebang() {
        let cases = [
            ("src/main.rs", "", Some(Lang::Rust)),
            ("A/B.PY", "", Some(Lang::Python)),
            ("stubs/x.pyi", "", Some(Lang::Python)),
            ("x.mjs", "", Some(Lang::JavaScript)),
            ("x.cts", "", Some(Lang::TypeScript)),
            ("x.tsx", "", Some(Lang::Tsx)),
            ("x.h", "int f(void);\n", Some(Lang::C)),
            ("x.h", "namespace a { class B; }\n", Some(Lang::Cpp)),
            ("x.hpp", "", Some(Lang::Cpp)),
            ("x.kts", "", Some(Lang::Kotlin)),
            ("x.yml", "", Some(Lang::Yaml)),
            ("x.htm", "", Some(Lang::Html)),
            ("Cargo.lock", "", Some(Lang::Toml)),
            ("yarn.lock", "", None),
            ("Gemfile.lock", "", None),
            ("tsconfig.json", "", None),
            ("package.json", "", Some(Lang::Json)),
            ("/home/u/.bashrc", "", Some(Lang::Bash)),
            ("Gemfile", "", Some(Lang::Ruby)),
            ("Rakefile", "", Some(Lang::Ruby)),
            ("bin/tool", "#!/usr/bin/env python3\nprint(1)\n", Some(Lang::Python)),
            ("bin/tool", "#!/bin/bash\n", Some(Lang::Bash)),
            ("bin/tool", "#!/usr/bin/env -S node --harmony\n", Some(Lang::JavaScript)),
            ("bin/tool", "#!/usr/bin/ruby2.7 -w\n", Some(Lang::Ruby)),
            ("bin/tool", "#!/usr/bin/env php\n", Some(Lang::Php)),
            ("bin/tool", "#!/usr/bin/perl\n", None),
            ("notes.txt", "#!/bin/bash\n", None),
            ("README.md", "", None),
            ("Makefile", "", None),
        ];
        for (path, text, want) in cases {
            assert_eq!(Lang::detect(path, text), want, "{path}");
        }
    }
}
