//! apply_patch: a multi-file patch (Codex's format or a unified diff) applied to every file or to none. Every
//! new text is computed and syntax-gated in memory first; the files are checked unchanged just before writing;
//! a write that still fails midway puts back the files already written. The writes share one undo step.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::{ErrorKind, ToolError, ToolResult};
use crate::history::{DELETED, Group};
use crate::patch::{self, FileOp};
use crate::tools::Context;
use crate::workspace::WorkspacePath;
use crate::workspace::write::Existing;

use super::edit::{existing, gate, protected};

pub(crate) struct PatchRequest<'a> {
    pub patch: &'a str,
    /// Path → version from read_file; a file whose version differs refuses the whole patch.
    pub expected_versions: BTreeMap<String, String>,
    pub allow_syntax_errors: bool,
}

/// structuredContent: each file the patch touched, its new version (none when deleted).
#[derive(Debug, Serialize)]
pub(crate) struct PatchReport {
    pub files: Vec<FileReport>,
}

#[derive(Debug, Serialize)]
pub(crate) struct FileReport {
    pub path: String,
    /// added, updated, deleted (a move is the old path deleted and the new one added or updated); restored by
    /// undo_edit.
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// One file's planned change: what it holds now and what it will hold (None: removed).
struct Change {
    path: WorkspacePath,
    shown: String,
    before: Option<Existing>,
    after: Option<String>,
    note: String,
}

fn refuse(what: String) -> ToolError {
    refuse_as(ErrorKind::InvalidArgument, what)
}

fn refuse_as(kind: ErrorKind, what: String) -> ToolError {
    ToolError::new(kind, format!("{what}\nNothing was changed: a patch applies to every file or none."))
}

pub(crate) fn apply_patch(ctx: &Context, req: &PatchRequest<'_>) -> ToolResult<(String, PatchReport)> {
    let ops = patch::parse(req.patch).map_err(|e| refuse(format!("apply_patch: {e}")))?;
    let mut changes: Vec<Change> = Vec::new();
    // The planned text of a path an earlier op of this patch already changed.
    fn slot<'c>(ctx: &Context, changes: &'c mut Vec<Change>, raw: &str) -> ToolResult<&'c mut Change> {
        let path = ctx.ws.path(raw)?;
        let shown = path.display();
        if let Some(i) = changes.iter().position(|c| c.shown == shown) {
            return Ok(&mut changes[i]);
        }
        let before = existing(ctx, &path)?;
        let after = before.as_ref().map(|b| String::from_utf8_lossy(&b.bytes).into_owned());
        changes.push(Change { path, shown, before, after, note: String::new() });
        Ok(changes.last_mut().expect("just pushed"))
    }
    let total = ops.len();
    for (k, op) in ops.iter().enumerate() {
        let at = |msg: String| format!("apply_patch, file {} of {total} ({}): {msg}", k + 1, op.path());
        match op {
            FileOp::Add { path, content } => {
                let c =
                    slot(ctx, &mut changes, path).map_err(|e| refuse_as(e.kind().clone(), at(e.message().into())))?;
                c.after = Some(content.clone());
            }
            FileOp::Delete { path } => {
                let c =
                    slot(ctx, &mut changes, path).map_err(|e| refuse_as(e.kind().clone(), at(e.message().into())))?;
                if c.after.is_none() {
                    return Err(refuse(at(format!("{:?} does not exist, so it cannot be deleted", c.shown))));
                }
                c.after = None;
            }
            FileOp::Update { path, move_to, hunks } => {
                let c =
                    slot(ctx, &mut changes, path).map_err(|e| refuse_as(e.kind().clone(), at(e.message().into())))?;
                let Some(text) = c.after.as_deref() else {
                    return Err(refuse(at(format!(
                        "{:?} does not exist; `*** Add File: {path}` creates a file",
                        c.shown
                    ))));
                };
                if c.before.as_ref().is_some_and(|b| std::str::from_utf8(&b.bytes).is_err()) {
                    return Err(refuse(at(format!("{:?} is not valid UTF-8; a patch edits text only", c.shown))));
                }
                let new = if hunks.is_empty() {
                    text.to_string()
                } else {
                    patch::apply_hunks(text, hunks)
                        .map_err(|e| refuse_as(ErrorKind::NoMatch { edit: k + 1, closest_line: None }, at(e.message)))?
                        .0
                };
                match move_to {
                    Some(to) => {
                        c.after = None;
                        let d = slot(ctx, &mut changes, to)
                            .map_err(|e| refuse_as(e.kind().clone(), at(e.message().into())))?;
                        d.after = Some(new);
                    }
                    None => c.after = Some(new),
                }
            }
        }
    }
    for (raw, want) in &req.expected_versions {
        let shown = ctx.ws.path(raw)?.display();
        let now = changes.iter().find(|c| c.shown == shown).and_then(|c| c.before.as_ref()).map(|b| &b.version);
        if now != Some(want) {
            let kind = ErrorKind::StaleVersion { path: shown.clone(), expected: want.clone(), actual: now.cloned() };
            let now = now.map(String::as_str).unwrap_or("absent");
            return Err(refuse_as(
                kind,
                format!(
                    "apply_patch: {shown:?} has changed since version {want} (it is now {now}); read it again and \
                 redo the patch against what it holds now"
                ),
            ));
        }
    }
    changes.retain(|c| c.after.as_deref().map(str::as_bytes) != c.before.as_ref().map(|b| b.bytes.as_slice()));
    if changes.is_empty() {
        return Err(ToolError::invalid("apply_patch: the patch changes nothing; every file already holds its result"));
    }
    for c in changes.iter_mut() {
        if let Some(new) = &c.after {
            let old = c.before.as_ref().map(|b| String::from_utf8_lossy(&b.bytes).into_owned());
            c.note = gate(ctx, &c.path, old.as_deref(), new, req.allow_syntax_errors).map_err(|e| {
                let what = format!("apply_patch: {} would get syntax errors:\n{}", c.shown, e.message());
                refuse_as(e.kind().clone(), what)
            })?;
        }
    }
    // Stale: a file changed between the read above and now.
    for c in &changes {
        let now = existing(ctx, &c.path)?;
        let (was, is) = (c.before.as_ref().map(|b| &b.version), now.as_ref().map(|e| &e.version));
        if was != is {
            let kind = ErrorKind::StaleVersion {
                path: c.shown.clone(),
                expected: was.map_or_else(|| "absent".into(), String::clone),
                actual: is.cloned(),
            };
            return Err(refuse_as(kind, format!("apply_patch: {} changed while the patch was being applied", c.shown)));
        }
    }
    write_all(ctx, &changes)
}

/// Writes every change, or puts back the ones written when one fails; then records one undo step for all.
fn write_all(ctx: &Context, changes: &[Change]) -> ToolResult<(String, PatchReport)> {
    // Each written file's key in the undo history (its resolved path) and its new version (None: removed).
    let mut done: Vec<(std::path::PathBuf, Option<String>)> = Vec::new();
    for c in changes {
        let r = match &c.after {
            Some(text) => {
                ctx.ws.write_atomic(&c.path, text.as_bytes(), protected(ctx)).map(|(w, _)| (w.rel, Some(w.version)))
            }
            None => {
                let rel = ctx.ws.resolved_rel(&c.path).unwrap_or_else(|| c.path.as_rel().to_path_buf());
                ctx.ws.remove_file(&c.path, protected(ctx)).map(|_| (rel, None))
            }
        };
        match r {
            Ok(d) => done.push(d),
            Err(e) => {
                for d in changes[..done.len()].iter().rev() {
                    let undone = match &d.before {
                        Some(b) => ctx.ws.write_atomic(&d.path, &b.bytes, protected(ctx)).map(|_| ()),
                        None => ctx.ws.remove_file(&d.path, protected(ctx)),
                    };
                    if let Err(u) = undone {
                        tracing::warn!("apply_patch could not put back {}: {u}", d.shown);
                    }
                }
                return Err(refuse(format!("apply_patch: {}: {}", c.shown, e.message())));
            }
        }
    }
    let rels: Vec<std::path::PathBuf> = done.iter().map(|(rel, _)| rel.clone()).collect();
    let group = Group::new(rels.clone());
    let mut report = PatchReport { files: Vec::new() };
    let mut out = String::new();
    let mut diffs = String::new();
    for (c, (rel, version)) in changes.iter().zip(done) {
        let before = c.before.as_ref().map(|b| (b.bytes.as_slice(), b.mode));
        if let Err(e) = ctx.history.record_in_group(&rel, before, version.as_deref().unwrap_or(DELETED), Some(&group)) {
            tracing::warn!("undo history not recorded: {e}");
        }
        let action = match (&c.before, &c.after) {
            (None, _) => "added",
            (_, None) => "deleted",
            _ => "updated",
        };
        match &version {
            Some(v) => out.push_str(&format!("{action} {} · version {v} · {}\n", c.shown, c.note)),
            None => out.push_str(&format!("{action} {}\n", c.shown)),
        }
        let old = c.before.as_ref().map(|b| String::from_utf8_lossy(&b.bytes).into_owned()).unwrap_or_default();
        // An added file's diff would repeat the lines the patch itself holds.
        if let (Some(new), Some(_)) = (&c.after, &c.before) {
            diffs.push_str(&crate::diff::unified_diff(&c.shown, &old, new));
        }
        report.files.push(FileReport { path: c.shown.clone(), action, version });
    }
    if changes.len() > 1 {
        out.push_str(&format!(
            "one undo step: undo_edit(path={:?}) restores all {} files\n",
            changes[0].shown,
            changes.len()
        ));
    }
    if !diffs.is_empty() {
        let budget = ctx.budget(None)?.saturating_sub(out.len());
        out.push_str(&super::capture::fit(ctx, &diffs, budget.max(1000)));
    }
    Ok((out, report))
}
