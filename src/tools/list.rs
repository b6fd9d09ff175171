//! list_directory and find_files: what is in the workspace, shaped to be read at a glance.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::{ToolError, ToolResult};
use crate::tools::{Cancel, Context};
use crate::workspace::walk::WalkOptions;

/// Deepest tree one call may ask for; deeper trees are better explored one subdirectory at a time.
pub(crate) const MAX_DEPTH: usize = 10;

pub(crate) struct ListRequest<'a> {
    pub path: Option<&'a str>,
    pub depth: Option<usize>,
}

struct Entry {
    rel: PathBuf,
    depth: usize,
    is_dir: bool,
    is_symlink: bool,
}

pub(crate) fn list_directory(ctx: &Context, req: &ListRequest<'_>, cancel: &Cancel) -> ToolResult<String> {
    let depth = req.depth.unwrap_or(2);
    if depth == 0 || depth > MAX_DEPTH {
        return Err(ToolError::invalid(format!("depth must be between 1 and {MAX_DEPTH} (default 2)")));
    }
    let dir = ctx.ws.path(req.path.unwrap_or("."))?;
    let opts = WalkOptions { max_depth: Some(depth), include_hidden: true, include_ignored: false };
    let (start, mut builder) = ctx.ws.walker(&dir, &opts)?;
    builder.sort_by_file_name(|a, b| a.cmp(b));
    let limits = &ctx.config.limits;

    let mut entries: Vec<Entry> = Vec::new();
    // Per directory: entries seen, and entries beyond the per-directory cap that were not kept.
    let mut seen: HashMap<PathBuf, usize> = HashMap::new();
    let mut elided: HashMap<PathBuf, usize> = HashMap::new();
    let mut stopped = false;
    // Some directory at the depth limit holds more: the footer says how to see it.
    let mut deeper = false;
    for item in builder.build() {
        cancel.check()?;
        let Ok(e) = item else { continue };
        if e.depth() == 0 {
            continue;
        }
        let rel = e.path().strip_prefix(&start).unwrap_or(e.path()).to_path_buf();
        let parent = rel.parent().map(Path::to_path_buf).unwrap_or_default();
        let n = seen.entry(parent.clone()).or_default();
        *n += 1;
        if *n > limits.list_max_per_dir {
            *elided.entry(parent).or_default() += 1;
            continue;
        }
        if entries.len() >= limits.list_max_entries {
            stopped = true;
            break;
        }
        let ft = e.file_type();
        entries.push(Entry {
            rel,
            depth: e.depth(),
            is_dir: ft.is_some_and(|t| t.is_dir()),
            is_symlink: ft.is_some_and(|t| t.is_symlink()),
        });
    }

    let shown = ctx.ws.relative_display(&start);
    let mut out = format!("{}/\n", if shown == "." { "." } else { &shown });
    let mut open_dirs: Vec<PathBuf> = Vec::new();
    let close = |out: &mut String, d: &Path, depth: usize| {
        if let Some(n) = elided.get(d) {
            out.push_str(&format!("{}… {n} more entries\n", "  ".repeat(depth + 1)));
        }
    };
    for e in &entries {
        while let Some(d) = open_dirs.last() {
            if e.rel.starts_with(d) {
                break;
            }
            let d = open_dirs.pop().unwrap_or_default();
            close(&mut out, &d, open_dirs.len() + 1);
        }
        let name = e.rel.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
        let indent = "  ".repeat(e.depth);
        if e.is_dir {
            // A directory at the depth limit shows how much it holds, so the model knows where to look deeper.
            let note = if e.depth == depth {
                match ctx.ws.entry_count(&start.join(&e.rel)) {
                    Some(n) => {
                        deeper |= n > 0;
                        format!(" ({n} entries)")
                    }
                    None => String::new(),
                }
            } else {
                String::new()
            };
            out.push_str(&format!("{indent}{name}/{note}\n"));
            open_dirs.push(e.rel.clone());
        } else if e.is_symlink {
            let target = ctx.ws.link_target(&start.join(&e.rel)).unwrap_or_default();
            out.push_str(&format!("{indent}{name} -> {target}\n"));
        } else {
            out.push_str(&format!("{indent}{name}\n"));
        }
    }
    while let Some(d) = open_dirs.pop() {
        close(&mut out, &d, open_dirs.len() + 1);
    }
    close(&mut out, Path::new(""), 0);
    if entries.is_empty() {
        out.push_str("  (empty, or everything in it is ignored)\n");
    }
    if stopped {
        out.push_str(&format!(
            "[listing stopped at {} entries; list a subdirectory (path=…) or a smaller depth]\n",
            limits.list_max_entries
        ));
    } else if deeper {
        out.push_str(&format!("[depth={} or a subdirectory shows more]\n", (depth + 1).min(MAX_DEPTH)));
    }
    // Said once per session: it holds for every listing.
    if let Some(note) = ctx.session.once(".gitignore'd and .git not listed".into()) {
        out.push_str(&format!("[{note}]\n"));
    }
    Ok(out)
}

pub(crate) struct FindRequest<'a> {
    pub pattern: &'a str,
    pub path: Option<&'a str>,
}

pub(crate) fn find_files(ctx: &Context, req: &FindRequest<'_>, cancel: &Cancel) -> ToolResult<String> {
    if req.pattern.is_empty() {
        return Err(ToolError::invalid("pattern is empty; give a glob such as **/*.rs or src/*.toml"));
    }
    let glob = globset::GlobBuilder::new(req.pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| ToolError::invalid(format!("invalid glob {:?}: {}", req.pattern, e.kind())))?
        .compile_matcher();
    // A pattern without '/' matches file names at any depth, as `*.rs` means in most tools.
    let by_name = !req.pattern.contains('/');
    let dir = ctx.ws.path(req.path.unwrap_or("."))?;
    let opts = WalkOptions { max_depth: None, include_hidden: true, include_ignored: false };
    let (start, builder) = ctx.ws.walker(&dir, &opts)?;

    let mut hits: Vec<(SystemTime, String)> = Vec::new();
    for item in builder.build() {
        cancel.check()?;
        let Ok(e) = item else { continue };
        if e.file_type().is_none_or(|t| t.is_dir()) {
            continue;
        }
        let rel = e.path().strip_prefix(&start).unwrap_or(e.path());
        let matched = if by_name { glob.is_match(e.file_name()) } else { glob.is_match(rel) };
        if !matched {
            continue;
        }
        let mtime = e.metadata().ok().and_then(|m| m.modified().ok()).unwrap_or(SystemTime::UNIX_EPOCH);
        hits.push((mtime, ctx.ws.relative_display(e.path())));
    }
    // Newest first: the files an agent just touched are the ones it most likely wants; ties by path for stability.
    hits.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let cap = ctx.config.limits.find_max_results;
    let mut out = String::new();
    for (_, p) in hits.iter().take(cap) {
        out.push_str(p);
        out.push('\n');
    }
    let where_ = ctx.ws.relative_display(&start);
    if hits.is_empty() {
        out.push_str(&format!(
            "[no files match {:?} under {where_} (ignored files and .git are not searched)]\n",
            req.pattern
        ));
    } else if hits.len() > cap {
        out.push_str(&format!(
            "[{} of {} matches shown, newest first; narrow the pattern or the path to see the rest]\n",
            cap,
            hits.len()
        ));
    } else {
        out.push_str(&format!("[{} matches, newest first]\n", hits.len()));
    }
    Ok(super::capture::fit(ctx, &out, ctx.budget(None)?))
}
