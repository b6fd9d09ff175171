//! outline, find_symbol, find_references, repo_map and edit_symbol: code intelligence from the symbol index
//! (`crate::symbols`), with files found by the workspace walk and read through the workspace's kernel-checked
//! opens. edit_symbol writes through edit_file's path: version, syntax gate, atomic write, undo.

use std::collections::{HashMap, HashSet};
use std::io::Read as _;

use crate::error::{ErrorKind, ToolError, ToolResult};
use crate::symbols::index::{Candidate, FileEntry, MAX_FILE_BYTES, Snapshot, Stamp};
use crate::symbols::{self, NameQuery, Symbol, Symbols, map};
use crate::syntax::Lang;
use crate::tools::{Cancel, Context};
use crate::workspace::walk::WalkOptions;

/// Definitions find_symbol lists; more are counted.
const MAX_FOUND: usize = 20;
/// ... and with bodies.
const MAX_BODIES: usize = 5;
/// Body lines shown per definition; longer ones say how to read the rest.
const MAX_BODY_LINES: u32 = 400;
/// Files and lines find_references shows; the rest are counted.
const MAX_REF_FILES: usize = 30;
const MAX_REF_LINES: usize = 200;
const MAX_REFS_PER_FILE: usize = 20;
/// repo_map's budget when the call gives none, and its bounds.
pub(crate) const MAP_DEFAULT_CHARS: usize = 6000;
pub(crate) const MAP_MAX_CHARS: usize = 100_000;
// Where edit_symbol puts `body`: in place of the symbol (the default), or as new source before or after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Position {
    #[default]
    Replace,
    Before,
    After,
}

/// The files in scope: one file, or the indexable files under a directory (ignore rules honoured).
fn candidates(ctx: &Context, path: Option<&str>, cancel: &Cancel) -> ToolResult<(Vec<Candidate>, Option<String>)> {
    let target = ctx.ws.path(path.unwrap_or("."))?;
    match ctx.ws.dir_path(&target) {
        Ok(_) => {
            let (_, b) = ctx.ws.walker(&target, &WalkOptions::default())?;
            // A parallel walk: stat-ing every file of a large tree is most of a warm call.
            let found = std::sync::Mutex::new(Vec::new());
            b.build_parallel().run(|| {
                let found = &found;
                Box::new(move |entry| {
                    use ignore::WalkState;
                    if cancel.is_cancelled() {
                        return WalkState::Quit;
                    }
                    let Ok(entry) = entry else { return WalkState::Continue };
                    if !entry.file_type().is_some_and(|t| t.is_file()) {
                        return WalkState::Continue;
                    }
                    let rel = ctx.ws.relative_display(entry.path());
                    // JSON is data, often large fixtures: indexed only when named (outline of the file itself).
                    let Some(lang) = Lang::detect(&rel, "").filter(|l| symbols::supported(*l) && *l != Lang::Json)
                    else {
                        return WalkState::Continue;
                    };
                    if let Ok(meta) = entry.metadata() {
                        let c = Candidate { rel, lang, stamp: Stamp::of(&meta) };
                        found.lock().unwrap_or_else(|p| p.into_inner()).push(c);
                    }
                    WalkState::Continue
                })
            });
            cancel.check()?;
            let mut out = found.into_inner().unwrap_or_else(|p| p.into_inner());
            out.sort_by(|a, b| a.rel.cmp(&b.rel));
            let scope = if target.is_root() {
                String::new()
            } else {
                ctx.ws.resolved_rel(&target).map(|r| r.display().to_string()).unwrap_or_else(|| target.display())
            };
            Ok((out, Some(scope)))
        }
        Err(e) if *e.kind() == ErrorKind::WrongFileType => {
            let (_, meta) = ctx.ws.open_file(&target)?;
            let rel = ctx.ws.resolved_rel(&target).map(|r| r.display().to_string()).unwrap_or_else(|| target.display());
            let text = read_text(ctx, &rel).unwrap_or_default();
            let lang = Lang::detect(&rel, &text).filter(|l| symbols::supported(*l)).ok_or_else(|| {
                ToolError::new(
                    ErrorKind::Unsupported,
                    format!("{rel:?}: no symbol support for this file type; read_file or search it instead"),
                )
            })?;
            Ok((vec![Candidate { rel, lang, stamp: Stamp::of(&meta) }], None))
        }
        Err(e) => Err(e),
    }
}

/// A file's bytes and the stamp of what was read, through the workspace (never by the walk's path).
fn read_file(ctx: &Context, rel: &str) -> Option<(Vec<u8>, Stamp)> {
    let p = ctx.ws.path(rel).ok()?;
    let (f, meta) = ctx.ws.open_file(&p).ok()?;
    let mut bytes = Vec::with_capacity(meta.len().min(MAX_FILE_BYTES + 1) as usize);
    f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).ok()?;
    Some((bytes, Stamp::of(&meta)))
}

fn read_text(ctx: &Context, rel: &str) -> Option<String> {
    read_file(ctx, rel).map(|(b, _)| String::from_utf8_lossy(&b).into_owned())
}

/// The index brought up to date for a scope.
fn snapshot(ctx: &Context, path: Option<&str>, cancel: &Cancel) -> ToolResult<Snapshot> {
    let (cands, scope) = candidates(ctx, path, cancel)?;
    let snap = ctx.symbols.refresh(scope.as_deref(), &cands, |rel| read_file(ctx, rel), cancel.flag());
    cancel.check()?;
    Ok(snap)
}

fn range(s: &Symbol<'_>) -> String {
    if s.start_line == s.end_line { s.start_line.to_string() } else { format!("{}-{}", s.start_line, s.end_line) }
}

/// The current text of an indexed file, when it is still the text its entry was made from (signatures are cut
/// from it).
fn text_of(ctx: &Context, rel: &str, e: &FileEntry) -> Option<String> {
    read_text(ctx, rel).filter(|t| e.is_text_of(t))
}

/// A symbol's signature from its file's text, or its kind and name when the text changed since it was indexed.
fn signature_in(s: &Symbol<'_>, text: Option<&str>) -> String {
    text.map_or_else(|| format!("{} {}", s.kind, s.name), |t| s.signature(t))
}

fn outline_lines(out: &mut String, syms: &Symbols, text: Option<&str>, indent: usize) {
    for s in syms.iter() {
        out.push_str(&"  ".repeat(indent + s.depth as usize));
        out.push_str(&range(&s));
        out.push(' ');
        out.push_str(&signature_in(&s, text));
        out.push('\n');
    }
}

pub(crate) fn outline(ctx: &Context, path: &str, cancel: &Cancel) -> ToolResult<String> {
    let snap = snapshot(ctx, Some(path), cancel)?;
    let budget = ctx.budget(None)?;
    let single = ctx.ws.dir_path(&ctx.ws.path(path)?).is_err();
    let mut out = String::new();
    if single {
        let Some((rel, e)) = snap.first() else {
            return Err(ToolError::new(ErrorKind::NotFound, format!("{path:?} could not be read")));
        };
        out.push_str(&format!("{rel} · {} lines · {} symbols ({})\n", e.lines, e.symbols.len(), e.lang.name()));
        if e.symbols.is_empty() {
            out.push_str("no definitions found; read_file shows the file\n");
        }
        outline_lines(&mut out, &e.symbols, text_of(ctx, rel, e).as_deref(), 0);
        return Ok(super::capture::fit(ctx, &out, budget));
    }
    let with: Vec<_> = snap.iter().filter(|(_, e)| !e.symbols.is_empty()).collect();
    let total: usize = with.iter().map(|(_, e)| e.symbols.len()).sum();
    out.push_str(&format!(
        "{} · {} files with {total} symbols ({} source files without definitions not shown)\n",
        ctx.ws.path(path)?.display(),
        with.len(),
        snap.len() - with.len()
    ));
    for (rel, e) in with {
        out.push_str(&format!("{rel} ({} lines)\n", e.lines));
        outline_lines(&mut out, &e.symbols, text_of(ctx, rel, e).as_deref(), 1);
    }
    Ok(super::capture::fit(ctx, &out, budget))
}

/// How a definition ranks among others of the same name: code before data, source before tests.
fn kind_rank(kind: &str) -> u8 {
    match kind {
        "class" | "struct" | "enum" | "trait" | "interface" | "union" | "function" | "method" | "module" | "macro"
        | "object" | "constructor" | "impl" => 0,
        "type" | "constant" | "variable" | "property" | "field" | "variant" => 1,
        _ => 2,
    }
}

struct Hit<'a> {
    rel: &'a str,
    entry: &'a FileEntry,
    i: usize,
}

fn find_hits<'a>(snap: &'a Snapshot, q: &NameQuery) -> Vec<Hit<'a>> {
    let mut hits = Vec::new();
    for (rel, e) in snap {
        for i in 0..e.symbols.len() {
            if q.matches(&e.symbols, i) {
                hits.push(Hit { rel, entry: e, i });
            }
        }
    }
    hits.sort_by_key(|h| {
        let s = h.entry.symbols.get(h.i);
        (
            symbols::is_test_path(h.rel),
            kind_rank(s.kind),
            s.kind == "impl",
            h.rel.matches('/').count(),
            h.rel,
            s.start_line,
        )
    });
    hits
}

/// The names closest to one that matched nothing, each with where it is: `Parser.parse (src/p.rs:4)`.
fn closest_names(snap: &Snapshot, q: &NameQuery) -> Vec<String> {
    let names = snap.iter().flat_map(|(_, e)| e.symbols.iter().map(|s| s.name));
    let close = symbols::closest(q.last(), names, 8);
    let mut parts = Vec::new();
    for name in close {
        let at = snap.iter().find_map(|(rel, e)| {
            e.symbols
                .iter()
                .enumerate()
                .find(|(_, s)| s.name == name)
                .map(|(i, s)| format!("{} ({rel}:{})", symbols::qualified(&e.symbols, i), s.start_line))
        });
        parts.push(at.unwrap_or_else(|| name.to_string()));
    }
    parts
}

pub(crate) struct FindRequest<'a> {
    pub name: &'a str,
    pub path: Option<&'a str>,
    pub include_body: bool,
}

pub(crate) fn find_symbol(ctx: &Context, req: &FindRequest<'_>, cancel: &Cancel) -> ToolResult<String> {
    let q = NameQuery::new(req.name);
    if q.last().is_empty() {
        return Err(ToolError::invalid("name has no characters; give a symbol name such as parse or Parser.parse"));
    }
    let snap = snapshot(ctx, req.path, cancel)?;
    let hits = find_hits(&snap, &q);
    let scope = req.path.unwrap_or(".");
    if hits.is_empty() {
        let closest = closest_names(&snap, &q);
        let hint = if closest.is_empty() { String::new() } else { format!("; closest names: {}", closest.join(", ")) };
        return Err(ToolError::new(
            ErrorKind::UnknownSymbol { name: req.name.into(), closest },
            format!(
                "no definition of {:?} in {scope} ({} files indexed){hint}. find_references finds uses; search finds \
                 any text",
                req.name,
                snap.len(),
            ),
        ));
    }
    let limit = if req.include_body { MAX_BODIES } else { MAX_FOUND };
    let mut out = String::new();
    let mut texts: HashMap<&str, Option<String>> = HashMap::new();
    for h in hits.iter().take(limit) {
        let s = h.entry.symbols.get(h.i);
        out.push_str(&format!("{}:{} {} {}\n", h.rel, range(&s), s.kind, symbols::qualified(&h.entry.symbols, h.i)));
        if req.include_body {
            let text = read_text(ctx, h.rel).unwrap_or_default();
            let last = s.end_line.min(s.start_line + MAX_BODY_LINES - 1);
            for (n, line) in
                text.lines().enumerate().skip(s.start_line as usize - 1).take((last - s.start_line + 1) as usize)
            {
                out.push_str(&format!("{:>6}\t{line}\n", n + 1));
            }
            if last < s.end_line {
                out.push_str(&format!(
                    "  … {} more lines: read_file(path=\"{}\", offset={})\n",
                    s.end_line - last,
                    h.rel,
                    last + 1
                ));
            }
        } else {
            let text = texts.entry(h.rel).or_insert_with(|| text_of(ctx, h.rel, h.entry));
            out.push_str(&format!("  {}\n", signature_in(&s, text.as_deref())));
        }
    }
    if hits.len() > limit {
        out.push_str(&format!(
            "[{} definitions; the first {limit} shown, source before tests. Narrow with path or a qualified name such \
             as Class.method]\n",
            hits.len()
        ));
    }
    Ok(super::capture::fit(ctx, &out, ctx.budget(None)?))
}

pub(crate) fn find_references(ctx: &Context, name: &str, path: Option<&str>, cancel: &Cancel) -> ToolResult<String> {
    let q = NameQuery::new(name);
    let ident = q.last().to_string();
    if ident.is_empty() {
        return Err(ToolError::invalid("name has no characters; give an identifier such as parse"));
    }
    let snap = snapshot(ctx, path, cancel)?;
    let scope = path.unwrap_or(".");
    let id = ctx.symbols.id_of(&ident);
    let mut files: Vec<(&str, u32, &Symbols)> = match id {
        Some(id) => snap
            .iter()
            .filter_map(|(rel, e)| {
                let n = e.count_of(id);
                (n > 0).then_some((rel.as_str(), n, &e.symbols))
            })
            .collect(),
        None => Vec::new(),
    };
    if files.is_empty() {
        let closest = closest_names(&snap, &q);
        let hint = if closest.is_empty() { String::new() } else { format!("; closest names: {}", closest.join(", ")) };
        return Err(ToolError::new(
            ErrorKind::UnknownSymbol { name: ident.to_string(), closest },
            format!(
                "no identifier {ident:?} in the code under {scope} ({} files indexed; comments and strings are not \
                 searched){hint}",
                snap.len(),
            ),
        ));
    }
    files.sort_by_key(|(rel, _, _)| (symbols::is_test_path(rel), *rel));
    let total: u32 = files.iter().map(|f| f.1).sum();
    let mut out = String::new();
    let mut lines_shown = 0;
    let mut files_shown = 0;
    for (rel, count, syms) in &files {
        if files_shown == MAX_REF_FILES || lines_shown >= MAX_REF_LINES {
            break;
        }
        cancel.check()?;
        let Some(text) = read_text(ctx, rel) else { continue };
        let Some(lang) = Lang::detect(rel, &text) else { continue };
        let Some(tree) = crate::syntax::parse_tree(lang, &text, None) else { continue };
        let mut rows: Vec<usize> = Vec::new();
        symbols::for_each_identifier(&tree, |node| {
            if text.get(node.byte_range()) == Some(ident.as_str()) {
                let row = node.start_position().row;
                if rows.last() != Some(&row) {
                    rows.push(row);
                }
            }
        });
        files_shown += 1;
        out.push_str(&format!("{rel} ({count})\n"));
        let lines: Vec<&str> = text.lines().collect();
        let defs: HashSet<u32> = syms.iter().filter(|s| s.name == ident).map(|s| s.name_line).collect();
        for row in rows.iter().take(MAX_REFS_PER_FILE) {
            let line = lines.get(*row).copied().unwrap_or_default().trim();
            let line: String = line.chars().take(200).collect();
            let mark = if defs.contains(&(*row as u32 + 1)) { "  [definition]" } else { "" };
            out.push_str(&format!("  {}: {line}{mark}\n", row + 1));
            lines_shown += 1;
        }
        if rows.len() > MAX_REFS_PER_FILE {
            out.push_str(&format!("  … {} more lines in this file\n", rows.len() - MAX_REFS_PER_FILE));
        }
    }
    out.push_str(&format!(
        "[{total} uses of {ident:?} in {} files (identifiers only, not comments or strings)",
        files.len()
    ));
    if files_shown < files.len() {
        out.push_str(&format!(
            "; {files_shown} files shown, source before tests. Narrow with path, e.g. path=\"{}\"",
            files[0].0.rsplit_once('/').map_or(".", |(d, _)| d)
        ));
    }
    out.push_str("]\n");
    Ok(super::capture::fit(ctx, &out, ctx.budget(None)?))
}

pub(crate) fn repo_map(
    ctx: &Context,
    focus: &[String],
    max_chars: Option<usize>,
    cancel: &Cancel,
) -> ToolResult<String> {
    // A budget outside the bounds is brought within them (and the result says so): a map is useful at any size.
    let asked = max_chars.unwrap_or(MAP_DEFAULT_CHARS);
    let max = asked.clamp(crate::tools::MIN_OUTPUT_CHARS, MAP_MAX_CHARS);
    let snap = snapshot(ctx, None, cancel)?;
    let mut f = map::Focus::default();
    let mut unmatched = Vec::new();
    for item in focus {
        let item = item.trim();
        let as_path = ctx.ws.path(item).ok().map(|p| p.display());
        let mut hit = false;
        if let Some(p) = as_path.as_deref().filter(|p| *p != ".") {
            let dir = format!("{p}/");
            for (i, (rel, _)) in snap.iter().enumerate() {
                if rel == p || rel.starts_with(&dir) {
                    f.files.insert(i);
                    hit = true;
                }
            }
        }
        if !hit && let Some(id) = ctx.symbols.id_of(NameQuery::new(item).last()) {
            f.names.insert(id);
            for (i, (_, e)) in snap.iter().enumerate() {
                if e.def_ids.contains(&id) {
                    f.files.insert(i);
                    hit = true;
                }
            }
        }
        if !hit {
            unmatched.push(item.to_string());
        }
    }
    let generation = ctx.symbols.generation();
    let ranking = if f.files.is_empty() && f.names.is_empty() {
        // The snapshot of the whole workspace is the whole index, so its generation identifies it.
        ctx.symbols.ranking(generation, || map::rank(&snap, &f))
    } else {
        std::sync::Arc::new(map::rank(&snap, &f))
    };
    let footer_reserve = 400;
    let (body, files, defs) =
        map::render(&snap, &ranking, max.saturating_sub(footer_reserve), |f| read_text(ctx, &snap[f].0));
    let all_defs = ranking.total;
    let mut out = body;
    out.push_str(&format!(
        "[repo map: {files} of {} files, {defs} of {all_defs} definitions, ranked by how much the code uses them{}",
        snap.len(),
        if f.files.is_empty() && f.names.is_empty() { String::new() } else { " from the focus".into() }
    ));
    if defs < all_defs {
        out.push_str("; raise max_chars or give focus (files or names) for more, outline(path) shows a file whole");
    }
    out.push_str("]\n");
    if max != asked {
        out.push_str(&format!("max_chars {asked} is outside 1000..={MAP_MAX_CHARS}; used {max}\n"));
    }
    if !unmatched.is_empty() {
        out.push_str(&format!("focus matched no file or defined name: {}\n", unmatched.join(", ")));
    }
    Ok(out)
}

pub(crate) struct EditSymbolRequest<'a> {
    pub path: &'a str,
    pub name: &'a str,
    pub body: &'a str,
    pub position: Position,
}

/// Leading whitespace of the line holding byte `at`.
fn indent_at(text: &str, at: usize) -> &str {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = &text[line_start..];
    &line[..line.len() - line.trim_start_matches([' ', '\t']).len()]
}

fn leading_ws(line: &str) -> usize {
    line.len() - line.trim_start_matches([' ', '\t']).len()
}

/// `body` re-indented to stand at `indent`: its common indentation replaced by the symbol's. A body whose first
/// line is flush left and whose other lines already sit deeper than the symbol was copied from the file with only
/// the first line trimmed: its other lines keep their indentation.
fn reindent(body: &str, indent: &str) -> String {
    let body = body.trim_matches('\n');
    let lines: Vec<&str> = body.lines().collect();
    let nonblank = |l: &&&str| !l.trim().is_empty();
    let first = lines.iter().find(nonblank).map_or(0, |l| leading_ws(l));
    let rest = lines.iter().skip(1).filter(nonblank).map(|l| leading_ws(l)).min();
    let copied = first == 0 && !indent.is_empty() && rest.is_some_and(|r| r > indent.len());
    let common = lines.iter().filter(nonblank).map(|l| leading_ws(l)).min().unwrap_or(0);
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if l.trim().is_empty() {
            continue;
        }
        if copied && i > 0 {
            out.push_str(l);
        } else {
            out.push_str(indent);
            out.push_str(&l[common.min(leading_ws(l))..]);
        }
    }
    out
}

/// Whether a line opens with an attribute, decorator or comment that belongs to the definition below it.
fn is_preamble(line: &str) -> bool {
    let t = line.trim_start();
    ["#[", "@", "///", "//", "/**", "/*", "*", "#!["].iter().any(|p| t.starts_with(p)) && !t.is_empty()
}

pub(crate) fn edit_symbol(ctx: &Context, req: &EditSymbolRequest<'_>) -> ToolResult<String> {
    let position = req.position;
    if req.body.trim().is_empty() {
        return Err(ToolError::invalid(
            "body has no code; give the symbol's complete new source (to delete a symbol, edit_file it)",
        ));
    }
    let p = ctx.ws.path(req.path)?;
    let shown = p.display();
    let old = super::edit::existing(ctx, &p)?
        .ok_or_else(|| ToolError::new(ErrorKind::NotFound, format!("{shown:?} does not exist")))?;
    let text = std::str::from_utf8(&old.bytes)
        .map_err(|_| ToolError::new(ErrorKind::Unsupported, format!("{shown:?} is not valid UTF-8")))?;
    let lang = Lang::detect(&shown, text).filter(|l| symbols::supported(*l)).ok_or_else(|| {
        ToolError::new(
            ErrorKind::Unsupported,
            format!("{shown:?}: no symbol support for this file type; use edit_file"),
        )
    })?;
    let e = symbols::extract(lang, text);
    let q = NameQuery::new(req.name);
    let hits: Vec<usize> = (0..e.symbols.len()).filter(|&i| q.matches(&e.symbols, i)).collect();
    let i = match hits.as_slice() {
        [i] => *i,
        [] => {
            let close = symbols::closest(q.last(), e.symbols.iter().map(|s| s.name), 8);
            let close: Vec<String> = close
                .iter()
                .filter_map(|n| {
                    let j = e.symbols.iter().position(|s| s.name == *n)?;
                    Some(format!("{} (line {})", symbols::qualified(&e.symbols, j), e.symbols.get(j).start_line))
                })
                .collect();
            let closest = close.clone();
            return Err(ToolError::new(
                ErrorKind::UnknownSymbol { name: req.name.into(), closest },
                format!(
                    "no symbol {:?} in {shown}{}; outline(path=\"{shown}\") lists its symbols",
                    req.name,
                    if close.is_empty() { String::new() } else { format!("; closest: {}", close.join(", ")) }
                ),
            ));
        }
        many => {
            let list: Vec<String> = many
                .iter()
                .map(|&j| {
                    let s = e.symbols.get(j);
                    format!("{} {} (lines {})", s.kind, symbols::qualified(&e.symbols, j), range(&s))
                })
                .collect();
            let candidates = many.iter().map(|&j| symbols::qualified(&e.symbols, j)).collect();
            return Err(ToolError::new(
                ErrorKind::Ambiguous { candidates },
                format!(
                    "{:?} names {} symbols in {shown}: {}; qualify it (e.g. Class.method) to pick one",
                    req.name,
                    many.len(),
                    list.join("; ")
                ),
            ));
        }
    };
    let s = e.symbols.get(i);
    let body_first = req.body.trim_start_matches('\n').lines().next().unwrap_or_default();
    // Decorators: a body that starts with one replaces them; one that does not keeps them.
    let mut start = if is_preamble(body_first) { s.start_byte } else { s.head_byte } as usize;
    if is_preamble(body_first) || position == Position::Before {
        // Attributes and doc comments on the lines right above belong to the symbol (Rust `#[..]`, `///`).
        loop {
            let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
            if line_start == 0 {
                break;
            }
            let prev_start = text[..line_start - 1].rfind('\n').map_or(0, |i| i + 1);
            let prev = &text[prev_start..line_start - 1];
            if prev.trim().is_empty() || !is_preamble(prev) {
                break;
            }
            start = prev_start + leading_ws(prev);
        }
    }
    let indent = indent_at(text, start).to_string();
    let line_start = start - indent.len();
    let end = s.end_byte as usize;
    let new_src = reindent(req.body, &indent);
    let new_text = match position {
        Position::Replace => format!("{}{}{}", &text[..line_start], new_src, &text[end..]),
        Position::Before => format!("{}{new_src}\n{}{}", &text[..line_start], blank_sep(&s), &text[line_start..]),
        Position::After => {
            let line_end = text[end..].find('\n').map_or(text.len(), |i| end + i);
            let tail = &text[line_end..];
            let sep = if tail.is_empty() { "\n" } else { "" };
            format!("{}{sep}\n{}{new_src}{}", &text[..line_end], blank_sep(&s), tail)
        }
    };
    if new_text == text {
        return Ok(format!(
            "{shown}: the symbol already holds exactly this source; nothing written · version {}",
            old.version
        ));
    }
    let note = super::edit::gate(ctx, &p, Some(text), &new_text, false)?;
    let what = match position {
        Position::Replace => {
            format!("replaced {} {} (was lines {}) · ", s.kind, symbols::qualified(&e.symbols, i), range(&s))
        }
        Position::Before | Position::After => format!(
            "inserted {} {} {} · ",
            if position == Position::Before { "before" } else { "after" },
            s.kind,
            symbols::qualified(&e.symbols, i)
        ),
    };
    super::edit::commit(ctx, &p, Some(&old), &new_text, what, note, 3).map(|(text, _)| text)
}

/// Definitions at the top of a file are kept apart by a blank line; members of a type are not, unless they are
/// large.
fn blank_sep(s: &Symbol<'_>) -> &'static str {
    if s.depth == 0 || s.end_line > s.start_line { "\n" } else { "" }
}
