//! Named workspaces: checkouts of the project's repository, each on its own branch, for agents working in
//! parallel. This module makes, inspects, merges and removes them; `tools::Context::for_workspace` serves one.
//! It never sees a path or name the model sent: names come from the user, the orchestrator or the client's
//! configuration (the URL or header a connection is bound by), and every git run goes through `src/sandbox`.
//!
//! A workspace is `git clone --shared` of the main checkout into a directory codebox owns (`Store::dir`): its own
//! `.git` (refs, index, config, hooks) and working tree, borrowing the main repository's object store through
//! `objects/info/alternates`. Its sandbox shows that object store read-only and nothing else of the main
//! checkout, so commits land in the workspace's own store and refs. (git worktrees were not used: a worktree's
//! `.git` is a file naming the main repository, whose refs, config and object store it writes.)
//!
//! Layout: `<dir>/<name>/` the checkout, `<dir>/.meta/<name>.json` what it was made from (outside every
//! checkout, so no sandbox can edit it), `<dir>/.meta/<name>.sessions` the sessions a running server has bound.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::WorkspaceSettings;
use crate::sandbox::{Exit, Lifetime, Run, Sandbox, Stream};

/// A workspace's branch is `codebox/<name>`.
pub const BRANCH_PREFIX: &str = "codebox/";
/// The file in the main checkout naming gitignored files copied into each new workspace (`.env`, local config).
pub const INCLUDE_FILE: &str = ".codebox/workspace-include";
/// A name is short and plain: it becomes a directory, a branch and a URL segment.
const NAME_MAX: usize = 40;
/// One git run: a clone of a large repository's checkout or a merge; generous, but never unbounded.
const GIT_TIMEOUT: Duration = Duration::from_secs(600);
/// What one git run may print before its output is cut (a diff of a huge workspace).
const GIT_OUTPUT_MAX: usize = 32 << 20;

/// Checks a workspace name: `[a-z0-9][a-z0-9._-]*`, at most 40 characters, not ending in `.lock` or `.`.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= NAME_MAX
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && !name.contains("..")
        && !name.ends_with(".lock")
        && !name.ends_with('.');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid workspace name {name:?}: use 1 to {NAME_MAX} characters of a-z, 0-9, '.', '_' and '-', starting \
             with a letter or digit (for example issue-16)"
        ))
    }
}

/// What a workspace was made from. Written once by codebox, outside the checkout.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub name: String,
    pub branch: String,
    /// The main checkout's branch it was based on (where `merge` goes); None when the base was a commit or tag.
    pub base_branch: Option<String>,
    /// The base as the user named it, and the commit it resolved to.
    pub base: String,
    pub base_commit: String,
    /// Seconds since the epoch.
    pub created: u64,
    /// The first port of its range (`PORT`); the range is `ports_per_workspace` long.
    pub port: u16,
}

/// How to make a workspace.
#[derive(Debug, Clone, Default)]
pub struct NewRequest {
    pub name: String,
    /// A branch, tag or commit of the main repository; default the current branch's HEAD.
    pub base: Option<String>,
    /// Carry the main checkout's uncommitted changes to tracked files.
    pub carry: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Created {
    pub meta: Meta,
    pub path: PathBuf,
    pub included: Vec<String>,
    pub carried: bool,
    pub setup: Option<String>,
}

/// Where a workspace stands.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub meta: Meta,
    pub path: PathBuf,
    pub head: String,
    /// The base branch's head in the main checkout now (None when the base was not a branch).
    pub base_head: Option<String>,
    /// Commits on the workspace's branch not on the base, and on the base not on the workspace's branch.
    pub ahead: u64,
    pub behind: u64,
    pub base_moved: bool,
    /// Files a merge of the two tips would conflict on (empty: none); None when the base did not move.
    pub conflicts: Option<Vec<String>>,
    /// `git status --porcelain` lines: uncommitted changes, untracked files included.
    pub dirty: Vec<String>,
    pub disk_bytes: u64,
    /// Newest modification under the checkout (files or git metadata), seconds since the epoch.
    pub last_activity: u64,
    /// Sessions a running server has bound to it.
    pub sessions: u64,
}

/// How `merge` joins a workspace's branch into its base branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeMode {
    /// Fast-forward when the base has not moved, else a merge commit.
    Auto,
    FastForward,
    Squash,
    Commit,
}

impl MergeMode {
    pub fn parse(s: &str) -> Result<MergeMode, String> {
        match s {
            "auto" => Ok(MergeMode::Auto),
            "ff" | "fast-forward" => Ok(MergeMode::FastForward),
            "squash" => Ok(MergeMode::Squash),
            "merge" | "commit" => Ok(MergeMode::Commit),
            _ => Err(format!("unknown merge mode {s:?}: use auto, ff, squash or merge")),
        }
    }
}

/// The workspaces of one project.
pub struct Store {
    project: PathBuf,
    git_dir: PathBuf,
    dir: PathBuf,
    settings: WorkspaceSettings,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("project", &self.project).field("dir", &self.dir).finish()
    }
}

/// What a git run printed.
struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Out {
    fn ok(&self) -> bool {
        self.code == Some(0)
    }
    fn line(&self) -> String {
        self.stdout.trim().to_string()
    }
    fn why(&self) -> String {
        let e = self.stderr.trim();
        if e.is_empty() { self.stdout.trim().to_string() } else { e.to_string() }
    }
}

struct Never;
impl crate::sandbox::Cancelled for Never {
    fn cancelled(&self) -> bool {
        false
    }
}

/// Runs git confined by `sb` in `cwd`, with no pager, prompt, fsmonitor or credential helper.
fn git(sb: &Sandbox, cwd: &Path, args: &[&str], env: &[(String, String)]) -> Result<Out, String> {
    let mut argv: Vec<String> = [
        "git",
        "-c",
        "core.fsmonitor=false",
        "-c",
        "core.pager=cat",
        "-c",
        "color.ui=false",
        "-c",
        "credential.helper=",
        "-c",
        "core.editor=true",
        "-c",
        "advice.detachedHead=false",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    argv.extend(args.iter().map(|s| s.to_string()));
    let mut all_env: Vec<(String, String)> = vec![
        ("LC_ALL".into(), "C".into()),
        ("GIT_TERMINAL_PROMPT".into(), "0".into()),
        ("GIT_OPTIONAL_LOCKS".into(), "0".into()),
    ];
    all_env.extend(env.iter().cloned());
    let run = Run {
        argv,
        report_dir: None,
        cwd: cwd.to_path_buf(),
        extra_env: &all_env,
        timeout: GIT_TIMEOUT,
        net: None,
        proxy_token: None,
        lifetime: Lifetime::Call,
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let outcome = sb
        .run(&run, &Never, &mut |s, b| {
            let buf = if s == Stream::Stdout { &mut out } else { &mut err };
            if buf.len() < GIT_OUTPUT_MAX {
                buf.extend_from_slice(b);
            }
        })
        .map_err(|r| format!("the sandbox refused to run git: {}", r.reason))?;
    let code = match outcome.exit {
        Exit::Code(c) => Some(c),
        Exit::TimedOut(t) => return Err(format!("git {} timed out after {} s", args.join(" "), t.as_secs())),
        _ => None,
    };
    Ok(Out {
        code,
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
    })
}

/// `git` that must succeed; the error names the operation and quotes git.
fn git_ok(sb: &Sandbox, cwd: &Path, args: &[&str], what: &str) -> Result<Out, String> {
    let o = git(sb, cwd, args, &[])?;
    if o.ok() { Ok(o) } else { Err(format!("{what}: git {}: {}", args.join(" "), o.why())) }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl Store {
    /// The workspaces of the project at `project` (its main checkout, with a `.git` directory).
    pub fn open(project: &Path, settings: &WorkspaceSettings) -> Result<Store, String> {
        let project = std::fs::canonicalize(project).map_err(|e| format!("cannot open {}: {e}", project.display()))?;
        let git_dir = project.join(".git");
        if !git_dir.is_dir() {
            return Err(format!(
                "{} is not the top of a git repository with a .git directory; workspaces are checkouts of a \
                 repository's branches (run `git init` and commit first, or pass the repository's top as --root)",
                project.display()
            ));
        }
        let dir = match &settings.dir {
            Some(d) => std::path::absolute(d).map_err(|e| format!("workspaces.dir {}: {e}", d.display()))?,
            None => state_dir().join("codebox/workspaces").join(project_key(&project)),
        };
        if dir.starts_with(&project) {
            return Err(format!(
                "workspaces.dir {} is inside the project; workspaces must live outside it (the main checkout's \
                 sandbox would see them)",
                dir.display()
            ));
        }
        Ok(Store { project, git_dir, dir, settings: settings.clone() })
    }

    pub fn project(&self) -> &Path {
        &self.project
    }

    /// Where the checkouts live; codebox's own landlock domain must allow writing here.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Makes the store's directories (before codebox confines itself, since landlock can only name what exists).
    pub fn prepare(&self) -> Result<(), String> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(self.dir.join(".meta"))
            .map_err(|e| format!("cannot create {}: {e}", self.dir.display()))
    }

    pub fn path_of(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn meta_path(&self, name: &str) -> PathBuf {
        self.dir.join(".meta").join(format!("{name}.json"))
    }

    /// Whether workspace `name` is recorded (a cheap check, made before each use of a bound workspace).
    pub fn exists(&self, name: &str) -> bool {
        check_name(name).is_ok() && self.meta_path(name).is_file()
    }

    pub fn meta(&self, name: &str) -> Result<Meta, String> {
        check_name(name)?;
        let text = std::fs::read_to_string(self.meta_path(name)).map_err(|_| {
            format!(
                "no workspace named {name:?} in {}; `codebox ws list` shows them, `codebox ws new {name}` makes it",
                self.project.display()
            )
        })?;
        serde_json::from_str(&text).map_err(|e| format!("the record of workspace {name:?} is damaged ({e})"))
    }

    /// The names of every workspace, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.join(".meta"))
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| e.file_name().to_str()?.strip_suffix(".json").map(str::to_string))
                    .filter(|n| check_name(n).is_ok())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// The sandbox a workspace's tools run in: its checkout read-write, the main repository's object store
    /// read-only (the alternates its clone borrows), its own `PORT` range.
    pub fn sandbox_for(&self, main: &Sandbox, meta: &Meta) -> Sandbox {
        let end = meta.port.saturating_add(self.settings.ports_per_workspace - 1);
        let env = [
            ("PORT".to_string(), meta.port.to_string()),
            ("CODEBOX_PORTS".to_string(), format!("{}-{end}", meta.port)),
            ("CODEBOX_WORKSPACE".to_string(), meta.name.clone()),
        ];
        main.for_root(&self.path_of(&meta.name), &[self.git_dir.join("objects")], &env)
    }

    /// A sandbox over the main checkout that may also read `ws`'s repository (to fetch its branch).
    fn main_reading(&self, main: &Sandbox, name: &str) -> Sandbox {
        main.for_root(&self.project, &[self.path_of(name).join(".git")], &[])
    }

    /// Holds the store's lock while alive: creations and removals do not interleave (the count, the ports).
    fn lock(&self) -> Result<File, String> {
        self.prepare()?;
        let f = File::create(self.dir.join(".meta/lock")).map_err(|e| format!("cannot lock the workspaces: {e}"))?;
        f.lock().map_err(|e| format!("cannot lock the workspaces: {e}"))?;
        Ok(f)
    }

    /// Makes a workspace. Nothing is left behind when a step fails.
    pub fn create(&self, main: &Sandbox, req: &NewRequest) -> Result<Created, String> {
        check_name(&req.name)?;
        let _lock = self.lock()?;
        let names = self.names();
        if names.contains(&req.name) {
            return Err(format!("workspace {:?} already exists; `codebox ws status {0}` shows it", req.name));
        }
        if names.len() >= self.settings.max {
            return Err(format!(
                "there are already {} workspaces (workspaces.max = {}); merge or remove one (`codebox ws rm`) first",
                names.len(),
                self.settings.max
            ));
        }
        let path = self.path_of(&req.name);
        if path.exists() {
            return Err(format!("{} exists but is not a recorded workspace; move it away and retry", path.display()));
        }
        let named = match &req.base {
            Some(b) if b.starts_with('-') || b.is_empty() => {
                return Err(format!("invalid base {b:?}: name a branch, tag or commit"));
            }
            Some(b) => b.clone(),
            // The current branch and its HEAD: never a remote's default branch.
            None => "HEAD".to_string(),
        };
        // One run resolves the base to its commit and its full ref name (refs/heads/… for a branch, nothing for a
        // commit), and names the main checkout's branch (the clone copies it; see `populate`).
        let spec = format!("{named}^{{commit}}");
        let o = git(main, &self.project, &["rev-parse", &spec, "--symbolic-full-name", &named, "HEAD", "--"], &[])?;
        // rev-parse echoes the `--` that keeps names from being read as paths.
        let lines: Vec<&str> = o.stdout.lines().filter(|l| *l != "--").collect();
        if !o.ok() || lines.len() < 2 {
            return Err(format!(
                "base {named:?} is not a branch, tag or commit of {} (is the repository empty? commit first)",
                self.project.display()
            ));
        }
        let base_commit = lines[0].trim().to_string();
        // With a commit as base, rev-parse prints no name for it: the main checkout's HEAD is the last line.
        let (full, main_head) =
            if lines.len() >= 3 { (lines[1].trim(), lines[2].trim()) } else { ("", lines[1].trim()) };
        let base_branch = full.strip_prefix("refs/heads/").map(str::to_string);
        let base = match (&req.base, &base_branch) {
            (None, Some(b)) => b.clone(),
            (Some(b), _) => b.strip_prefix("refs/heads/").unwrap_or(b).to_string(),
            (None, None) => "HEAD".to_string(),
        };
        let clone_branch = main_head.strip_prefix("refs/heads/").map(str::to_string);
        let used: Vec<u16> = names.iter().filter_map(|n| self.meta(n).ok()).map(|m| m.port).collect();
        let step = self.settings.ports_per_workspace;
        let port = (0..self.settings.max as u64)
            .map(|i| self.settings.port_start as u64 + i * step as u64)
            .find(|p| !used.contains(&(*p as u16)))
            .unwrap_or(self.settings.port_start as u64) as u16;
        let meta = Meta {
            name: req.name.clone(),
            branch: format!("{BRANCH_PREFIX}{}", req.name),
            base_branch,
            base,
            base_commit,
            created: now(),
            port,
        };
        std::fs::create_dir(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        match self.populate(main, req, &meta, &path, clone_branch.as_deref()) {
            Ok((included, carried, setup)) => {
                // The workspace borrows the base's objects from the main repository: a hidden ref keeps them
                // from `git gc` there should the base branch be rewound or deleted. (Its own commits are in its
                // own object store.)
                let keep = keep_ref(&meta.name);
                if let Err(e) =
                    git_ok(main, &self.project, &["update-ref", &keep, &meta.base_commit], "keeping the base")
                {
                    let _ = std::fs::remove_dir_all(&path);
                    return Err(e);
                }
                write_atomic(&self.meta_path(&meta.name), &serde_json::to_vec_pretty(&meta).unwrap_or_default())
                    .inspect_err(|_| {
                        let _ = std::fs::remove_dir_all(&path);
                        let _ = git(main, &self.project, &["update-ref", "-d", &keep], &[]);
                    })?;
                Ok(Created { meta, path, included, carried, setup })
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&path);
                Err(e)
            }
        }
    }

    /// `clone_branch`: the main checkout's current branch, which the clone copies as a local branch.
    fn populate(
        &self,
        main: &Sandbox,
        req: &NewRequest,
        meta: &Meta,
        path: &Path,
        clone_branch: Option<&str>,
    ) -> Result<(Vec<String>, bool, Option<String>), String> {
        // The clone reads the main repository (read-only in its sandbox) and writes only the new directory.
        let cloner = main.for_root(path, std::slice::from_ref(&self.git_dir), &[]);
        let project = self.project.to_string_lossy();
        git_ok(&cloner, path, &["clone", "--shared", "--no-checkout", "--quiet", "--", &project, "."], "clone")?;
        let ws = self.sandbox_for(main, meta);
        git_ok(&ws, path, &["checkout", "--quiet", "-b", &meta.branch, &meta.base_commit], "checkout")?;
        // The clone also made a local copy of the main checkout's branch: only the workspace's own is kept, so
        // there is one branch to work on (the main repository's stay visible as origin/*).
        if let Some(other) = clone_branch.filter(|b| *b != meta.branch) {
            git_ok(&ws, path, &["branch", "--quiet", "-D", "--", other], "tidying the clone's branches")?;
        }
        let mut carried = false;
        if req.carry {
            // `stash create` records the main checkout's changes as a commit without touching its index or
            // tree; the workspace reads that commit through the shared object store.
            let o = git_ok(main, &self.project, &["stash", "create"], "recording the uncommitted changes")?;
            let stash = o.line();
            if !stash.is_empty() {
                git_ok(&ws, path, &["stash", "apply", "--quiet", &stash], "carrying the uncommitted changes")?;
                carried = true;
            }
        }
        let included = self.copy_included(path)?;
        let setup = match &self.settings.setup {
            None => None,
            Some(cmd) => {
                let shell = main.settings().shell.clone();
                let run = Run {
                    argv: vec![shell, "-c".into(), cmd.clone()],
                    report_dir: None,
                    cwd: path.to_path_buf(),
                    extra_env: &[],
                    timeout: GIT_TIMEOUT,
                    net: None,
                    proxy_token: None,
                    lifetime: Lifetime::Call,
                };
                let mut text = Vec::new();
                let outcome = ws
                    .run(&run, &Never, &mut |_, b| {
                        if text.len() < 64 << 10 {
                            text.extend_from_slice(b)
                        }
                    })
                    .map_err(|r| format!("the sandbox refused the setup command: {}", r.reason))?;
                let text = String::from_utf8_lossy(&text).into_owned();
                if outcome.exit != Exit::Code(0) {
                    return Err(format!(
                        "the setup command {cmd:?} failed ({:?}); the workspace was not kept. Its output:\n{text}",
                        outcome.exit
                    ));
                }
                Some(text)
            }
        };
        Ok((included, carried, setup))
    }

    /// Copies what `.codebox/workspace-include` names (one path per line, relative, `#` comments) from the main
    /// checkout into `path`: files and directories, symlinks skipped; a path already in the checkout is kept.
    fn copy_included(&self, path: &Path) -> Result<Vec<String>, String> {
        let Ok(list) = std::fs::read_to_string(self.project.join(INCLUDE_FILE)) else { return Ok(Vec::new()) };
        let mut copied = Vec::new();
        for (n, line) in list.lines().enumerate() {
            let line = line.trim().trim_end_matches('/');
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let rel = Path::new(line);
            if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
                return Err(format!(
                    "{INCLUDE_FILE} line {}: {line:?} must be a path relative to the project, without '..'",
                    n + 1
                ));
            }
            let (from, to) = (self.project.join(rel), path.join(rel));
            if std::fs::symlink_metadata(&to).is_ok() || std::fs::symlink_metadata(&from).is_err() {
                continue;
            }
            // A symlinked directory on either side (a tracked `config -> /etc`) would lead the copy out.
            if through_symlink(&self.project, rel) || through_symlink(path, rel) {
                return Err(format!(
                    "{INCLUDE_FILE} line {}: {line:?} goes through a symlinked directory; name the real path",
                    n + 1
                ));
            }
            copy_tree(&from, &to).map_err(|e| format!("copying {line} into the workspace: {e}"))?;
            copied.push(line.to_string());
        }
        Ok(copied)
    }

    /// Where a workspace stands against its base. `sessions` is read from a running server's record.
    pub fn status(&self, main: &Sandbox, name: &str) -> Result<Status, String> {
        let meta = self.meta(name)?;
        let path = self.path_of(name);
        let ws = self.sandbox_for(main, &meta);
        let head = git_ok(&ws, &path, &["rev-parse", "--verify", "HEAD"], "reading the workspace's HEAD")?.line();
        let base_head = match &meta.base_branch {
            Some(b) => {
                let full = format!("refs/heads/{b}");
                let o = git(main, &self.project, &["rev-parse", "--verify", "--quiet", &full], &[])?;
                o.ok().then(|| o.line())
            }
            None => None,
        };
        let against = base_head.clone().unwrap_or_else(|| meta.base_commit.clone());
        let range = format!("{against}...HEAD");
        let o = git_ok(&ws, &path, &["rev-list", "--left-right", "--count", &range], "counting commits")?;
        let mut counts = o.stdout.split_whitespace().map(|n| n.parse::<u64>().unwrap_or(0));
        let (behind, ahead) = (counts.next().unwrap_or(0), counts.next().unwrap_or(0));
        let base_moved = against != meta.base_commit;
        let conflicts = if base_moved && ahead > 0 {
            let o = git(
                &ws,
                &path,
                &["merge-tree", "--write-tree", "--name-only", "--no-messages", &against, "HEAD"],
                &[],
            )?;
            match o.code {
                Some(0) => Some(Vec::new()),
                Some(1) => Some(o.stdout.lines().skip(1).filter(|l| !l.is_empty()).map(str::to_string).collect()),
                _ => return Err(format!("checking for conflicts: {}", o.why())),
            }
        } else if base_moved {
            Some(Vec::new())
        } else {
            None
        };
        let dirty = git_ok(&ws, &path, &["status", "--porcelain", "--untracked-files=all"], "reading the status")?
            .stdout
            .lines()
            .map(str::to_string)
            .collect();
        let (disk_bytes, last_activity) = disk_and_newest(&path);
        Ok(Status {
            sessions: self.sessions(name),
            meta,
            path,
            head,
            base_head,
            ahead,
            behind,
            base_moved,
            conflicts,
            dirty,
            disk_bytes,
            last_activity,
        })
    }

    /// The workspace's committed changes against its base (a diff from the merge base), and its uncommitted ones.
    pub fn diff(&self, main: &Sandbox, name: &str) -> Result<String, String> {
        let st = self.status(main, name)?;
        let ws = self.sandbox_for(main, &st.meta);
        let against = st.base_head.clone().unwrap_or(st.meta.base_commit.clone());
        let range = format!("{against}...HEAD");
        let mut text =
            git_ok(&ws, &st.path, &["diff", "--no-ext-diff", "--no-textconv", "--stat", "--patch", &range], "diff")?
                .stdout;
        if !st.dirty.is_empty() {
            let unc = git_ok(&ws, &st.path, &["diff", "--no-ext-diff", "--no-textconv", "HEAD"], "diff")?.stdout;
            text.push_str(&format!("\n# uncommitted ({} files):\n{}", st.dirty.len(), st.dirty.join("\n")));
            if !unc.is_empty() {
                text.push('\n');
                text.push_str(&unc);
            }
        }
        Ok(text)
    }

    /// The workspace's commits not on its base.
    pub fn log(&self, main: &Sandbox, name: &str) -> Result<String, String> {
        let st = self.status(main, name)?;
        let ws = self.sandbox_for(main, &st.meta);
        let against = st.base_head.clone().unwrap_or(st.meta.base_commit.clone());
        let range = format!("{against}..HEAD");
        Ok(git_ok(&ws, &st.path, &["log", "--format=%h %ad %s", "--date=short", &range, "--"], "log")?.stdout)
    }

    /// Merges the workspace's branch into its base branch in the main checkout. Refuses, leaving the main
    /// checkout as it was, when the base branch is not checked out there, when either side has uncommitted
    /// changes to tracked files, or when the merge would conflict (naming the files).
    pub fn merge(
        &self,
        main: &Sandbox,
        name: &str,
        mode: MergeMode,
        identity: &(String, String),
    ) -> Result<String, String> {
        let st = self.status(main, name)?;
        let Some(base) = st.meta.base_branch.clone() else {
            return Err(format!(
                "workspace {name:?} was based on {} ({}), not a branch: there is no branch to merge into. Fetch its \
                 branch {} from {} by hand",
                st.meta.base,
                short(&st.meta.base_commit),
                st.meta.branch,
                st.path.display()
            ));
        };
        let tracked_dirty: Vec<&String> = st.dirty.iter().filter(|l| !l.starts_with("??")).collect();
        if !tracked_dirty.is_empty() {
            return Err(format!(
                "workspace {name:?} has uncommitted changes, which a merge would not carry; commit or discard them \
                 first:\n{}",
                tracked_dirty.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n")
            ));
        }
        let current = git(main, &self.project, &["symbolic-ref", "--quiet", "--short", "HEAD"], &[])?.line();
        if current != base {
            return Err(format!(
                "the main checkout is on {:?}, but workspace {name:?} merges into {base:?}; check out {base:?} in {} \
                 first",
                if current.is_empty() { "a detached HEAD" } else { &current },
                self.project.display()
            ));
        }
        let o = git_ok(main, &self.project, &["status", "--porcelain", "--untracked-files=no"], "status")?;
        if !o.stdout.trim().is_empty() {
            return Err(format!(
                "the main checkout has uncommitted changes; commit or stash them before merging:\n{}",
                o.stdout.trim_end()
            ));
        }
        if st.ahead == 0 || self.already_in_base(main, &st)? {
            return Ok(format!("nothing to merge: {base} already has everything {} changed", st.meta.branch));
        }
        let reader = self.main_reading(main, name);
        let ws_path = st.path.to_string_lossy().into_owned();
        // The workspace's HEAD: what its status counted, even if its agent switched branches.
        git_ok(&reader, &self.project, &["fetch", "--quiet", "--no-tags", "--", &ws_path, "HEAD"], "fetch")?;
        let incoming =
            git_ok(&reader, &self.project, &["rev-parse", "--verify", "FETCH_HEAD^{commit}"], "fetch")?.line();
        let head = git_ok(main, &self.project, &["rev-parse", "--verify", "HEAD"], "HEAD")?.line();
        let ff_possible = git(main, &self.project, &["merge-base", "--is-ancestor", &head, &incoming], &[])?.ok();
        let mode = match mode {
            MergeMode::Auto if ff_possible => MergeMode::FastForward,
            MergeMode::Auto => MergeMode::Commit,
            MergeMode::FastForward if !ff_possible => {
                return Err(format!(
                    "{base} moved since workspace {name:?} was made ({} commits), so it cannot fast-forward; merge \
                     with --mode merge or --mode squash, or rebase the workspace",
                    st.behind
                ));
            }
            m => m,
        };
        if mode != MergeMode::FastForward {
            // Decided before anything is touched: a conflict leaves the main checkout exactly as it was.
            let o = git(
                main,
                &self.project,
                &["merge-tree", "--write-tree", "--name-only", "--no-messages", &head, &incoming],
                &[],
            )?;
            match o.code {
                Some(0) => {}
                Some(1) => {
                    let files: Vec<&str> = o.stdout.lines().skip(1).filter(|l| !l.is_empty()).collect();
                    return Err(format!(
                        "merging workspace {name:?} into {base} would conflict in {} file(s):\n{}\nThe main checkout \
                         was not changed. Resolve in the workspace (merge or rebase onto {base} there, commit), then \
                         merge again",
                        files.len(),
                        files.join("\n")
                    ));
                }
                _ => return Err(format!("checking the merge: {}", o.why())),
            }
        }
        let (n, e) = identity;
        let env: Vec<(String, String)> =
            [("GIT_AUTHOR_NAME", n), ("GIT_COMMITTER_NAME", n), ("GIT_AUTHOR_EMAIL", e), ("GIT_COMMITTER_EMAIL", e)]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let message = format!("Merge workspace {name} ({})", st.meta.branch);
        let steps: Vec<Vec<&str>> = match mode {
            MergeMode::FastForward => vec![vec!["merge", "--quiet", "--ff-only", &incoming]],
            MergeMode::Commit => vec![vec!["merge", "--quiet", "--no-ff", "--no-edit", "-m", &message, &incoming]],
            _ => vec![
                vec!["merge", "--quiet", "--squash", &incoming],
                vec!["commit", "--quiet", "--no-edit", "-m", &message],
            ],
        };
        for step in &steps {
            let o = git(main, &self.project, step, &env)?;
            if !o.ok() {
                // Put the main checkout back as it was (an untracked file in the way, a hook that refused).
                let _ = git(main, &self.project, &["reset", "--quiet", "--merge"], &[]);
                let _ = git(main, &self.project, &["reset", "--quiet", "--keep", &head], &[]);
                return Err(format!(
                    "the merge was refused and undone; the main checkout is as it was. git said: {}",
                    o.why()
                ));
            }
        }
        let new = git_ok(main, &self.project, &["rev-parse", "--short", "HEAD"], "HEAD")?.line();
        let how = match mode {
            MergeMode::FastForward => "fast-forward",
            MergeMode::Squash => "squashed into one commit",
            _ => "merge commit",
        };
        Ok(format!("merged workspace {name} into {base} ({how}, {} commit(s)): {}..{new}", st.ahead, short(&head)))
    }

    /// Removes a workspace. Without `force`, refuses while it has uncommitted changes, untracked files, commits
    /// its base lacks, or bound sessions; with `force`, says what was deleted.
    pub fn remove(&self, main: &Sandbox, name: &str, force: bool) -> Result<String, String> {
        let st = self.status(main, name)?;
        let unmerged = st.ahead > 0 && !self.already_in_base(main, &st)?;
        // Work off HEAD: other branches with commits the base lacks, and stashes (an agent that switched branches
        // or stashed must not lose that either).
        let against = st.base_head.clone().unwrap_or(st.meta.base_commit.clone());
        let ws = self.sandbox_for(main, &st.meta);
        let refs = git_ok(&ws, &st.path, &["for-each-ref", "--format=%(refname)", "refs/heads", "refs/stash"], "refs")?;
        let mut elsewhere = Vec::new();
        for r in refs.stdout.lines().filter(|r| !r.is_empty()) {
            let range = format!("{against}..{r}");
            let n = git_ok(&ws, &st.path, &["rev-list", "--count", &range, "--"], "counting commits")?.line();
            let head_has = git(&ws, &st.path, &["merge-base", "--is-ancestor", r, "HEAD"], &[])?.ok();
            if n != "0" && (r == "refs/stash" || !head_has) {
                elsewhere.push(format!("{} ({n} commit(s))", r.trim_start_matches("refs/heads/")));
            }
        }
        let mut problems = Vec::new();
        if !st.dirty.is_empty() {
            problems.push(format!(
                "{} uncommitted change(s) or untracked file(s):\n{}",
                st.dirty.len(),
                st.dirty.join("\n")
            ));
        }
        if unmerged {
            problems.push(format!(
                "{} commit(s) on {} not merged into {} (`codebox ws merge {name}`)",
                st.ahead,
                st.meta.branch,
                st.meta.base_branch.as_deref().unwrap_or(&st.meta.base)
            ));
        }
        if !elsewhere.is_empty() {
            problems.push(format!("work outside its HEAD that {against:.10} lacks: {}", elsewhere.join(", ")));
        }
        if st.sessions > 0 {
            problems.push(format!("{} session(s) of a running server are bound to it", st.sessions));
        }
        if !problems.is_empty() && !force {
            return Err(format!(
                "workspace {name:?} was not removed: it has {}\nMerge or discard the work, or pass --force to delete it \
                 anyway",
                problems.join("\n")
            ));
        }
        let _lock = self.lock()?;
        std::fs::remove_dir_all(&st.path).map_err(|e| format!("cannot remove {}: {e}", st.path.display()))?;
        let _ = git(main, &self.project, &["update-ref", "-d", &keep_ref(name)], &[]);
        let _ = std::fs::remove_file(self.meta_path(name));
        let _ = std::fs::remove_file(self.sessions_path(name));
        let mut text = format!("removed workspace {name} ({})", st.path.display());
        if !problems.is_empty() {
            text.push_str(&format!("\nDeleted with it (--force): {}", problems.join("\n")));
        }
        Ok(text)
    }

    /// Whether the base already holds everything the workspace's branch changed (merged, or squashed in): a
    /// merge of the two tips would leave the base's tree as it is.
    fn already_in_base(&self, main: &Sandbox, st: &Status) -> Result<bool, String> {
        let against = st.base_head.clone().unwrap_or(st.meta.base_commit.clone());
        let ws = self.sandbox_for(main, &st.meta);
        let args = ["merge-tree", "--write-tree", "--no-messages", &against, "HEAD"];
        let o = git(&ws, &st.path, &args, &[])?;
        if o.code != Some(0) {
            return Ok(false);
        }
        let tree = format!("{against}^{{tree}}");
        let base_tree = git_ok(&ws, &st.path, &["rev-parse", "--verify", &tree], "reading the base")?.line();
        Ok(o.stdout.lines().next().map(str::trim) == Some(base_tree.as_str()))
    }

    fn sessions_path(&self, name: &str) -> PathBuf {
        self.dir.join(".meta").join(format!("{name}.sessions"))
    }

    /// Sessions a live server has bound to `name` (its record names its pid; a dead server's record counts 0).
    pub fn sessions(&self, name: &str) -> u64 {
        let Ok(text) = std::fs::read_to_string(self.sessions_path(name)) else { return 0 };
        text.lines()
            .filter_map(|l| {
                let (pid, n) = l.split_once(' ')?;
                let pid: i32 = pid.parse().ok()?;
                (!crate::workspace::write::process_is_gone(pid)).then(|| n.trim().parse::<u64>().ok())?
            })
            .sum()
    }

    /// Records that this process has `n` sessions bound to `name` (other processes' lines are kept).
    pub fn record_sessions(&self, name: &str, n: u64) {
        let me = std::process::id().to_string();
        let path = self.sessions_path(name);
        let mut lines: Vec<String> = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.split(' ').next() != Some(me.as_str()))
            .map(str::to_string)
            .collect();
        if n > 0 {
            lines.push(format!("{me} {n}"));
        }
        let _ = write_atomic(&path, lines.join("\n").as_bytes());
    }
}

/// Counts the sessions bound to one workspace in this process and keeps the store's record of them.
pub struct Attachments {
    store: std::sync::Arc<Store>,
    name: String,
    count: std::sync::Mutex<u64>,
}

impl Attachments {
    pub fn new(store: std::sync::Arc<Store>, name: &str) -> Attachments {
        Attachments { store, name: name.to_string(), count: Default::default() }
    }

    /// A session bound; the guard unbinds it when dropped.
    pub fn attach(self: &std::sync::Arc<Self>) -> Attached {
        self.change(1);
        Attached(self.clone())
    }

    fn change(&self, by: i64) {
        let mut c = self.count.lock().unwrap_or_else(|e| e.into_inner());
        *c = c.saturating_add_signed(by);
        self.store.record_sessions(&self.name, *c);
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// What a context bound to a workspace knows of it: its store and name (through its attachments), and the main
/// checkout's sandbox, for reading where the base branch stands.
pub struct Binding {
    pub attachments: std::sync::Arc<Attachments>,
    pub main: std::sync::Arc<Sandbox>,
}

/// One bound session; dropping it unbinds.
pub struct Attached(std::sync::Arc<Attachments>);

impl Drop for Attached {
    fn drop(&mut self) {
        self.0.change(-1);
    }
}

/// The main repository's ref that keeps a workspace's base commit (and so every object it borrows) alive.
pub fn keep_ref(name: &str) -> String {
    format!("refs/codebox/workspaces/{name}")
}

/// The project's directory name under the state directory: FNV-1a of its path, fixed forever (std's hasher may
/// change between Rust releases, which would lose track of every workspace).
fn project_key(project: &Path) -> String {
    crate::history::stable_key(project)
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(10)]
}

fn state_dir() -> PathBuf {
    std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir)
}

/// Writes a file whole or not at all: a temporary file beside it, renamed over it.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    tmp.persist(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(())
}

/// Whether a directory on the way from `base` to `base/rel` (not `rel` itself) is a symlink.
fn through_symlink(base: &Path, rel: &Path) -> bool {
    let mut at = base.to_path_buf();
    let parts: Vec<_> = rel.components().collect();
    for c in &parts[..parts.len().saturating_sub(1)] {
        at.push(c);
        if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
            return true;
        }
    }
    false
}

/// Copies a file or a directory tree, never following symlinks (they are skipped).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    let md = std::fs::symlink_metadata(from)?;
    if md.is_file() {
        if let Some(p) = to.parent() {
            std::fs::create_dir_all(p)?;
        }
        std::fs::copy(from, to)?;
    } else if md.is_dir() {
        std::fs::create_dir_all(to)?;
        for e in std::fs::read_dir(from)? {
            let e = e?;
            copy_tree(&e.path(), &to.join(e.file_name()))?;
        }
    }
    Ok(())
}

/// Disk used under `dir` (allocated blocks, hard links counted once per walk) and the newest modification time.
fn disk_and_newest(dir: &Path) -> (u64, u64) {
    let (mut bytes, mut newest) = (0u64, 0u64);
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let Ok(md) = e.metadata() else { continue };
            if md.nlink() > 1 && !md.is_dir() && !seen.insert((md.dev(), md.ino())) {
                continue;
            }
            bytes += md.blocks() * 512;
            newest = newest.max(md.mtime().max(0) as u64);
            if md.is_dir() {
                stack.push(e.path());
            }
        }
    }
    (bytes, newest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain() {
        for good in ["a", "issue-16", "x.y_z", "0abc"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "-x", ".x", "../x", "a/b", "A", "x.lock", "x.", "a..b", &"x".repeat(41), "a b", "é"] {
            let e = check_name(bad).unwrap_err();
            assert!(e.contains("invalid workspace name"), "{bad}: {e}");
        }
    }

    #[test]
    fn includes_never_pass_through_a_symlinked_directory() {
        let d = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc", d.path().join("conf")).unwrap();
        std::fs::create_dir(d.path().join("real")).unwrap();
        assert!(through_symlink(d.path(), Path::new("conf/passwd")));
        assert!(!through_symlink(d.path(), Path::new("real/x")));
        // The last component is checked by the copy itself (symlinks are skipped), not here.
        assert!(!through_symlink(d.path(), Path::new("conf")));
    }

    #[test]
    fn the_project_key_is_fixed() {
        // FNV-1a test vectors: the empty input and "a".
        assert_eq!(project_key(Path::new("")), "cbf29ce484222325");
        assert_eq!(project_key(Path::new("a")), "af63dc4c8601ec8c");
    }

    #[test]
    fn merge_modes_parse() {
        assert_eq!(MergeMode::parse("ff").unwrap(), MergeMode::FastForward);
        assert_eq!(MergeMode::parse("squash").unwrap(), MergeMode::Squash);
        assert!(MergeMode::parse("rebase").unwrap_err().contains("auto, ff, squash or merge"));
    }
}
