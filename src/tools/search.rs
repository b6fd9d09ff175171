//! search: ripgrep's engine over the workspace, results grouped by file and cut to the budget.

use crate::error::{ErrorKind, ToolError, ToolResult};
use crate::search::{self, Case, Output, Query};
use crate::tools::{Cancel, Context};
use crate::workspace::walk::WalkOptions;

pub(crate) struct SearchRequest<'a> {
    pub pattern: &'a str,
    pub path: Option<&'a str>,
    pub glob: Vec<String>,
    pub file_type: Option<&'a str>,
    pub case: Case,
    pub fixed_strings: bool,
    pub multiline: bool,
    pub context: Option<usize>,
    pub output: Output,
    pub max_results: Option<usize>,
    pub include_hidden: bool,
    pub include_ignored: bool,
    pub max_output_chars: Option<usize>,
}

/// Matches shown per file in content mode, so one noisy file cannot fill the result.
const MAX_PER_FILE: usize = 20;
const DEFAULT_CONTENT_RESULTS: usize = 100;
const DEFAULT_LIST_RESULTS: usize = 500;
pub(crate) const MAX_CONTEXT: usize = 10;
pub(crate) const MAX_RESULTS: usize = 10_000;
pub(crate) fn search(ctx: &Context, req: &SearchRequest<'_>, cancel: &Cancel) -> ToolResult<String> {
    if req.pattern.is_empty() {
        return Err(ToolError::invalid("pattern is empty"));
    }
    let (output, case) = (req.output, req.case);
    let context = req.context.unwrap_or(0);
    if context > MAX_CONTEXT {
        return Err(ToolError::invalid(format!("context must be at most {MAX_CONTEXT} lines")));
    }
    let default_max = if output == Output::Content { DEFAULT_CONTENT_RESULTS } else { DEFAULT_LIST_RESULTS };
    let max_results = req.max_results.unwrap_or(default_max);
    if max_results == 0 || max_results > MAX_RESULTS {
        return Err(ToolError::invalid(format!("max_results must be between 1 and {MAX_RESULTS}")));
    }
    let budget = ctx.budget(req.max_output_chars)?;
    let q = Query {
        pattern: req.pattern,
        case,
        fixed_strings: req.fixed_strings,
        multiline: req.multiline,
        context,
        output,
        max_results,
        max_per_file: MAX_PER_FILE.min(max_results),
        max_line_chars: 300,
    };
    let m = search::matcher(&q).map_err(|e| ToolError::invalid(format!("invalid pattern: {e}")))?;

    let target = ctx.ws.path(req.path.unwrap_or("."))?;
    let (walk, single) = match ctx.ws.dir_path(&target) {
        Ok(_) => {
            let opts = WalkOptions {
                max_depth: None,
                include_hidden: req.include_hidden,
                include_ignored: req.include_ignored,
            };
            let (start, mut b) = ctx.ws.walker(&target, &opts)?;
            if !req.glob.is_empty() {
                let mut ob = ignore::overrides::OverrideBuilder::new(&start);
                for g in &req.glob {
                    ob.add(g).map_err(|e| ToolError::invalid(format!("invalid glob {g:?}: {e}")))?;
                }
                b.overrides(ob.build().map_err(|e| ToolError::invalid(format!("invalid glob: {e}")))?);
            }
            if let Some(t) = req.file_type {
                let mut tb = ignore::types::TypesBuilder::new();
                tb.add_defaults();
                tb.select(t);
                let types = tb.build().map_err(|e| {
                    ToolError::invalid(format!(
                        "{e}; use a ripgrep type name such as rust, py, js, ts, go, c, cpp, java"
                    ))
                })?;
                b.types(types);
            }
            (Some(b), None)
        }
        Err(e) if *e.kind() == ErrorKind::WrongFileType => {
            // One file: searched through the handle that was opened beneath the root, never reopened by name.
            let (file, _) = ctx.ws.open_file(&target)?;
            let real = ctx.ws.root().join(ctx.ws.resolved_rel(&target).unwrap_or_default());
            (None, Some((real, file)))
        }
        Err(e) => return Err(e),
    };
    let report = search::run(walk, single.as_ref().map(|(p, f)| (p.as_path(), f)), &q, &m, cancel.flag());
    cancel.check()?;
    Ok(super::capture::fit(ctx, &render(ctx, &q, &report), budget))
}

fn render(ctx: &Context, q: &Query<'_>, r: &search::Report) -> String {
    let mut out = String::new();
    let nfiles = r.files.len();
    if nfiles == 0 {
        return format!(
            "no matches for {:?} ({} files searched; ignored and hidden files are skipped unless include_ignored / include_hidden)\n",
            q.pattern, r.searched_files
        );
    }
    match q.output {
        Output::Files | Output::Count => {
            for f in r.files.iter().take(q.max_results) {
                let p = ctx.ws.relative_display(&f.path);
                if q.output == Output::Count {
                    out.push_str(&format!("{p}:{}\n", f.matches));
                } else {
                    out.push_str(&format!("{p}\n"));
                }
            }
            let shown_files = nfiles.min(q.max_results);
            out.push_str(&format!("[{} matching files", nfiles));
            if q.output == Output::Count {
                out.push_str(&format!(", {} matching lines", r.total_matches));
            }
            if shown_files < nfiles {
                out.push_str(&format!("; the first {shown_files} by path shown. Narrow with path, glob or type"));
            }
            out.push_str("]\n");
        }
        Output::Content => {
            let mut left = q.max_results;
            let mut shown_matches = 0u64;
            for f in &r.files {
                if left == 0 {
                    break;
                }
                out.push_str(&ctx.ws.relative_display(&f.path));
                out.push('\n');
                let mut kept = 0;
                for l in &f.lines {
                    match l {
                        None => out.push_str("--\n"),
                        Some(l) => {
                            if l.is_match {
                                if kept == left {
                                    break;
                                }
                                kept += 1;
                            }
                            out.push_str(&format!("{}{}{}\n", l.number, if l.is_match { ':' } else { '-' }, l.text));
                        }
                    }
                }
                if f.matches as usize > kept {
                    out.push_str(&format!("  … {} more matches in this file\n", f.matches as usize - kept));
                }
                shown_matches += kept as u64;
                left -= kept;
                out.push('\n');
            }
            out.push_str(&format!("[{} matches in {nfiles} files", r.total_matches));
            if shown_matches < r.total_matches {
                out.push_str(&format!(
                    "; {shown_matches} shown (files by path, at most {} per file). Narrow with path, glob, type or a \
                     more specific pattern; output=\"count\" lists matches per file",
                    q.max_per_file
                ));
            }
            out.push_str("]\n");
        }
    }
    out
}
