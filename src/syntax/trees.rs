//! The cache of parse trees that makes checking an edit an incremental reparse.

use super::*;

/// At most this many parse trees are kept, most recently used first out last.
const CACHED_TREES: usize = 8;
/// ... and at most this much text in all (a tree costs a few times its text).
const CACHED_BYTES: usize = 16 << 20;
/// read_file warms the cache for files at least this large; smaller ones parse in a few milliseconds anyway.
pub(crate) const WARM_MIN_BYTES: usize = 32 << 10;

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
pub(crate) fn changed_lines(old: &str, new: &str) -> (usize, usize) {
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
