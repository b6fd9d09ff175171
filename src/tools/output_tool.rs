//! read_output: the rest of a result that was cut, by line range or by pattern.

use crate::error::{ErrorKind, ToolError, ToolResult};
use crate::spill::SpillError;
use crate::tools::Context;

/// Lines of context around each pattern match when the call does not say.
const DEFAULT_CONTEXT: usize = 2;
/// Matches shown by one call; the total is still counted.
const MAX_MATCHES: usize = 200;

pub(crate) struct ReadOutputRequest<'a> {
    pub id: &'a str,
    pub offset: Option<u64>,
    pub limit: Option<u64>,
    pub pattern: Option<&'a str>,
    pub context: Option<usize>,
    pub max_output_chars: Option<usize>,
}

fn spill_err(e: SpillError) -> ToolError {
    let kind = match e {
        SpillError::Unknown { .. } | SpillError::Evicted { .. } => ErrorKind::NotFound,
        SpillError::Io { .. } => ErrorKind::Io,
        _ => ErrorKind::InvalidArgument,
    };
    ToolError::new(kind, e.to_string())
}

pub(crate) fn read_output(ctx: &Context, req: &ReadOutputRequest<'_>) -> ToolResult<String> {
    let budget = ctx.budget(req.max_output_chars)?;
    let info = ctx.spill.info(req.id).ok_or_else(|| {
        // Ask the store for its own wording (unknown or evicted).
        match ctx.spill.read_range(req.id, 0, 0) {
            Err(e) => spill_err(e),
            Ok(_) => ToolError::new(ErrorKind::NotFound, format!("no output {:?}", req.id)),
        }
    })?;
    if let Some(pattern) = req.pattern {
        if req.offset.is_some() || req.limit.is_some() {
            return Err(ToolError::invalid("give either pattern or offset/limit, not both"));
        }
        let re =
            regex::Regex::new(pattern).map_err(|e| ToolError::invalid(format!("invalid pattern {pattern:?}: {e}")))?;
        let context = req.context.unwrap_or(DEFAULT_CONTEXT).min(100);
        let g = ctx.spill.grep(req.id, &re, context, MAX_MATCHES).map_err(spill_err)?;
        let mut out = String::new();
        let mut prev: Option<u64> = None;
        for l in &g.lines {
            if prev.is_some_and(|p| l.line > p + 1) {
                out.push_str("--\n");
            }
            let sep = if l.is_match { ':' } else { '-' };
            out.push_str(&format!("{}{sep} {}\n", l.line, l.text));
            prev = Some(l.line);
        }
        let mut footer = format!("[{} of {} matching lines shown", g.shown_matches, g.total_matches);
        footer.push_str(&format!(" · output {} has {} lines", info.id, info.lines));
        if g.stopped_early() {
            footer.push_str(" · narrow the pattern, or page with offset/limit");
        }
        footer.push(']');
        if g.partial_output {
            footer.push_str("\n[only the first part of this output was kept; later lines were not searched]");
        }
        let body = super::capture::fit(ctx, &out, budget.saturating_sub(footer.len() + 1));
        return Ok(format!("{body}{footer}"));
    }
    let offset = req.offset.unwrap_or(1);
    if offset == 0 {
        return Err(ToolError::invalid("offset is 1-based: the first line is offset=1"));
    }
    let limit = req.limit.unwrap_or(u64::MAX).max(1);
    let chunk = ctx.spill.read_lines(req.id, offset, limit).map_err(spill_err)?;
    // Whole lines, as many as fit the budget: the text is exactly the output's bytes for those lines.
    let reserve = 200;
    let mut end = 0usize;
    let mut lines = 0u64;
    let mut chars = 0usize;
    for piece in chunk.bytes.split_inclusive(|b| *b == b'\n') {
        let n = String::from_utf8_lossy(piece).chars().count();
        if lines > 0 && chars + n + reserve > budget {
            break;
        }
        if lines == 0 && n + reserve > budget {
            // One line longer than the whole budget: return its start, and say so.
            let text = String::from_utf8_lossy(piece);
            let cut: String = text.chars().take(budget.saturating_sub(reserve)).collect();
            return Ok(format!(
                "{cut}\n[{}: line {offset} is {n} chars; only its start fits this result. resources/read of codebox://output/{} returns it whole]",
                info.id, info.id
            ));
        }
        chars += n;
        end += piece.len();
        lines += 1;
    }
    let last = offset + lines - 1;
    let mut out = String::from_utf8_lossy(&chunk.bytes[..end]).into_owned();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&format!("[{}: lines {offset}-{last} of {}", info.id, chunk.total_lines));
    if last < chunk.total_lines {
        out.push_str(&format!(" · next: read_output(id=\"{}\", offset={})", info.id, last + 1));
    }
    out.push(']');
    Ok(out)
}
