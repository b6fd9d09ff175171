//! git_status, git_diff, git_commit, git_branch: git run through the sandbox, with arguments that can never
//! become options and a repository configuration that cannot start programs outside the sandbox.

use std::time::Duration;

use crate::error::{ErrorKind, ToolError, ToolResult};
use crate::sandbox::Run;
use crate::tools::command::execute;
use crate::tools::{Cancel, Context, Progress};

/// Settings every git call gets: no pager, no fsmonitor daemon, no external diff or textconv programs, no
/// prompts, no colour. Whatever the repository's config says, git runs inside the sandbox; these switch off the
/// program hooks that make no sense for an agent (hooks themselves run, confined, as the user installed them).
const GIT_SAFETY: &[&str] = &[
    "-c",
    "core.pager=cat",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.editor=true",
    "-c",
    "color.ui=false",
    "-c",
    "diff.external=",
    "-c",
    "credential.helper=",
    "-c",
    "core.askPass=",
];

const GIT_TIMEOUT: Duration = Duration::from_secs(120);

/// One git run: its exit code (None when a signal or the timeout ended it) and its output, status line kept only
/// when it failed.
struct GitRun {
    code: Option<i32>,
    text: String,
}

impl GitRun {
    fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// The refusal for a run that failed: `what` went wrong, then git's own words.
    fn failed(self, what: &str) -> ToolError {
        ToolError::new(
            ErrorKind::CommandFailed { program: "git".into(), status: self.code },
            format!("{what}:\n{}", self.text),
        )
    }
}

fn git(ctx: &Context, args: &[&str], cancel: &Cancel, budget: usize) -> ToolResult<GitRun> {
    let mut argv: Vec<String> = vec!["git".into(), "--no-pager".into()];
    argv.extend(GIT_SAFETY.iter().map(|s| s.to_string()));
    argv.extend(args.iter().map(|s| s.to_string()));
    // LC_ALL=C: git's messages in one language, whatever the user's locale (results quote them; no decision
    // reads them).
    let mut env: Vec<(String, String)> = vec![
        ("GIT_TERMINAL_PROMPT".into(), "0".into()),
        ("GIT_OPTIONAL_LOCKS".into(), "0".into()),
        ("LC_ALL".into(), "C".into()),
        ("LANGUAGE".into(), String::new()),
    ];
    // The user's identity lives in ~/.gitconfig, which the sandbox hides; codebox read it at start.
    let (name, email) = ctx.git_identity.clone();
    for k in ["GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"] {
        env.push((k.into(), name.clone()));
    }
    for k in ["GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"] {
        env.push((k.into(), email.clone()));
    }
    // git needs no network: its runs keep a private loopback rather than joining the session's.
    let run = Run {
        argv,
        report_dir: None,
        cwd: ctx.ws.root().to_path_buf(),
        extra_env: &env,
        timeout: GIT_TIMEOUT,
        net: None,
        proxy_token: None,
        lifetime: crate::sandbox::Lifetime::Call,
    };
    let done = execute(ctx, &run, None, budget, cancel, &Progress::default())?;
    let code = match done.exit {
        crate::sandbox::Exit::Code(c) => Some(c),
        _ => None,
    };
    let ok = code == Some(0);
    // A successful git run's status line (exit 0, its time, the layers) tells the model nothing; a failure's does.
    let text = match done.text.rfind("\n[exit 0 ·").or_else(|| done.text.starts_with("[exit 0 ·").then_some(0)) {
        Some(at) if ok && !done.text[at..].contains("SKIPPED") => done.text[..at].to_string(),
        _ => done.text,
    };
    Ok(GitRun { code, text })
}

/// A path argument: checked by the workspace (never outside it), then passed after `--` as relative text.
fn rel_path(ctx: &Context, p: &str) -> ToolResult<String> {
    let wp = ctx.ws.path(p)?;
    let rel = ctx.ws.lexical_inside(&wp)?;
    Ok(if rel.as_os_str().is_empty() { ".".into() } else { rel.to_string_lossy().into_owned() })
}

pub(crate) fn status(ctx: &Context, cancel: &Cancel) -> ToolResult<String> {
    Ok(git(ctx, &["status", "--short", "--branch", "--untracked-files=all"], cancel, ctx.budget(None)?)?.text)
}

pub(crate) fn diff(
    ctx: &Context,
    path: Option<&str>,
    staged: bool,
    max_output_chars: Option<usize>,
    cancel: &Cancel,
) -> ToolResult<String> {
    let mut args = vec!["diff", "--no-color", "--no-ext-diff", "--no-textconv", "--stat", "--patch"];
    if staged {
        args.push("--cached");
    }
    let p;
    args.push("--");
    if let Some(path) = path {
        p = rel_path(ctx, path)?;
        args.push(&p);
    }
    let text = git(ctx, &args, cancel, ctx.budget(max_output_chars)?)?.text;
    // `index 3f2a1b0..9c8d7e6 100644`: object ids the model never uses. The --stat block sums up several files;
    // for one file its patch says the same.
    let one_file = text.matches("\ndiff --git ").count() == 1;
    let start = if one_file { text.find("diff --git ").unwrap_or(0) } else { 0 };
    let kept: Vec<&str> = text[start..].split_inclusive('\n').filter(|l| !is_index_line(l)).collect();
    Ok(if text.is_empty() { "no changes".into() } else { kept.concat() })
}

fn is_index_line(l: &str) -> bool {
    l.strip_prefix("index ")
        .and_then(|r| r.split_whitespace().next())
        .is_some_and(|ids| ids.contains("..") && ids.chars().all(|c| c.is_ascii_hexdigit() || c == '.'))
}

pub(crate) fn commit(ctx: &Context, message: &str, paths: &[String], cancel: &Cancel) -> ToolResult<String> {
    if message.trim().is_empty() {
        return Err(ToolError::invalid("message is empty; say what the change does"));
    }
    let rels: Vec<String> = paths.iter().map(|p| rel_path(ctx, p)).collect::<ToolResult<_>>()?;
    let budget = ctx.budget(None)?;
    let mut add: Vec<&str> = vec!["add"];
    if rels.is_empty() {
        add.push("--all");
    }
    add.push("--");
    add.extend(rels.iter().map(String::as_str));
    let added = git(ctx, &add, cancel, budget)?;
    if !added.ok() {
        return Err(added.failed("git add failed, nothing committed"));
    }
    // `--message=` keeps a message that starts with `-` a message.
    let msg = format!("--message={message}");
    let mut args: Vec<&str> = vec!["commit", &msg];
    if !rels.is_empty() {
        args.push("--");
        args.extend(rels.iter().map(String::as_str));
    }
    let committed = git(ctx, &args, cancel, budget)?;
    if !committed.ok() {
        return Err(committed.failed("git commit failed"));
    }
    Ok(committed.text)
}

/// Refuses names git would read as options or refuse anyway, so the error is clear and early.
fn check_branch_name(name: &str) -> ToolResult<()> {
    let bad = name.is_empty()
        || name.starts_with('-')
        || name.starts_with('/')
        || name.ends_with('/')
        || name.ends_with(".lock")
        || name.ends_with('.')
        || name.contains("..")
        || name.contains("@{")
        || name.contains("//")
        || name == "@"
        || name.chars().any(|c| c.is_control() || c.is_whitespace() || "~^:?*[\\".contains(c));
    if bad {
        return Err(ToolError::invalid(format!(
            "{name:?} is not a valid branch name (no leading '-', spaces, '..', '~^:?*[\\\\', or trailing '.lock')"
        )));
    }
    Ok(())
}

pub(crate) fn branch(ctx: &Context, name: &str, cancel: &Cancel) -> ToolResult<String> {
    check_branch_name(name)?;
    let budget = ctx.budget(None)?;
    // Whether the branch exists is asked of git's plumbing (its exit code), never read from its messages, which
    // are translated in the user's locale.
    let reference = format!("refs/heads/{name}");
    let exists = git(ctx, &["rev-parse", "--verify", "--quiet", &reference], cancel, budget)?.ok();
    if exists {
        let switched = git(ctx, &["switch", name], cancel, budget)?;
        if switched.ok() {
            return Ok(format!("branch {name:?} already existed; switched to it\n{}", switched.text));
        }
        return Err(switched.failed(&format!("cannot switch to {name:?}")));
    }
    let created = git(ctx, &["switch", "--create", name], cancel, budget)?;
    if created.ok() {
        return Ok(created.text);
    }
    Err(created.failed(&format!("cannot create branch {name:?}")))
}

/// The identity for commits: `[user]` of ~/.gitconfig (or $XDG_CONFIG_HOME/git/config), else codebox's own.
pub fn identity_from_config() -> (String, String) {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".config")));
    let mut name = None;
    let mut email = None;
    for f in [home.map(|h| h.join(".gitconfig")), xdg.map(|x| x.join("git/config"))].into_iter().flatten() {
        let Ok(text) = std::fs::read_to_string(f) else { continue };
        let mut in_user = false;
        for line in text.lines() {
            let l = line.trim();
            if l.starts_with('[') {
                in_user = l.eq_ignore_ascii_case("[user]");
            } else if in_user && let Some((k, v)) = l.split_once('=') {
                match k.trim() {
                    "name" if name.is_none() => name = Some(v.trim().trim_matches('"').to_string()),
                    "email" if email.is_none() => email = Some(v.trim().trim_matches('"').to_string()),
                    _ => {}
                }
            }
        }
    }
    (name.unwrap_or_else(|| "codebox".into()), email.unwrap_or_else(|| "codebox@localhost".into()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn branch_names_that_could_be_options_are_refused() {
        for bad in ["-f", "--upload-pack=x", "a b", "a..b", "x.lock", "", "a~1", "@{u}"] {
            assert!(super::check_branch_name(bad).is_err(), "{bad}");
        }
        for good in ["fix/bug-12", "feature_x", "v1.2"] {
            assert!(super::check_branch_name(good).is_ok(), "{good}");
        }
    }
}
