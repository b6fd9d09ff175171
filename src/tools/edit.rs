//! write_file, edit_file and undo_edit: edits that land exactly as meant, or are refused with a message the
//! model can act on. Every write goes through the syntax gate and the workspace's atomic replace, and records
//! the previous content for undo.

use crate::diff;
use crate::edits::{self, Edit, EditErrorKind, Strategy};
use crate::error::{ErrorKind, Located, ToolError, ToolResult};
use crate::history::{DELETED, Group};
use crate::syntax::{self, Lang};
use crate::tools::Context;
use crate::tools::patch::{FileReport, PatchReport};
use crate::workspace::WorkspacePath;
use crate::workspace::write::Existing;

pub(crate) struct WriteRequest<'a> {
    pub path: &'a str,
    pub content: &'a str,
    pub expected_version: Option<&'a str>,
    pub allow_syntax_errors: bool,
}

pub(crate) struct EditRequest<'a> {
    pub path: &'a str,
    pub edits: Vec<Edit>,
    pub expected_version: Option<&'a str>,
    pub allow_syntax_errors: bool,
}

/// The structuredContent of write_file and edit_file: the file's new version, for the next expected_version.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct WriteInfo {
    pub path: String,
    pub version: String,
    pub lines: usize,
}

pub(super) fn protected(ctx: &Context) -> &[String] {
    &ctx.config.sandbox.protected
}

/// The existing file, or None when it does not exist yet.
/// Whether the file as it is now is what codebox's write left (`after` is that write's version). A history written
/// before the content version changed hash holds the old hash (std's SipHash), which is accepted too.
fn is_after(current: Option<&Existing>, after: &str) -> bool {
    match current {
        None => after == DELETED,
        Some(c) => c.version == after || crate::workspace::legacy_content_version(&c.bytes) == after,
    }
}

pub(super) fn existing(ctx: &Context, p: &WorkspacePath) -> ToolResult<Option<Existing>> {
    match ctx.ws.read_for_edit(p, protected(ctx)) {
        Ok(e) => Ok(Some(e)),
        Err(e) if *e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// An edit's refusal with its kind: where the closest lines are, or where the several matches are.
fn edit_error(e: edits::EditError) -> ToolError {
    let kind = match e.kind {
        EditErrorKind::NoMatch(closest_line) => ErrorKind::NoMatch { edit: e.edit_index + 1, closest_line },
        EditErrorKind::Ambiguous(lines) => {
            ErrorKind::Ambiguous { candidates: lines.iter().map(|l| format!("line {l}")).collect() }
        }
        _ => ErrorKind::InvalidArgument,
    };
    ToolError::new(kind, e.message)
}

fn check_version(shown: &str, expected: Option<&str>, current: Option<&Existing>) -> ToolResult<()> {
    match (expected, current) {
        (Some(want), Some(cur)) if want != cur.version => Err(ToolError::new(
            ErrorKind::StaleVersion { path: shown.into(), expected: want.into(), actual: Some(cur.version.clone()) },
            format!(
                "{shown:?} has changed since version {want} (it is now version {}); read it again and redo the edit \
                 against what it holds now",
                cur.version
            ),
        )),
        (Some(want), None) => Err(ToolError::new(
            ErrorKind::StaleVersion { path: shown.into(), expected: want.into(), actual: None },
            format!(
                "{shown:?} no longer exists (expected version {want}); write_file without expected_version creates it"
            ),
        )),
        _ => Ok(()),
    }
}

/// The syntax gate: refuses text that adds syntax errors the old text did not have. Returns a note for the result.
/// Parse trees are cached per path, so a check after a read or an earlier edit reparses only what changed.
pub(super) fn gate(ctx: &Context, p: &WorkspacePath, old: Option<&str>, new: &str, allow: bool) -> ToolResult<String> {
    let shown = &p.display();
    let Some(lang) = Lang::detect(shown, new) else {
        return Ok("not syntax-checked (no grammar for this file type)".into());
    };
    let new_report = ctx.trees.check(shown, lang, new);
    if !new_report.checked {
        return Ok(format!("not syntax-checked ({} parser could not run)", lang.name()));
    }
    if new_report.errors.is_empty() {
        return Ok(format!("syntax ok ({})", lang.name()));
    }
    let old_text = old.unwrap_or("");
    // Checked under the same key: an incremental parse from the new text's tree.
    let old_report = ctx.trees.check(shown, lang, old_text);
    let added = syntax::new_errors(&old_report, old_text, &new_report, new);
    if added.is_empty() {
        return Ok(format!(
            "syntax: no new errors ({}; the {} error(s) already there remain)",
            lang.name(),
            new_report.errors.len()
        ));
    }
    let changed = old.map(|old| syntax::changed_lines(old, new));
    let rendered = syntax::render_errors(shown, lang, new, &added, changed);
    if allow {
        Ok(format!("WRITTEN WITH SYNTAX ERRORS (allow_syntax_errors):\n{rendered}"))
    } else {
        let errors = added.iter().map(|e| Located { line: e.line, column: e.column, message: e.message.clone() });
        let kind =
            ErrorKind::SyntaxRefused { path: shown.clone(), language: lang.name().into(), errors: errors.collect() };
        Err(ToolError::new(kind, rendered))
    }
}

/// Writes, records undo, and builds the result: what happened, the new version, the diff within the budget.
pub(super) fn commit(
    ctx: &Context,
    p: &WorkspacePath,
    old: Option<&Existing>,
    new: &str,
    summary: String,
    syntax_note: String,
    context: usize,
) -> ToolResult<(String, WriteInfo)> {
    let (written, before) = ctx.ws.write_atomic(p, new.as_bytes(), protected(ctx))?;
    // The undo step holds what the write replaced, read through the same fd resolution as the write itself.
    let before_ref = before.as_ref().map(|b| (b.bytes.as_slice(), b.mode));
    if let Err(e) = ctx.history.record(&written.rel, before_ref, &written.version) {
        tracing::warn!("undo history not recorded: {e}");
    }
    let shown = written.rel.display().to_string();
    let lines = new.lines().count();
    let verb = if written.created { "created" } else { "updated" };
    let mut out = format!("{verb} {shown}: {summary}{lines} lines · version {} · {syntax_note}\n", written.version);
    let old_text = old.map(|o| String::from_utf8_lossy(&o.bytes).into_owned()).unwrap_or_default();
    // A created file's diff would repeat the content the model just sent.
    let diff =
        if old.is_none() { String::new() } else { diff::unified_diff_with_context(&shown, &old_text, new, context) };
    // The `--- a/x` / `+++ b/x` header repeats the path the first line already names.
    let diff = diff.splitn(3, '\n').nth(2).filter(|_| diff.starts_with("--- ")).unwrap_or(&diff);
    if !diff.is_empty() {
        let budget = ctx.budget(None)?.saturating_sub(out.len());
        out.push_str(&super::capture::fit(ctx, diff, budget.max(1000)));
    }
    Ok((out, WriteInfo { path: shown, version: written.version, lines }))
}

pub(crate) fn write_file(ctx: &Context, req: &WriteRequest<'_>) -> ToolResult<(String, WriteInfo)> {
    let p = ctx.ws.path(req.path)?;
    let shown = p.display();
    let old = existing(ctx, &p)?;
    check_version(&shown, req.expected_version, old.as_ref())?;
    let old_text = old.as_ref().map(|o| String::from_utf8_lossy(&o.bytes).into_owned());
    if old_text.as_deref() == Some(req.content) {
        let v = old.as_ref().map(|o| o.version.clone()).unwrap_or_default();
        let text = format!("{shown} already holds exactly this content; nothing written · version {v}");
        return Ok((text, WriteInfo { path: shown, version: v, lines: req.content.lines().count() }));
    }
    let note = gate(ctx, &p, old_text.as_deref(), req.content, req.allow_syntax_errors)?;
    commit(ctx, &p, old.as_ref(), req.content, String::new(), note, 3)
}

pub(crate) fn edit_file(ctx: &Context, req: &EditRequest<'_>) -> ToolResult<(String, WriteInfo)> {
    if req.edits.is_empty() {
        return Err(ToolError::invalid("edits is empty; give at least one {old_string, new_string}"));
    }
    let p = ctx.ws.path(req.path)?;
    let shown = p.display();
    let old = existing(ctx, &p)?.ok_or_else(|| {
        ToolError::new(ErrorKind::NotFound, format!("{shown:?} does not exist; write_file creates a file"))
    })?;
    check_version(&shown, req.expected_version, Some(&old))?;
    let text = std::str::from_utf8(&old.bytes).map_err(|e| {
        ToolError::new(
            ErrorKind::Unsupported,
            format!(
                "{shown:?} is not valid UTF-8 (invalid byte at offset {}); edit_file edits text only. write_file \
                 replaces a file whole",
                e.valid_up_to()
            ),
        )
    })?;
    let outcome = edits::apply_edits(text, &req.edits).map_err(edit_error)?;
    let note = gate(ctx, &p, Some(text), &outcome.text, req.allow_syntax_errors)?;
    let mut summary = String::new();
    let n = outcome.applied.len();
    for (i, a) in outcome.applied.iter().enumerate() {
        if a.strategy != Strategy::Exact || a.replacements > 1 || n > 1 {
            summary.push_str(&format!("edit {} of {n}: ", i + 1));
            if a.strategy != Strategy::Exact {
                summary.push_str(&format!(
                    "matched ignoring {}",
                    match a.strategy {
                        Strategy::TrailingWhitespace => "trailing whitespace",
                        Strategy::Indentation => "indentation",
                        Strategy::Punctuation => "indentation and Unicode punctuation",
                        Strategy::Exact => "nothing",
                    }
                ));
                if let Some(d) = a.rebased {
                    summary.push_str(&format!(", new_string re-indented by {d:+} columns"));
                }
                summary.push_str(", ");
            }
            summary
                .push_str(&format!("{} replacement(s) at lines {}-{} · ", a.replacements, a.first_line, a.last_line));
        }
    }
    // After exact matches the model knows the replaced text: one line of context places the change.
    let exact = outcome.applied.iter().all(|a| a.strategy == Strategy::Exact);
    commit(ctx, &p, Some(&old), &outcome.text, summary, note, if exact { 1 } else { 3 })
}

/// undo_edit: the text, and every file it put back with its new version (none when it removed the file).
pub(crate) fn undo_edit(ctx: &Context, path: &str) -> ToolResult<(String, PatchReport)> {
    let p = ctx.ws.path(path)?;
    let shown = p.display();
    let current = existing(ctx, &p)?;
    // The history is keyed by the resolved path; a file that no longer exists is keyed by its lexical path.
    let rel = ctx.ws.resolved_rel(&p).unwrap_or_else(|| p.as_rel().to_path_buf());
    let io = |e: std::io::Error| ToolError::new(ErrorKind::Io, format!("undo history for {shown:?}: {e}"));
    let Some((entry, behind)) = ctx.history.peek(&rel).map_err(io)? else {
        return Err(ToolError::new(ErrorKind::NotFound, format!("no codebox write to {shown:?} to undo")));
    };
    if let Some(group) = &entry.group {
        return undo_group(ctx, group);
    }
    let now = current.as_ref().map(|c| c.version.as_str()).unwrap_or(DELETED);
    if !is_after(current.as_ref(), &entry.after_version) {
        return Err(ToolError::new(
            ErrorKind::UndoConflict { path: shown.clone() },
            format!(
                "{shown:?} changed after codebox's last write (version {} then, {now} now); undo would lose those \
                 changes. Read the file and edit it instead",
                entry.after_version
            ),
        ));
    }
    if entry.too_large {
        return Err(ToolError::new(
            ErrorKind::Unsupported,
            format!("the previous content of {shown:?} was too large to keep"),
        ));
    }
    let (restored, file) = if entry.existed {
        let (written, _) = ctx.ws.write_atomic(&p, &entry.before, protected(ctx))?;
        let text = format!("restored {shown} to its content before codebox's last write · version {}", written.version);
        (text, FileReport { path: shown.clone(), action: "restored", version: Some(written.version) })
    } else {
        ctx.ws.remove_file(&p, protected(ctx))?;
        let text = format!("removed {shown}, which codebox's last write had created");
        (text, FileReport { path: shown.clone(), action: "deleted", version: None })
    };
    ctx.history.pop(&rel).map_err(io)?;
    let old_text = current.map(|c| String::from_utf8_lossy(&c.bytes).into_owned()).unwrap_or_default();
    let new_text = String::from_utf8_lossy(&entry.before).into_owned();
    let diff = diff::unified_diff(&shown, &old_text, &new_text);
    let budget = ctx.budget(None)?;
    let text = format!(
        "{restored} · {behind} earlier undo step(s) remain\n{}",
        super::capture::fit(ctx, &diff, budget.saturating_sub(300))
    );
    Ok((text, PatchReport { files: vec![file] }))
}

/// Undoes every write of one multi-file call (apply_patch) together, or none: each file must still hold what
/// the call wrote, and the call's write must be its newest undo step.
fn undo_group(ctx: &Context, group: &Group) -> ToolResult<(String, PatchReport)> {
    let mut steps = Vec::new();
    for rel in &group.paths {
        let p = ctx.ws.path(&rel.to_string_lossy())?;
        let shown = p.display();
        let io = |e: std::io::Error| ToolError::new(ErrorKind::Io, format!("undo history for {shown:?}: {e}"));
        let Some((entry, _)) = ctx.history.peek(rel).map_err(io)? else {
            return Err(ToolError::new(ErrorKind::NotFound, format!("the undo step of {shown:?} is gone")));
        };
        if entry.group.as_ref().map(|g| &g.id) != Some(&group.id) {
            return Err(ToolError::new(
                ErrorKind::UndoConflict { path: shown.clone() },
                format!(
                    "{shown:?} was written again after the patch that also changed {} file(s); undo_edit(path={shown:?}) \
                 undoes that later write first",
                    group.paths.len()
                ),
            ));
        }
        let current = existing(ctx, &p)?;
        if !is_after(current.as_ref(), &entry.after_version) || entry.too_large {
            return Err(ToolError::new(
                ErrorKind::UndoConflict { path: shown.clone() },
                format!(
                    "{shown:?} changed after the patch (or its old content was too large to keep); undoing the patch \
                 would lose that, so nothing was undone. Read the files and edit them instead"
                ),
            ));
        }
        steps.push((p, shown, current, entry));
    }
    let mut out = format!("undid one apply_patch over {} files\n", steps.len());
    let mut diffs = String::new();
    let mut report = PatchReport { files: Vec::new() };
    for (p, shown, current, entry) in &steps {
        if entry.existed {
            let (written, _) = ctx.ws.write_atomic(p, &entry.before, protected(ctx))?;
            let verb = if current.is_some() { "restored" } else { "recreated" };
            out.push_str(&format!("{verb} {shown} · version {}\n", written.version));
            report.files.push(FileReport { path: shown.clone(), action: "restored", version: Some(written.version) });
        } else if current.is_some() {
            ctx.ws.remove_file(p, protected(ctx))?;
            out.push_str(&format!("removed {shown}, which the patch created\n"));
            report.files.push(FileReport { path: shown.clone(), action: "deleted", version: None });
        }
        let old_text = current.as_ref().map(|c| String::from_utf8_lossy(&c.bytes).into_owned()).unwrap_or_default();
        diffs.push_str(&diff::unified_diff(shown, &old_text, &String::from_utf8_lossy(&entry.before)));
    }
    for rel in &group.paths {
        if let Err(e) = ctx.history.pop(rel) {
            tracing::warn!("undo history not updated for {}: {e}", rel.display());
        }
    }
    let budget = ctx.budget(None)?.saturating_sub(out.len());
    out.push_str(&super::capture::fit(ctx, &diffs, budget.max(1000)));
    Ok((out, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::{content_version, legacy_content_version};

    #[test]
    fn undo_accepts_the_current_and_the_legacy_version_of_what_was_written() {
        let bytes = b"fn main() {}\n".to_vec();
        let now = Existing { bytes: bytes.clone(), mode: 0o644, version: content_version(&bytes) };
        assert_ne!(content_version(&bytes), legacy_content_version(&bytes));
        assert!(is_after(Some(&now), &content_version(&bytes)));
        assert!(is_after(Some(&now), &legacy_content_version(&bytes)), "a history written before the hash changed");
        assert!(!is_after(Some(&now), &legacy_content_version(b"fn main() { changed }\n")));
        assert!(!is_after(Some(&now), DELETED));
        assert!(is_after(None, DELETED));
        assert!(!is_after(None, &content_version(&bytes)));
    }
}
