//! Every tool in one place: its parameters type names it, describes it, states its hints and calls the domain.
//! Adding a tool is a params struct (params.rs), a `Spec` impl here and its line in `routes`.

use std::sync::Arc;

use rmcp::model::{JsonObject, ToolAnnotations};
use serde::Serialize;

use super::params::*;
use super::schema;
use crate::error::ToolResult;
use crate::tools::{self, Cancel, Context, Progress};

/// A tool's answer: text for the model, and structured content for tools that have it.
pub(super) struct Reply {
    pub text: String,
    pub structured: Option<serde_json::Value>,
}

impl Reply {
    pub(super) fn text(text: impl Into<String>) -> Self {
        Reply { text: text.into(), structured: None }
    }

    fn with<R: Serialize>((text, report): (String, R)) -> Self {
        Reply { text, structured: serde_json::to_value(&report).ok() }
    }
}

/// What a tool may do, as MCP's annotations say it. Every codebox tool stays inside the workspace (no open world).
#[derive(Clone, Copy)]
pub(super) enum Hints {
    ReadOnly,
    /// Changes files or runs commands; `idempotent` when repeating the call changes nothing more.
    Destructive {
        idempotent: bool,
    },
    /// Changes state without destroying any (a commit, a branch, a test run).
    Additive {
        idempotent: bool,
    },
}

impl Hints {
    /// Only what differs from MCP's defaults, plus destructive and open-world: the listing is paid for in every
    /// session.
    pub(super) fn annotations(self) -> ToolAnnotations {
        let a = ToolAnnotations::new();
        let a = match self {
            Hints::ReadOnly => a.read_only(true),
            Hints::Destructive { idempotent } | Hints::Additive { idempotent } => {
                let a = a.destructive(matches!(self, Hints::Destructive { .. }));
                if idempotent { a.idempotent(true) } else { a }
            }
        };
        a.open_world(false)
    }
}

/// One tool: the type of its arguments knows its name, its description and how to call the domain with them.
pub(super) trait Spec: serde::de::DeserializeOwned + schemars::JsonSchema + Send + 'static {
    const NAME: &'static str;
    const DESCRIPTION: &'static str;
    const HINTS: Hints;
    /// Whether a long call reports progress (elapsed time, bytes, the last line) to a client that asked.
    const PROGRESS: bool = false;

    /// The schema of the structured content, for tools that declare one.
    fn output_schema() -> Option<Arc<JsonObject>> {
        None
    }

    /// Runs on the blocking pool.
    fn call(self, ctx: &Context, cancel: &Cancel, progress: &Progress) -> ToolResult<Reply>;

    /// An answer computed on the calling task, when that is cheaper than a trip to the blocking pool.
    fn inline(&self, _ctx: &Context) -> Option<ToolResult<Reply>> {
        None
    }
}

const RO: Hints = Hints::ReadOnly;
const WRITES: Hints = Hints::Destructive { idempotent: false };

impl Spec for ReadFileParams {
    const NAME: &'static str = "read_file";
    const DESCRIPTION: &'static str =
        "Read a file as numbered lines, a window at a time, with its line count and version.";
    const HINTS: Hints = RO;
    fn output_schema() -> Option<Arc<JsonObject>> {
        Some(schema::cached::<ReadFileOutput>())
    }
    fn call(self, ctx: &Context, _: &Cancel, _: &Progress) -> ToolResult<Reply> {
        let req = self.request();
        tools::read::read_file(ctx, &req).map(Reply::with)
    }
    /// A small regular file is read in a few microseconds: handing it to the blocking pool would cost more (a
    /// cross-thread wake-up each way) than the read itself.
    fn inline(&self, ctx: &Context) -> Option<ToolResult<Reply>> {
        let req = self.request();
        let opened = tools::read::open_small(ctx, &req)?;
        Some(tools::read::read_opened(ctx, &req, Some(opened)).map(Reply::with))
    }
}

impl ReadFileParams {
    fn request(&self) -> tools::read::ReadRequest<'_> {
        tools::read::ReadRequest { path: &self.path, offset: self.offset, limit: self.limit, max_output_chars: None }
    }
}

impl Spec for ListDirectoryParams {
    const NAME: &'static str = "list_directory";
    const DESCRIPTION: &'static str = "A directory as a compact tree, honouring .gitignore.";
    const HINTS: Hints = RO;
    fn call(self, ctx: &Context, cancel: &Cancel, _: &Progress) -> ToolResult<Reply> {
        let req = tools::list::ListRequest { path: self.path.as_deref(), depth: self.depth };
        tools::list::list_directory(ctx, &req, cancel).map(Reply::text)
    }
}

impl Spec for FindFilesParams {
    const NAME: &'static str = "find_files";
    const DESCRIPTION: &'static str = "Find files by glob, newest first, honouring .gitignore.";
    const HINTS: Hints = RO;
    fn call(self, ctx: &Context, cancel: &Cancel, _: &Progress) -> ToolResult<Reply> {
        let req = tools::list::FindRequest { pattern: &self.pattern, path: self.path.as_deref() };
        tools::list::find_files(ctx, &req, cancel).map(Reply::text)
    }
}

impl Spec for ReadOutputParams {
    const NAME: &'static str = "read_output";
    const DESCRIPTION: &'static str =
        "The omitted part of a cut result, by id: a line range, or lines matching a regex.";
    const HINTS: Hints = RO;
    fn call(self, ctx: &Context, _: &Cancel, _: &Progress) -> ToolResult<Reply> {
        let req = tools::output_tool::ReadOutputRequest {
            id: &self.id,
            offset: self.offset,
            limit: self.limit,
            pattern: self.pattern.as_deref(),
            context: self.context,
            max_output_chars: self.max_output_chars,
        };
        tools::output_tool::read_output(ctx, &req).map(Reply::text)
    }
}

impl Spec for RunCommandParams {
    const NAME: &'static str = "run_command";
    const DESCRIPTION: &'static str = "Run `bash -c command` in a kernel sandbox: no network beyond this session's \
loopback (shared with jobs), writes only to the workspace and a private /tmp.";
    const HINTS: Hints = WRITES;
    const PROGRESS: bool = true;
    fn call(self, ctx: &Context, cancel: &Cancel, progress: &Progress) -> ToolResult<Reply> {
        let req = tools::command::CommandRequest {
            command: &self.command,
            cwd: self.cwd.as_deref(),
            timeout_secs: self.timeout_secs,
            env: self.env.unwrap_or_default().into_iter().collect(),
            max_output_chars: self.max_output_chars,
        };
        tools::command::run_command(ctx, &req, cancel, progress).map(Reply::text)
    }
}

impl Spec for WriteFileParams {
    const NAME: &'static str = "write_file";
    const DESCRIPTION: &'static str = "Create or replace a file; refused if it adds syntax errors.";
    const HINTS: Hints = Hints::Destructive { idempotent: true };
    fn call(self, ctx: &Context, _: &Cancel, _: &Progress) -> ToolResult<Reply> {
        let req = tools::edit::WriteRequest {
            path: &self.path,
            content: &self.content,
            expected_version: self.expected_version.as_deref(),
            allow_syntax_errors: self.allow_syntax_errors.unwrap_or(false),
        };
        tools::edit::write_file(ctx, &req).map(Reply::with)
    }
}

impl Spec for EditFileParams {
    const NAME: &'static str = "edit_file";
    const DESCRIPTION: &'static str = "Replace old_string with new_string (one match, or replace_all); all edits or \
none; refused if it adds syntax errors.";
    const HINTS: Hints = WRITES;
    fn call(self, ctx: &Context, _: &Cancel, _: &Progress) -> ToolResult<Reply> {
        let edits = self
            .edits
            .into_iter()
            .map(|e| crate::edits::Edit {
                old_string: e.old_string,
                new_string: e.new_string,
                replace_all: e.replace_all.unwrap_or(false),
            })
            .collect();
        let req = tools::edit::EditRequest {
            path: &self.path,
            edits,
            expected_version: self.expected_version.as_deref(),
            allow_syntax_errors: self.allow_syntax_errors.unwrap_or(false),
        };
        tools::edit::edit_file(ctx, &req).map(Reply::with)
    }
}

impl Spec for ApplyPatchParams {
    const NAME: &'static str = "apply_patch";
    const DESCRIPTION: &'static str = "Change, add, delete or move files with one patch (Codex's format or a \
unified diff): all files or none, one undo step.";
    const HINTS: Hints = WRITES;
    fn call(self, ctx: &Context, _: &Cancel, _: &Progress) -> ToolResult<Reply> {
        let req = tools::patch::PatchRequest {
            patch: &self.patch,
            expected_versions: self.expected_versions.unwrap_or_default(),
            allow_syntax_errors: self.allow_syntax_errors.unwrap_or(false),
        };
        tools::patch::apply_patch(ctx, &req).map(Reply::with)
    }
}

impl Spec for UndoEditParams {
    const NAME: &'static str = "undo_edit";
    const DESCRIPTION: &'static str =
        "Restore a file to before codebox's last write to it (every file of an apply_patch).";
    const HINTS: Hints = WRITES;
    fn call(self, ctx: &Context, _: &Cancel, _: &Progress) -> ToolResult<Reply> {
        tools::edit::undo_edit(ctx, &self.path).map(Reply::with)
    }
}

impl Spec for SearchParams {
    const NAME: &'static str = "search";
    const DESCRIPTION: &'static str = "Search file contents (ripgrep), honouring .gitignore; matches grouped by file.";
    const HINTS: Hints = RO;
    fn call(self, ctx: &Context, cancel: &Cancel, _: &Progress) -> ToolResult<Reply> {
        let req = tools::search::SearchRequest {
            pattern: &self.pattern,
            path: self.path.as_deref(),
            glob: self.glob.unwrap_or_default(),
            file_type: self.file_type.as_deref(),
            case: self.case.unwrap_or_default(),
            fixed_strings: self.fixed_strings.unwrap_or(false),
            multiline: self.multiline.unwrap_or(false),
            context: self.context,
            output: self.output.unwrap_or_default(),
            max_results: self.max_results,
            include_hidden: self.include_hidden.unwrap_or(false),
            include_ignored: self.include_ignored.unwrap_or(false),
            max_output_chars: self.max_output_chars,
        };
        tools::search::search(ctx, &req, cancel).map(Reply::text)
    }
}

impl Spec for RunTestsParams {
    const NAME: &'static str = "run_tests";
    const DESCRIPTION: &'static str = "Run tests in the sandbox (runner detected): status, counts, each failure with \
file:line and message, or the build errors.";
    const HINTS: Hints = Hints::Additive { idempotent: true };
    const PROGRESS: bool = true;
    fn output_schema() -> Option<Arc<JsonObject>> {
        Some(schema::cached::<RunTestsOutput>())
    }
    fn call(self, ctx: &Context, cancel: &Cancel, progress: &Progress) -> ToolResult<Reply> {
        let req = tools::run_tests::TestRequest {
            path: self.path.as_deref(),
            filter: self.filter.as_deref(),
            command: self.command.as_deref(),
        };
        let (report, text) = tools::run_tests::run_tests(ctx, &req, cancel, progress)?;
        Ok(Reply::with((text, report)))
    }
}

impl Spec for JobStartParams {
    const NAME: &'static str = "job_start";
    const DESCRIPTION: &'static str = "Start `bash -c command` as a background job (server, watcher, build) in the \
sandbox, on this session's loopback network. Returns its id, after waiting for wait_for, the exit or wait_secs.";
    const HINTS: Hints = WRITES;
    const PROGRESS: bool = true;
    fn call(self, ctx: &Context, cancel: &Cancel, progress: &Progress) -> ToolResult<Reply> {
        let req = tools::jobs::StartRequest {
            command: &self.command,
            cwd: self.cwd.as_deref(),
            env: self.env.unwrap_or_default().into_iter().collect(),
            name: self.name.as_deref(),
            wait_for: self.wait_for.as_deref(),
            wait_secs: self.wait_secs,
            timeout_secs: self.timeout_secs,
        };
        tools::jobs::start(ctx, &req, cancel, progress).map(Reply::with)
    }
}

impl Spec for JobOutputParams {
    const NAME: &'static str = "job_output";
    const DESCRIPTION: &'static str = "A job's new output since the last read, optionally waiting (wait_secs) for \
output, a wait_for line or the exit; or tail/pattern over all it kept.";
    const HINTS: Hints = RO;
    const PROGRESS: bool = true;
    fn call(self, ctx: &Context, cancel: &Cancel, progress: &Progress) -> ToolResult<Reply> {
        let req = tools::jobs::OutputRequest {
            id: &self.id,
            cursor: self.cursor,
            wait_for: self.wait_for.as_deref(),
            wait_secs: self.wait_secs,
            tail: self.tail,
            pattern: self.pattern.as_deref(),
            max_output_chars: self.max_output_chars,
        };
        tools::jobs::output(ctx, &req, cancel, progress).map(Reply::with)
    }
}

impl Spec for JobInputParams {
    const NAME: &'static str = "job_input";
    const DESCRIPTION: &'static str = "Send a line to a job's stdin (REPL, prompt), optionally waiting for the answer.";
    const HINTS: Hints = WRITES;
    const PROGRESS: bool = true;
    fn call(self, ctx: &Context, cancel: &Cancel, progress: &Progress) -> ToolResult<Reply> {
        let req = tools::jobs::InputRequest {
            id: &self.id,
            text: &self.text,
            wait_for: self.wait_for.as_deref(),
            wait_secs: self.wait_secs,
        };
        tools::jobs::input(ctx, &req, cancel, progress).map(Reply::with)
    }
}

impl Spec for JobIdParams {
    const NAME: &'static str = "job_stop";
    const DESCRIPTION: &'static str =
        "Stop a job's process tree (SIGTERM, then SIGKILL). Returns its exit status and last lines.";
    const HINTS: Hints = Hints::Destructive { idempotent: true };
    const PROGRESS: bool = true;
    fn call(self, ctx: &Context, _: &Cancel, _: &Progress) -> ToolResult<Reply> {
        tools::jobs::stop(ctx, &self.id).map(Reply::with)
    }
}

impl Spec for JobListParams {
    const NAME: &'static str = "job_list";
    const DESCRIPTION: &'static str = "This session's jobs: state, processes, runtime, output size.";
    const HINTS: Hints = RO;
    fn call(self, ctx: &Context, _: &Cancel, _: &Progress) -> ToolResult<Reply> {
        Ok(Reply::with(tools::jobs::list(ctx)))
    }
}

impl Spec for GitStatusParams {
    const NAME: &'static str = "git_status";
    const DESCRIPTION: &'static str = "git status: branch and changed files.";
    const HINTS: Hints = RO;
    fn call(self, ctx: &Context, cancel: &Cancel, _: &Progress) -> ToolResult<Reply> {
        tools::git::status(ctx, cancel).map(Reply::text)
    }
}

impl Spec for WorkspaceStatusParams {
    const NAME: &'static str = "workspace_status";
    const DESCRIPTION: &'static str = "Ahead/behind base, rebase conflicts.";
    const HINTS: Hints = RO;
    fn call(self, ctx: &Context, _: &Cancel, _: &Progress) -> ToolResult<Reply> {
        tools::ws::status(ctx).map(Reply::text)
    }
}

impl Spec for GitDiffParams {
    const NAME: &'static str = "git_diff";
    const DESCRIPTION: &'static str = "git diff of the working tree (or the index: staged), optionally for one path.";
    const HINTS: Hints = RO;
    fn call(self, ctx: &Context, cancel: &Cancel, _: &Progress) -> ToolResult<Reply> {
        let staged = self.staged.unwrap_or(false);
        tools::git::diff(ctx, self.path.as_deref(), staged, self.max_output_chars, cancel).map(Reply::text)
    }
}

impl Spec for GitCommitParams {
    const NAME: &'static str = "git_commit";
    const DESCRIPTION: &'static str = "Stage and commit paths (default: every change) with a message.";
    const HINTS: Hints = Hints::Additive { idempotent: false };
    fn call(self, ctx: &Context, cancel: &Cancel, _: &Progress) -> ToolResult<Reply> {
        tools::git::commit(ctx, &self.message, &self.paths.unwrap_or_default(), cancel).map(Reply::text)
    }
}

impl Spec for GitBranchParams {
    const NAME: &'static str = "git_branch";
    const DESCRIPTION: &'static str = "Create a branch and switch to it (or switch, if it exists).";
    const HINTS: Hints = Hints::Additive { idempotent: true };
    fn call(self, ctx: &Context, cancel: &Cancel, _: &Progress) -> ToolResult<Reply> {
        tools::git::branch(ctx, &self.name, cancel).map(Reply::text)
    }
}

impl Spec for OutlineParams {
    const NAME: &'static str = "outline";
    const DESCRIPTION: &'static str = "Symbols of a file or directory.";
    const HINTS: Hints = RO;
    fn call(self, ctx: &Context, cancel: &Cancel, _: &Progress) -> ToolResult<Reply> {
        tools::symbols::outline(ctx, &self.path, cancel).map(Reply::text)
    }
}

impl Spec for FindSymbolParams {
    const NAME: &'static str = "find_symbol";
    const DESCRIPTION: &'static str = "Where a symbol is defined.";
    const HINTS: Hints = RO;
    fn call(self, ctx: &Context, cancel: &Cancel, _: &Progress) -> ToolResult<Reply> {
        let req = tools::symbols::FindRequest {
            name: &self.name,
            path: self.path.as_deref(),
            include_body: self.include_body.unwrap_or(false),
        };
        tools::symbols::find_symbol(ctx, &req, cancel).map(Reply::text)
    }
}

impl Spec for FindReferencesParams {
    const NAME: &'static str = "find_references";
    const DESCRIPTION: &'static str = "Uses of a name.";
    const HINTS: Hints = RO;
    fn call(self, ctx: &Context, cancel: &Cancel, _: &Progress) -> ToolResult<Reply> {
        tools::symbols::find_references(ctx, &self.name, self.path.as_deref(), cancel).map(Reply::text)
    }
}

impl Spec for RepoMapParams {
    const NAME: &'static str = "repo_map";
    const DESCRIPTION: &'static str = "Ranked repo map.";
    const HINTS: Hints = RO;
    fn call(self, ctx: &Context, cancel: &Cancel, _: &Progress) -> ToolResult<Reply> {
        // "a.rs, Parser" is two focus items: a string may list several.
        let focus: Vec<String> = self
            .focus
            .unwrap_or_default()
            .iter()
            .flat_map(|f| f.split([',', '\n']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string))
            .collect();
        tools::symbols::repo_map(ctx, &focus, self.max_chars, cancel).map(Reply::text)
    }
}

impl Spec for EditSymbolParams {
    const NAME: &'static str = "edit_symbol";
    const DESCRIPTION: &'static str = "Replace or insert by symbol name.";
    const HINTS: Hints = WRITES;
    fn call(self, ctx: &Context, _: &Cancel, _: &Progress) -> ToolResult<Reply> {
        let req = tools::symbols::EditSymbolRequest {
            path: &self.path,
            name: &self.name,
            body: &self.body,
            position: self.position.unwrap_or_default(),
        };
        tools::symbols::edit_symbol(ctx, &req).map(Reply::text)
    }
}
