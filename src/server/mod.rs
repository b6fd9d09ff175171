//! The only module that knows MCP: tool routing, parameter schemas, result conversion, transports.
//! Tool logic lives in `crate::tools`; this module adapts it to rmcp and nothing else.

// Logging is deprecated by SEP-2577, but clients of 2025-11-25 and the conformance suite still call
// logging/setLevel, so the server keeps answering it.
#![allow(deprecated)]

mod families;
mod forgiving;
pub mod http;
pub mod logging;
pub mod params;
pub mod schema;
mod stdio;

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, JsonObject,
    ListResourceTemplatesResult, ListResourcesResult, PaginatedRequestParams, ProgressNotificationParam,
    ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource, ResourceContents,
    ResourceTemplate, ServerCapabilities, ServerConfig, SetLevelRequestParams, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use tokio_util::sync::CancellationToken;

use crate::error::ToolResult;
use crate::tools::{self, Cancel, Context, Progress};
use params::*;

const INSTRUCTIONS: &str = "codebox: a confined workbench over one workspace directory. \
Paths are relative to the workspace root; nothing outside it is reachable. \
Explore with list_directory and find_files, then read_file (numbered lines; follow the `next:` hint for more). \
Long results are cut to a budget and name the read_output call that returns the rest. \
Servers and watchers run as jobs (job_start), reachable from run_command and run_tests on localhost. \
Code intelligence without reading whole files: outline (a file's or directory's definitions with line ranges), \
find_symbol (definitions of a name or Class.method, include_body for source), find_references (uses in code, \
not comments or strings), repo_map (the most referenced files and signatures; focus on files or names), \
edit_symbol (replace a definition whole, signature included, or insert before/after it; syntax-checked, undoable).";

#[derive(Clone)]
pub struct CodeboxServer {
    ctx: Context,
    tool_router: ToolRouter<Self>,
    log_level: logging::SessionLevel,
}

struct CancelOnDrop(Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Runs blocking tool code off the async runtime; a client cancellation sets the domain's flag so the work
/// stops at its next check, and the call answers at once.
async fn blocking<F>(ct: CancellationToken, f: F) -> CallToolResult
where
    F: FnOnce(&Cancel) -> ToolResult<String> + Send + 'static,
{
    let cancel = Cancel::default();
    let inner = cancel.clone();
    // If this future is dropped (the client went away), the blocking work is told to stop.
    let _guard = CancelOnDrop(cancel.clone());
    // spawn_blocking panics when the system refuses a new thread (a process table filled by someone else's fork
    // bomb): answer that as a tool error instead of losing the request.
    let spawned =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| tokio::task::spawn_blocking(move || f(&inner))));
    let Ok(task) = spawned else {
        return CallToolResult::error(vec![ContentBlock::text(
            "codebox could not start a worker thread: the system is out of processes or threads right now. Retry shortly",
        )]);
    };
    tokio::select! {
        joined = task => match joined {
            Ok(result) => text_result(result),
            Err(e) => CallToolResult::error(vec![ContentBlock::text(format!(
                "internal error in codebox ({e}); this is a bug, please report it"
            ))]),
        },
        _ = ct.cancelled() => {
            cancel.cancel();
            CallToolResult::error(vec![ContentBlock::text("cancelled by the client")])
        }
    }
}

/// Deserializes a tool's arguments after the forgiving pass (`forgiving.rs`) brought them to the shape of the
/// tool's schema; the error names the offending field, so the model can fix that one.
fn parse<T: serde::de::DeserializeOwned + schemars::JsonSchema + 'static>(
    tool: &str,
    mut args: JsonObject,
) -> Result<T, CallToolResult> {
    let refuse = |msg: String| {
        CallToolResult::error(vec![ContentBlock::text(format!(
            "invalid arguments for {tool}: {msg}; see the tool's input schema"
        ))])
    };
    forgiving::normalize(&mut args, &schema::cached::<T>()).map_err(refuse)?;
    serde_path_to_error::deserialize(serde_json::Value::Object(args)).map_err(|e| {
        let at = e.path().to_string();
        let at = if at == "." { String::new() } else { format!("{at}: ") };
        refuse(format!("{at}{}", e.into_inner()))
    })
}

/// Like `blocking`, and while the call runs, sends a progress notification every second when the client gave
/// a progress token: elapsed time, bytes so far, the last line.
async fn blocking_with_progress<F>(ct: CancellationToken, rc: &RequestContext<RoleServer>, f: F) -> CallToolResult
where
    F: FnOnce(&Cancel, &Progress) -> ToolResult<String> + Send + 'static,
{
    let progress = Progress::default();
    let token = rc.meta.get_progress_token();
    let (Some(token), peer) = (token, rc.peer.clone()) else {
        return blocking(ct, move |cancel| f(cancel, &Progress::default())).await;
    };
    let ticker_progress = progress.clone();
    let done = CancellationToken::new();
    let done_ticker = done.clone();
    let ticker = tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        let mut every = tokio::time::interval(PROGRESS_EVERY);
        every.tick().await;
        loop {
            tokio::select! {
                _ = done_ticker.cancelled() => break,
                _ = every.tick() => {}
            }
            let s = ticker_progress.snapshot();
            let msg = format!(
                "{} s, {} of output{}",
                start.elapsed().as_secs(),
                tools::human_bytes(s.bytes),
                if s.last_line.is_empty() { String::new() } else { format!("; last line: {}", s.last_line) }
            );
            let p = ProgressNotificationParam::new(token.clone(), s.bytes as f64).with_message(msg);
            if peer.notify_progress(p).await.is_err() {
                break;
            }
        }
    });
    let result = blocking(ct, move |cancel| f(cancel, &progress)).await;
    done.cancel();
    let _ = ticker.await;
    result
}

/// Like `blocking_with_progress`, for tools whose result also has structured content.
async fn blocking_report<F, R>(ct: CancellationToken, rc: &RequestContext<RoleServer>, f: F) -> CallToolResult
where
    F: FnOnce(&Cancel, &Progress) -> ToolResult<(String, R)> + Send + 'static,
    R: serde::Serialize,
{
    let structured = Arc::new(Mutex::new(None));
    let slot = structured.clone();
    let mut result = blocking_with_progress(ct, rc, move |cancel, progress| {
        let (text, report) = f(cancel, progress)?;
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = serde_json::to_value(&report).ok();
        Ok(text)
    })
    .await;
    result.structured_content = structured.lock().unwrap_or_else(|e| e.into_inner()).take();
    result
}

/// Like `blocking`, for tools whose result also has structured content.
async fn blocking_structured<F, R>(ct: CancellationToken, f: F) -> CallToolResult
where
    F: FnOnce(&Cancel) -> ToolResult<(String, R)> + Send + 'static,
    R: serde::Serialize + Send + 'static,
{
    let structured = Arc::new(Mutex::new(None));
    let slot = structured.clone();
    let mut result = blocking(ct, move |cancel| {
        let (text, report) = f(cancel)?;
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = serde_json::to_value(&report).ok();
        Ok(text)
    })
    .await;
    result.structured_content = structured.lock().unwrap_or_else(|e| e.into_inner()).take();
    result
}

/// `text_result` with the structured content beside the text.
fn structured_result<R: serde::Serialize>(r: ToolResult<(String, R)>) -> CallToolResult {
    match r {
        Ok((text, report)) => {
            let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
            result.structured_content = serde_json::to_value(&report).ok();
            result
        }
        Err(e) => text_result(Err(e)),
    }
}

/// How often a long call reports progress.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The one place a domain result becomes a tool result: errors are `isError: true` with the message for the model.
fn text_result(r: ToolResult<String>) -> CallToolResult {
    match r {
        Ok(text) => CallToolResult::success(vec![ContentBlock::text(text)]),
        Err(e) => CallToolResult::error(vec![ContentBlock::text(e.message().to_string())]),
    }
}

// Annotations state only what differs from MCP's defaults (readOnlyHint and idempotentHint false), plus
// destructiveHint and openWorldHint always: the listing is paid for in every session.
#[tool_router]
impl CodeboxServer {
    pub fn new(ctx: Context) -> Self {
        let mut tool_router = Self::tool_router();
        // The generated schema states the default configuration's largest timeout; this server's may differ.
        if let Some(route) = tool_router.map.get_mut("run_command") {
            let max = ctx.sandbox.settings().max_timeout_secs;
            schema::set_property_keyword(&mut route.attr.input_schema, "timeout_secs", "maximum", max.into());
        }
        if ctx.sandbox.is_off() {
            // The model must know: with the sandbox off, a command can do anything the user can.
            if let Some(route) = tool_router.map.get_mut("run_command") {
                route.attr.description = Some(
                    "WARNING: the sandbox is OFF on this server: commands run unconfined with the user's full rights. \
Run a shell command (bash -c) in the workspace; returns the output cut to a budget, the exit code and the duration."
                        .into(),
                );
            }
        }
        // Only a connection bound to a workspace has one to ask about.
        if ctx.binding.is_none() {
            tool_router.disable_route("workspace_status");
        }
        // Families turned off in codebox.toml are left out of tools/list; a call to one says how to turn it on.
        let names: Vec<String> = tool_router.map.keys().map(|k| k.to_string()).collect();
        for name in names {
            if families::family_of(&name).is_some_and(|f| !ctx.config.tools.enabled(f)) {
                tool_router.disable_route(name);
            }
        }
        // Each server value serves one client session: its own network namespace and jobs.
        CodeboxServer { ctx: ctx.for_new_session(), tool_router, log_level: Default::default() }
    }

    /// Every tool this server offers, as tools/list shows them.
    pub fn tool_list() -> Vec<Tool> {
        Self::tool_router().list_all()
    }

    #[tool(
        name = "read_file",
        description = "Read a file as numbered lines, a window at a time, with its line count and version.",
        input_schema = schema::input::<ReadFileParams>(),
        output_schema = schema::input::<ReadFileOutput>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn read_file(&self, Parameters(args): Parameters<JsonObject>, ct: CancellationToken) -> CallToolResult {
        let p: ReadFileParams = match parse("read_file", args) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let req = tools::read::ReadRequest { path: &p.path, offset: p.offset, limit: p.limit, max_output_chars: None };
        // A small regular file is read in a few microseconds: handing it to the blocking pool would cost more
        // (a cross-thread wake-up each way) than the read itself. Anything else goes to the pool.
        if let Some(opened) = tools::read::open_small(&self.ctx, &req) {
            return structured_result(tools::read::read_opened(&self.ctx, &req, Some(opened)));
        }
        let ctx = self.ctx.clone();
        blocking_structured(ct, move |_| {
            let req =
                tools::read::ReadRequest { path: &p.path, offset: p.offset, limit: p.limit, max_output_chars: None };
            tools::read::read_file(&ctx, &req)
        })
        .await
    }

    #[tool(
        name = "list_directory",
        description = "A directory as a compact tree, honouring .gitignore.",
        input_schema = schema::input::<ListDirectoryParams>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_directory(&self, Parameters(args): Parameters<JsonObject>, ct: CancellationToken) -> CallToolResult {
        let p: ListDirectoryParams = match parse("list_directory", args) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let ctx = self.ctx.clone();
        blocking(ct, move |cancel| {
            let req = tools::list::ListRequest { path: p.path.as_deref(), depth: p.depth };
            tools::list::list_directory(&ctx, &req, cancel)
        })
        .await
    }

    #[tool(
        name = "find_files",
        description = "Find files by glob, newest first, honouring .gitignore.",
        input_schema = schema::input::<FindFilesParams>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn find_files(&self, Parameters(args): Parameters<JsonObject>, ct: CancellationToken) -> CallToolResult {
        let p: FindFilesParams = match parse("find_files", args) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let ctx = self.ctx.clone();
        blocking(ct, move |cancel| {
            let req = tools::list::FindRequest { pattern: &p.pattern, path: p.path.as_deref() };
            tools::list::find_files(&ctx, &req, cancel)
        })
        .await
    }

    #[tool(
        name = "read_output",
        description = "The omitted part of a cut result, by id: a line range, or lines matching a regex.",
        input_schema = schema::input::<ReadOutputParams>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn read_output(&self, Parameters(args): Parameters<JsonObject>, ct: CancellationToken) -> CallToolResult {
        let p: ReadOutputParams = match parse("read_output", args) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let ctx = self.ctx.clone();
        blocking(ct, move |_| {
            let req = tools::output_tool::ReadOutputRequest {
                id: &p.id,
                offset: p.offset,
                limit: p.limit,
                pattern: p.pattern.as_deref(),
                context: p.context,
                max_output_chars: p.max_output_chars,
            };
            tools::output_tool::read_output(&ctx, &req)
        })
        .await
    }

    #[tool(
        name = "run_command",
        description = "Run `bash -c command` in a kernel sandbox: no network beyond this session's loopback \
(shared with jobs), writes only to the workspace and a private /tmp.",
        input_schema = schema::input::<RunCommandParams>(),
        annotations(destructive_hint = true, open_world_hint = false)
    )]
    async fn run_command(
        &self,
        Parameters(args): Parameters<JsonObject>,
        ct: CancellationToken,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let p: RunCommandParams = match parse("run_command", args) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let ctx = self.ctx.clone();
        blocking_with_progress(ct, &rc, move |cancel, progress| {
            let req = tools::command::CommandRequest {
                command: &p.command,
                cwd: p.cwd.as_deref(),
                timeout_secs: p.timeout_secs,
                env: p.env.unwrap_or_default().into_iter().collect(),
                max_output_chars: p.max_output_chars,
            };
            tools::command::run_command(&ctx, &req, cancel, progress)
        })
        .await
    }

    #[tool(
        name = "write_file",
        description = "Create or replace a file; refused if it adds syntax errors.",
        input_schema = schema::input::<WriteFileParams>(),
        annotations(destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn write_file(&self, Parameters(args): Parameters<JsonObject>, ct: CancellationToken) -> CallToolResult {
        let p: WriteFileParams = match parse("write_file", args) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let ctx = self.ctx.clone();
        blocking_structured(ct, move |_| {
            let req = tools::edit::WriteRequest {
                path: &p.path,
                content: &p.content,
                expected_version: p.expected_version.as_deref(),
                allow_syntax_errors: p.allow_syntax_errors.unwrap_or(false),
            };
            tools::edit::write_file(&ctx, &req)
        })
        .await
    }

    #[tool(
        name = "edit_file",
        description = "Replace old_string with new_string (one match, or replace_all); all edits or none; refused \
if it adds syntax errors.",
        input_schema = schema::input::<EditFileParams>(),
        annotations(destructive_hint = true, open_world_hint = false)
    )]
    async fn edit_file(&self, Parameters(args): Parameters<JsonObject>, ct: CancellationToken) -> CallToolResult {
        let p: EditFileParams = match parse("edit_file", args) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let ctx = self.ctx.clone();
        blocking_structured(ct, move |_| {
            let edits = p
                .edits
                .into_iter()
                .map(|e| crate::edits::Edit {
                    old_string: e.old_string,
                    new_string: e.new_string,
                    replace_all: e.replace_all.unwrap_or(false),
                })
                .collect();
            let req = tools::edit::EditRequest {
                path: &p.path,
                edits,
                expected_version: p.expected_version.as_deref(),
                allow_syntax_errors: p.allow_syntax_errors.unwrap_or(false),
            };
            tools::edit::edit_file(&ctx, &req)
        })
        .await
    }

    #[tool(
        name = "apply_patch",
        description = "Change, add, delete or move files with one patch (Codex's format or a unified diff): all \
files or none, one undo step.",
        input_schema = schema::input::<ApplyPatchParams>(),
        annotations(destructive_hint = true, open_world_hint = false)
    )]
    async fn apply_patch(
        &self,
        Parameters(args): Parameters<JsonObject>,
        ct: CancellationToken,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let p: ApplyPatchParams = match parse("apply_patch", args) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let ctx = self.ctx.clone();
        blocking_report(ct, &rc, move |_, _| {
            let req = tools::patch::PatchRequest {
                patch: &p.patch,
                expected_versions: p.expected_versions.unwrap_or_default(),
                allow_syntax_errors: p.allow_syntax_errors.unwrap_or(false),
            };
            tools::patch::apply_patch(&ctx, &req)
        })
        .await
    }

    #[tool(
        name = "undo_edit",
        description = "Restore a file to before codebox's last write to it (every file of an apply_patch).",
        input_schema = schema::input::<UndoEditParams>(),
        annotations(destructive_hint = true, open_world_hint = false)
    )]
    async fn undo_edit(&self, Parameters(args): Parameters<JsonObject>, ct: CancellationToken) -> CallToolResult {
        let p: UndoEditParams = match parse("undo_edit", args) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let ctx = self.ctx.clone();
        blocking_structured(ct, move |_| tools::edit::undo_edit(&ctx, &p.path)).await
    }

    #[tool(
        name = "search",
        description = "Search file contents (ripgrep), honouring .gitignore; matches grouped by file.",
        input_schema = schema::input::<SearchParams>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn search(&self, Parameters(args): Parameters<JsonObject>, ct: CancellationToken) -> CallToolResult {
        let p: SearchParams = match parse("search", args) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let ctx = self.ctx.clone();
        blocking(ct, move |cancel| {
            let req = tools::search::SearchRequest {
                pattern: &p.pattern,
                path: p.path.as_deref(),
                glob: p.glob.unwrap_or_default(),
                file_type: p.file_type.as_deref(),
                case: p.case.as_deref(),
                fixed_strings: p.fixed_strings.unwrap_or(false),
                multiline: p.multiline.unwrap_or(false),
                context: p.context,
                output: p.output.as_deref(),
                max_results: p.max_results,
                include_hidden: p.include_hidden.unwrap_or(false),
                include_ignored: p.include_ignored.unwrap_or(false),
                max_output_chars: p.max_output_chars,
            };
            tools::search::search(&ctx, &req, cancel)
        })
        .await
    }

    #[tool(
        name = "run_tests",
        description = "Run tests in the sandbox (runner detected): status, counts, each failure with file:line and \
message, or the build errors.",
        input_schema = schema::input::<RunTestsParams>(),
        output_schema = schema::input::<RunTestsOutput>(),
        annotations(destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn run_tests(
        &self,
        Parameters(args): Parameters<JsonObject>,
        ct: CancellationToken,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let p: RunTestsParams = match parse("run_tests", args) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let ctx = self.ctx.clone();
        blocking_report(ct, &rc, move |cancel, progress| {
            let req = tools::run_tests::TestRequest {
                path: p.path.as_deref(),
                filter: p.filter.as_deref(),
                command: p.command.as_deref(),
            };
            let (report, text) = tools::run_tests::run_tests(&ctx, &req, cancel, progress)?;
            Ok((text, report))
        })
        .await
    }

    #[tool(
        name = "job_start",
        description = "Start `bash -c command` as a background job (server, watcher, build) in the sandbox, on this \
session's loopback network. Returns its id, after waiting for wait_for, the exit or wait_secs.",
        input_schema = schema::input::<JobStartParams>(),
        annotations(destructive_hint = true, open_world_hint = false)
    )]
    async fn job_start(
        &self,
        Parameters(args): Parameters<JsonObject>,
        ct: CancellationToken,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let p: JobStartParams = match parse("job_start", args) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let ctx = self.ctx.clone();
        blocking_report(ct, &rc, move |cancel, progress| {
            let req = tools::jobs::StartRequest {
                command: &p.command,
                cwd: p.cwd.as_deref(),
                env: p.env.unwrap_or_default().into_iter().collect(),
                name: p.name.as_deref(),
                wait_for: p.wait_for.as_deref(),
                wait_secs: p.wait_secs,
                timeout_secs: p.timeout_secs,
            };
            tools::jobs::start(&ctx, &req, cancel, progress)
        })
        .await
    }

    #[tool(
        name = "job_output",
        description = "A job's new output since the last read, optionally waiting (wait_secs) for output, a wait_for \
line or the exit; or tail/pattern over all it kept.",
        input_schema = schema::input::<JobOutputParams>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn job_output(
        &self,
        Parameters(args): Parameters<JsonObject>,
        ct: CancellationToken,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let p: JobOutputParams = match parse("job_output", args) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let ctx = self.ctx.clone();
        blocking_report(ct, &rc, move |cancel, progress| {
            let req = tools::jobs::OutputRequest {
                id: &p.id,
                cursor: p.cursor,
                wait_for: p.wait_for.as_deref(),
                wait_secs: p.wait_secs,
                tail: p.tail,
                pattern: p.pattern.as_deref(),
                max_output_chars: p.max_output_chars,
            };
            tools::jobs::output(&ctx, &req, cancel, progress)
        })
        .await
    }

    #[tool(
        name = "job_input",
        description = "Send a line to a job's stdin (REPL, prompt), optionally waiting for the answer.",
        input_schema = schema::input::<JobInputParams>(),
        annotations(destructive_hint = true, open_world_hint = false)
    )]
    async fn job_input(
        &self,
        Parameters(args): Parameters<JsonObject>,
        ct: CancellationToken,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let p: JobInputParams = match parse("job_input", args) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let ctx = self.ctx.clone();
        blocking_report(ct, &rc, move |cancel, progress| {
            let req = tools::jobs::InputRequest {
                id: &p.id,
                text: &p.text,
                wait_for: p.wait_for.as_deref(),
                wait_secs: p.wait_secs,
            };
            tools::jobs::input(&ctx, &req, cancel, progress)
        })
        .await
    }

    #[tool(
        name = "job_stop",
        description = "Stop a job's process tree (SIGTERM, then SIGKILL). Returns its exit status and last lines.",
        input_schema = schema::input::<JobIdParams>(),
        annotations(destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn job_stop(
        &self,
        Parameters(args): Parameters<JsonObject>,
        ct: CancellationToken,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let p: JobIdParams = match parse("job_stop", args) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let ctx = self.ctx.clone();
        blocking_report(ct, &rc, move |_, _| tools::jobs::stop(&ctx, &p.id)).await
    }

    #[tool(
        name = "job_list",
        description = "This session's jobs: state, processes, runtime, output size.",
        input_schema = schema::input::<JobListParams>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn job_list(
        &self,
        Parameters(args): Parameters<JsonObject>,
        ct: CancellationToken,
        rc: RequestContext<RoleServer>,
    ) -> CallToolResult {
        if let Err(e) = parse::<JobListParams>("job_list", args) {
            return e;
        }
        let ctx = self.ctx.clone();
        blocking_report(ct, &rc, move |_, _| Ok(tools::jobs::list(&ctx))).await
    }

    #[tool(
        name = "git_status",
        description = "git status: branch and changed files.",
        input_schema = schema::input::<GitStatusParams>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn git_status(&self, Parameters(args): Parameters<JsonObject>, ct: CancellationToken) -> CallToolResult {
        if let Err(e) = parse::<GitStatusParams>("git_status", args) {
            return e;
        }
        let ctx = self.ctx.clone();
        blocking(ct, move |cancel| tools::git::status(&ctx, cancel)).await
    }

    #[tool(
        name = "workspace_status",
        description = "Ahead/behind base, rebase conflicts.",
        input_schema = schema::input::<GitStatusParams>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn workspace_status(
        &self,
        Parameters(args): Parameters<JsonObject>,
        ct: CancellationToken,
    ) -> CallToolResult {
        if let Err(e) = parse::<GitStatusParams>("workspace_status", args) {
            return e;
        }
        let ctx = self.ctx.clone();
        blocking(ct, move |_| tools::ws::status(&ctx)).await
    }

    #[tool(
        name = "git_diff",
        description = "git diff of the working tree (or the index: staged), optionally for one path.",
        input_schema = schema::input::<GitDiffParams>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn git_diff(&self, Parameters(args): Parameters<JsonObject>, ct: CancellationToken) -> CallToolResult {
        let p: GitDiffParams = match parse("git_diff", args) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let ctx = self.ctx.clone();
        blocking(ct, move |cancel| {
            tools::git::diff(&ctx, p.path.as_deref(), p.staged.unwrap_or(false), p.max_output_chars, cancel)
        })
        .await
    }

    #[tool(
        name = "git_commit",
        description = "Stage and commit paths (default: every change) with a message.",
        input_schema = schema::input::<GitCommitParams>(),
        annotations(destructive_hint = false, open_world_hint = false)
    )]
    async fn git_commit(&self, Parameters(args): Parameters<JsonObject>, ct: CancellationToken) -> CallToolResult {
        let p: GitCommitParams = match parse("git_commit", args) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let ctx = self.ctx.clone();
        blocking(ct, move |cancel| tools::git::commit(&ctx, &p.message, &p.paths.unwrap_or_default(), cancel)).await
    }

    #[tool(
        name = "git_branch",
        description = "Create a branch and switch to it (or switch, if it exists).",
        input_schema = schema::input::<GitBranchParams>(),
        annotations(destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn git_branch(&self, Parameters(args): Parameters<JsonObject>, ct: CancellationToken) -> CallToolResult {
        let p: GitBranchParams = match parse("git_branch", args) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let ctx = self.ctx.clone();
        blocking(ct, move |cancel| tools::git::branch(&ctx, &p.name, cancel)).await
    }

    #[tool(
        name = "outline",
        description = "Symbols of a file or directory.",
        input_schema = schema::input::<OutlineParams>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn outline(&self, Parameters(args): Parameters<JsonObject>, ct: CancellationToken) -> CallToolResult {
        let p: OutlineParams = match parse("outline", args) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let ctx = self.ctx.clone();
        blocking(ct, move |cancel| tools::symbols::outline(&ctx, &p.path, cancel)).await
    }

    #[tool(
        name = "find_symbol",
        description = "Where a symbol is defined.",
        input_schema = schema::input::<FindSymbolParams>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn find_symbol(&self, Parameters(args): Parameters<JsonObject>, ct: CancellationToken) -> CallToolResult {
        let p: FindSymbolParams = match parse("find_symbol", args) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let ctx = self.ctx.clone();
        blocking(ct, move |cancel| {
            let req = tools::symbols::FindRequest {
                name: &p.name,
                path: p.path.as_deref(),
                include_body: p.include_body.unwrap_or(false),
            };
            tools::symbols::find_symbol(&ctx, &req, cancel)
        })
        .await
    }

    #[tool(
        name = "find_references",
        description = "Uses of a name.",
        input_schema = schema::input::<FindReferencesParams>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn find_references(&self, Parameters(args): Parameters<JsonObject>, ct: CancellationToken) -> CallToolResult {
        let p: FindReferencesParams = match parse("find_references", args) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let ctx = self.ctx.clone();
        blocking(ct, move |cancel| tools::symbols::find_references(&ctx, &p.name, p.path.as_deref(), cancel)).await
    }

    #[tool(
        name = "repo_map",
        description = "Ranked repo map.",
        input_schema = schema::input::<RepoMapParams>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn repo_map(&self, Parameters(args): Parameters<JsonObject>, ct: CancellationToken) -> CallToolResult {
        let p: RepoMapParams = match parse("repo_map", args) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let ctx = self.ctx.clone();
        blocking(ct, move |cancel| {
            // "a.rs, Parser" is two focus items: a string may list several.
            let focus: Vec<String> = p
                .focus
                .unwrap_or_default()
                .iter()
                .flat_map(|f| f.split([',', '\n']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string))
                .collect();
            tools::symbols::repo_map(&ctx, &focus, p.max_chars, cancel)
        })
        .await
    }

    #[tool(
        name = "edit_symbol",
        description = "Replace or insert by symbol name.",
        input_schema = schema::input::<EditSymbolParams>(),
        annotations(destructive_hint = true, open_world_hint = false)
    )]
    async fn edit_symbol(&self, Parameters(args): Parameters<JsonObject>, ct: CancellationToken) -> CallToolResult {
        let p: EditSymbolParams = match parse("edit_symbol", args) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let ctx = self.ctx.clone();
        blocking(ct, move |_| {
            let req = tools::symbols::EditSymbolRequest {
                path: &p.path,
                name: &p.name,
                body: &p.body,
                position: p.position.as_deref(),
            };
            tools::symbols::edit_symbol(&ctx, &req)
        })
        .await
    }
}

/// Spilled outputs are resources: `codebox://output/<id>` returns the whole kept output as text.
const OUTPUT_URI: &str = "codebox://output/";
/// resources/read returns at most this much of one output; read_output pages through the rest.
const RESOURCE_READ_MAX: u64 = 64 << 20;

#[tool_handler(router = self.tool_router)]
impl ServerHandler for CodeboxServer {
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        if request.name == "workspace_status"
            && self.ctx.binding.is_none()
            && let Err(e) = tools::ws::status(&self.ctx)
        {
            return Ok(CallToolResult::error(vec![ContentBlock::text(e.message().to_string())]).into());
        }
        if self.tool_router.is_disabled(&request.name)
            && let Some(family) = families::family_of(&request.name)
        {
            let msg = families::disabled_message(&request.name, family);
            return Ok(CallToolResult::error(vec![ContentBlock::text(msg)]).into());
        }
        let tcc = rmcp::handler::server::tool::ToolCallContext::new(self, request, context);
        self.tool_router.call(tcc).await
    }

    fn get_info(&self) -> ServerConfig {
        let caps = ServerCapabilities::builder().enable_tools().enable_resources().enable_logging().build();
        ServerConfig::new(caps)
            .with_server_info(Implementation::new("codebox", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    /// 2024-11-05 through 2025-11-25: the versions the clients we test speak. The 2026-07-28 draft (stateless,
    /// no initialize) is left out until clients ship it, so a discovery probe steers them to `initialize`.
    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(ProtocolVersion::known_up_to(&ProtocolVersion::V_2025_11_25))
    }

    async fn list_resources(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let items = self
            .ctx
            .spill
            .list()
            .into_iter()
            .map(|i| {
                Resource::new(format!("{OUTPUT_URI}{}", i.id), i.id.clone())
                    .with_description(format!("full output of a cut tool result: {} lines", i.lines))
                    .with_mime_type("text/plain")
                    .with_size(i.stored_bytes)
            })
            .collect();
        Ok(ListResourcesResult::with_all_items(items))
    }

    async fn list_resource_templates(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        let t = ResourceTemplate::new(format!("{OUTPUT_URI}{{id}}"), "output")
            .with_description("the full output of a cut tool result, by the id the result names")
            .with_mime_type("text/plain");
        Ok(ListResourceTemplatesResult::with_all_items(vec![t]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let uri = request.uri;
        let Some(id) = uri.strip_prefix(OUTPUT_URI) else {
            return Err(McpError::resource_not_found(
                format!("unknown resource {uri:?}; codebox serves {OUTPUT_URI}<id>"),
                None,
            ));
        };
        let spill = self.ctx.spill.clone();
        let id = id.to_string();
        let read = tokio::task::spawn_blocking(move || {
            let len = spill.info(&id).map(|i| i.stored_bytes.min(RESOURCE_READ_MAX)).unwrap_or(0);
            spill.read_range(&id, 0, len)
        })
        .await
        .map_err(|e| McpError::internal_error(format!("reading {uri}: {e}"), None))?;
        match read {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                Ok(ReadResourceResult::new(vec![ResourceContents::text(text, uri)]).into())
            }
            Err(e) => Err(McpError::resource_not_found(e.to_string(), None)),
        }
    }

    async fn set_level(&self, request: SetLevelRequestParams, _: RequestContext<RoleServer>) -> Result<(), McpError> {
        self.log_level.set(request.level);
        Ok(())
    }

    /// From here on the client may receive log notifications: start forwarding them.
    async fn on_initialized(&self, context: rmcp::service::NotificationContext<RoleServer>) {
        logging::forward(context.peer, self.log_level.clone());
    }
}

/// Serves one client over stdin/stdout until it disconnects.
pub async fn serve_stdio(ctx: Context) -> Result<(), String> {
    use rmcp::ServiceExt;
    let server = CodeboxServer::new(ctx);
    let running = match stdio::pipes() {
        Some(pipes) => server.serve(pipes).await,
        None => server.serve(rmcp::transport::stdio()).await,
    }
    .map_err(|e| format!("MCP handshake over stdio failed: {e}"))?;
    running.waiting().await.map_err(|e| format!("stdio session ended with an error: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client's `notifications/cancelled` fires the request's token; the blocking work must see its flag.
    #[tokio::test]
    async fn cancellation_reaches_the_blocking_work() {
        let ct = CancellationToken::new();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let (ended_tx, ended_rx) = tokio::sync::oneshot::channel();
        let call = tokio::spawn(blocking(ct.clone(), move |cancel| {
            let _ = started_tx.send(());
            while !cancel.is_cancelled() {
                std::thread::yield_now();
            }
            let _ = ended_tx.send(());
            Ok("stopped".into())
        }));
        started_rx.await.unwrap();
        ct.cancel();
        let result = call.await.unwrap();
        assert_eq!(result.is_error, Some(true));
        ended_rx.await.expect("the blocking work never saw the cancellation");
    }
}
