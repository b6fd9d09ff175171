//! Search on ripgrep's own crates: `ignore` walks in parallel, `grep-searcher` reads, `grep-regex` matches.
//! Blocking; called once per search on the blocking pool. Results are sorted by path, so the same search always
//! returns the same text whatever order the threads finished in.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use grep_matcher::Matcher;
use grep_regex::{RegexMatcher, RegexMatcherBuilder};
use grep_searcher::{BinaryDetection, Searcher, SearcherBuilder, Sink, SinkContext, SinkContextKind, SinkMatch};
use ignore::WalkState;

// How letters compare. As a tool parameter it is one of the lower-case names, `smart` when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Case {
    #[default]
    Smart,
    Sensitive,
    Insensitive,
}

// What a search returns. As a tool parameter it is one of the lower-case names, `content` when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Output {
    #[default]
    Content,
    Files,
    Count,
}

pub(crate) struct Query<'a> {
    pub pattern: &'a str,
    pub case: Case,
    pub fixed_strings: bool,
    pub multiline: bool,
    pub context: usize,
    pub output: Output,
    /// Matches shown in content mode (files in files mode, files in count mode).
    pub max_results: usize,
    /// Matches shown per file in content mode.
    pub max_per_file: usize,
    /// Characters of a long line kept around its first match.
    pub max_line_chars: usize,
}

/// One line in a file's result: a match (`:`) or context (`-`).
#[derive(Debug, Clone)]
pub(crate) struct Line {
    pub number: u64,
    pub text: String,
    pub is_match: bool,
}

#[derive(Debug, Default)]
pub(crate) struct FileHits {
    pub path: PathBuf,
    pub matches: u64,
    /// Kept lines (content mode), with `None` marking a break between context groups.
    pub lines: Vec<Option<Line>>,
    pub kept_matches: usize,
}

/// A kept line is a match, or context around one.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LineKind {
    Match,
    Context,
}

pub(crate) struct Report {
    pub files: Vec<FileHits>,
    pub total_matches: u64,
    pub searched_files: u64,
}

/// Builds the matcher; an invalid pattern gives the regex parser's message, which points at the position.
pub(crate) fn matcher(q: &Query<'_>) -> Result<RegexMatcher, String> {
    let mut b = RegexMatcherBuilder::new();
    match q.case {
        Case::Smart => b.case_smart(true),
        Case::Sensitive => b.case_insensitive(false),
        Case::Insensitive => b.case_insensitive(true),
    };
    b.fixed_strings(q.fixed_strings);
    if q.multiline {
        b.multi_line(true).dot_matches_new_line(false);
    } else {
        // A line terminator lets the searcher look for candidate lines fast, as ripgrep does.
        b.line_terminator(Some(b'\n'));
    }
    b.build(q.pattern).map_err(|e| e.to_string())
}

fn searcher(q: &Query<'_>) -> Searcher {
    let mut b = SearcherBuilder::new();
    b.binary_detection(BinaryDetection::quit(b'\0')).line_number(q.output == Output::Content).multi_line(q.multiline);
    if q.output == Output::Content {
        b.before_context(q.context).after_context(q.context);
    }
    b.build()
}

/// Searches everything the walker yields (or a single file). `cancel` stops the walk and the current file.
pub(crate) fn run(
    walk: Option<ignore::WalkBuilder>,
    single: Option<(&Path, &std::fs::File)>,
    q: &Query<'_>,
    m: &RegexMatcher,
    cancel: &AtomicBool,
) -> Report {
    let results: Mutex<Vec<FileHits>> = Mutex::new(Vec::new());
    let searched = std::sync::atomic::AtomicU64::new(0);
    let search_one = |searcher: &mut Searcher, path: &Path, file: Option<&std::fs::File>| {
        let mut sink = Collect {
            q,
            m,
            hits: FileHits { path: path.to_path_buf(), ..Default::default() },
            binary: false,
            cancel,
            pending_break: false,
        };
        searched.fetch_add(1, Ordering::Relaxed);
        let searched_ok = match file {
            Some(f) => searcher.search_file(m, f, &mut sink).is_ok(),
            None => searcher.search_path(m, path, &mut sink).is_ok(),
        };
        if searched_ok && !sink.binary && sink.hits.matches > 0 {
            results.lock().unwrap_or_else(|p| p.into_inner()).push(sink.hits);
        }
    };
    if let Some((path, file)) = single {
        search_one(&mut searcher(q), path, Some(file));
    } else if let Some(walk) = walk {
        walk.build_parallel().run(|| {
            let mut s = searcher(q);
            let search_one = &search_one;
            Box::new(move |entry| {
                if cancel.load(Ordering::Relaxed) {
                    return WalkState::Quit;
                }
                let Ok(e) = entry else { return WalkState::Continue };
                if e.file_type().is_some_and(|t| t.is_file()) {
                    search_one(&mut s, e.path(), None);
                }
                WalkState::Continue
            })
        });
    }
    let mut files = results.into_inner().unwrap_or_else(|p| p.into_inner());
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let total_matches = files.iter().map(|f| f.matches).sum();
    Report { files, total_matches, searched_files: searched.into_inner() }
}

struct Collect<'a, 'q> {
    q: &'a Query<'q>,
    m: &'a RegexMatcher,
    hits: FileHits,
    binary: bool,
    cancel: &'a AtomicBool,
    pending_break: bool,
}

impl Collect<'_, '_> {
    fn keep(&mut self, number: u64, bytes: &[u8], kind: LineKind) {
        let is_match = kind == LineKind::Match;
        if self.pending_break && !self.hits.lines.is_empty() {
            self.hits.lines.push(None);
        }
        self.pending_break = false;
        let raw = String::from_utf8_lossy(bytes);
        let line = raw.trim_end_matches(['\n', '\r']);
        let text = if is_match {
            clip_around_match(line, self.m, self.q.max_line_chars)
        } else {
            clip_start(line, self.q.max_line_chars)
        };
        self.hits.lines.push(Some(Line { number, text, is_match }));
    }
}

impl Sink for Collect<'_, '_> {
    type Error = std::io::Error;

    fn matched(&mut self, _: &Searcher, mat: &SinkMatch<'_>) -> Result<bool, Self::Error> {
        if self.cancel.load(Ordering::Relaxed) {
            return Ok(false);
        }
        self.hits.matches += 1;
        match self.q.output {
            // One match is enough to list the file.
            Output::Files => return Ok(false),
            Output::Count => return Ok(true),
            Output::Content => {}
        }
        if self.hits.kept_matches < self.q.max_per_file {
            self.hits.kept_matches += 1;
            let first = mat.line_number().unwrap_or(0);
            for (i, l) in mat.lines().enumerate() {
                self.keep(first + i as u64, l, LineKind::Match);
            }
        }
        Ok(true)
    }

    fn context(&mut self, _: &Searcher, ctx: &SinkContext<'_>) -> Result<bool, Self::Error> {
        // Context after the per-file cap would only pad the result.
        let after_cap = self.hits.kept_matches >= self.q.max_per_file && *ctx.kind() == SinkContextKind::Before;
        if self.q.output == Output::Content
            && !after_cap
            && (self.hits.kept_matches < self.q.max_per_file || *ctx.kind() == SinkContextKind::After)
        {
            self.keep(ctx.line_number().unwrap_or(0), ctx.bytes(), LineKind::Context);
        }
        Ok(true)
    }

    fn context_break(&mut self, _: &Searcher) -> Result<bool, Self::Error> {
        self.pending_break = true;
        Ok(true)
    }

    fn binary_data(&mut self, _: &Searcher, _: u64) -> Result<bool, Self::Error> {
        self.binary = true;
        Ok(false)
    }
}

/// A long matching line, cut to `max` chars around its first match so the match stays visible.
fn clip_around_match(line: &str, m: &RegexMatcher, max: usize) -> String {
    let count = line.chars().count();
    if count <= max {
        return line.to_string();
    }
    let start_byte = m.find(line.as_bytes()).ok().flatten().map(|mat| mat.start()).unwrap_or(0);
    let match_char = line[..start_byte.min(line.len())].chars().count();
    let from = match_char.saturating_sub(max / 3);
    let to = (from + max).min(count);
    let body: String = line.chars().skip(from).take(to - from).collect();
    format!(
        "{}{body}{}",
        if from > 0 { format!("…[{from} chars]") } else { String::new() },
        if to < count { format!("…[{} chars]", count - to) } else { String::new() }
    )
}

fn clip_start(line: &str, max: usize) -> String {
    match line.char_indices().nth(max) {
        None => line.to_string(),
        Some((cut, _)) => format!("{}…[{} chars]", &line[..cut], line[cut..].chars().count()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_clipped_around_the_match() {
        let m = RegexMatcherBuilder::new().build("NEEDLE").unwrap();
        let line = format!("{}NEEDLE{}", "a".repeat(1000), "b".repeat(1000));
        let c = clip_around_match(&line, &m, 90);
        assert!(c.contains("NEEDLE") && c.starts_with("…[970 chars]") && c.ends_with("…[946 chars]"), "{c}");
    }
}
