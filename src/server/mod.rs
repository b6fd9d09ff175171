//! The only module that knows MCP: tool routing, parameter schemas, result conversion, transports.
//! Tool logic lives in `crate::tools`; this module adapts it to rmcp and nothing else.

// Logging is deprecated by SEP-2577, but clients of 2025-11-25 and the conformance suite still call
// logging/setLevel, so the server keeps answering it.
#![allow(deprecated)]

mod calls;
mod families;
mod forgiving;
pub(crate) mod http;
pub(crate) mod logging;
pub(crate) mod params;
pub(crate) mod schema;
mod stdio;

use std::borrow::Cow;

use rmcp::handler::server::router::tool::{ToolRoute, ToolRouter};
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, JsonObject,
    ListResourceTemplatesResult, ListResourcesResult, PaginatedRequestParams, ProgressNotificationParam,
    ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource, ResourceContents,
    ResourceTemplate, ServerCapabilities, ServerConfig, SetLevelRequestParams, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, tool_handler};
use tokio_util::sync::CancellationToken;

use crate::error::{ErrorKind, ToolError, ToolResult};
use crate::tools::{self, Cancel, Context, Progress};
use calls::{Reply, Spec};
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
pub(crate) struct CodeboxServer {
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
    F: FnOnce(&Cancel) -> ToolResult<Reply> + Send + 'static,
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
            Ok(result) => tool_result(result),
            Err(e) => CallToolResult::error(vec![ContentBlock::text(format!(
                "internal error in codebox ({e}); this is a bug, please report it"
            ))]),
        },
        _ = ct.cancelled() => {
            cancel.cancel();
            tool_result(Err(ToolError::new(ErrorKind::Cancelled, "cancelled by the client")))
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
        tool_result(Err(ToolError::invalid(format!(
            "invalid arguments for {tool}: {msg}; see the tool's input schema"
        ))))
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
    F: FnOnce(&Cancel, &Progress) -> ToolResult<Reply> + Send + 'static,
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

/// How often a long call reports progress.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Where the error's kind goes in a failed result's `_meta`, for clients and tests that branch on it.
pub(crate) const ERROR_META_KEY: &str = "codebox/error";

/// The one place a domain result becomes a tool result: the text for the model, the structured content beside
/// it; an error is `isError: true` with its message, and its kind with the kind's data in `_meta`.
fn tool_result(r: ToolResult<Reply>) -> CallToolResult {
    match r {
        Ok(reply) => {
            let mut result = CallToolResult::success(vec![ContentBlock::text(reply.text)]);
            result.structured_content = reply.structured;
            result
        }
        Err(e) => {
            let mut result = CallToolResult::error(vec![ContentBlock::text(e.message().to_string())]);
            let mut meta = JsonObject::new();
            meta.insert(ERROR_META_KEY.into(), e.kind_json());
            result.meta = Some(rmcp::model::MetaObject(meta));
            result
        }
    }
}

/// Applies `$f::<P>()` to every tool's parameters type `P`, in one array: the one list of tools.
macro_rules! every_tool {
    ($f:ident) => {
        [
            $f::<ReadFileParams>(),
            $f::<ListDirectoryParams>(),
            $f::<FindFilesParams>(),
            $f::<ReadOutputParams>(),
            $f::<RunCommandParams>(),
            $f::<WriteFileParams>(),
            $f::<EditFileParams>(),
            $f::<ApplyPatchParams>(),
            $f::<UndoEditParams>(),
            $f::<SearchParams>(),
            $f::<RunTestsParams>(),
            $f::<JobStartParams>(),
            $f::<JobOutputParams>(),
            $f::<JobInputParams>(),
            $f::<JobIdParams>(),
            $f::<JobListParams>(),
            $f::<GitStatusParams>(),
            $f::<WorkspaceStatusParams>(),
            $f::<GitDiffParams>(),
            $f::<GitCommitParams>(),
            $f::<GitBranchParams>(),
            $f::<OutlineParams>(),
            $f::<FindSymbolParams>(),
            $f::<FindReferencesParams>(),
            $f::<RepoMapParams>(),
            $f::<EditSymbolParams>(),
        ]
    };
}

/// Work for the blocking pool, as `blocking` runs it.
type Work = Box<dyn FnOnce(&Cancel) -> ToolResult<Reply> + Send>;

/// A call the stdio fast path makes: the same steps as `dispatch`, without rmcp's request context.
enum Quick {
    /// Answered on the calling task: bad arguments, or the tool's inline path.
    Now(CallToolResult),
    /// For the blocking pool.
    Later(Work),
}

type QuickFn = fn(&Context, JsonObject) -> Quick;

/// Tool `P`'s fast-path call, for the tools that do not report progress.
fn quick_entry<P: Spec>() -> Option<(&'static str, QuickFn)> {
    (!P::PROGRESS).then_some((P::NAME, quick_call::<P> as QuickFn))
}

fn quick_call<P: Spec>(ctx: &Context, args: JsonObject) -> Quick {
    let p: P = match parse(P::NAME, args) {
        Ok(p) => p,
        Err(e) => return Quick::Now(e),
    };
    if let Some(answer) = p.inline(ctx) {
        return Quick::Now(tool_result(answer));
    }
    let ctx = ctx.clone();
    Quick::Later(Box::new(move |cancel| p.call(&ctx, cancel, &Progress::default())))
}

impl CodeboxServer {
    pub(crate) fn new(ctx: Context) -> Self {
        let mut tool_router = Self::routes();
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
    pub(crate) fn tool_list() -> Vec<Tool> {
        Self::routes().list_all()
    }

    /// The tools, each from its `calls::Spec`.
    fn routes() -> ToolRouter<Self> {
        every_tool!(route).into_iter().fold(ToolRouter::new(), |router, r| router.with_route(r))
    }

    /// How the stdio fast path calls tool `name`, or None when rmcp must take the call: the tool is unknown or
    /// off (rmcp's router and `call_tool` say so), or it reports progress (which needs rmcp's peer).
    fn quick(&self, name: &str) -> Option<QuickFn> {
        static QUICK: std::sync::LazyLock<std::collections::HashMap<&'static str, QuickFn>> =
            std::sync::LazyLock::new(|| every_tool!(quick_entry).into_iter().flatten().collect());
        if self.tool_router.is_disabled(name) {
            return None;
        }
        QUICK.get(name).copied()
    }

    /// One call of tool `P`: its arguments parsed, then answered inline or on the blocking pool (with progress
    /// notifications for the tools that report them).
    async fn dispatch<P: Spec>(&self, args: JsonObject, rc: &RequestContext<RoleServer>) -> CallToolResult {
        let p: P = match parse(P::NAME, args) {
            Ok(p) => p,
            Err(e) => return e,
        };
        if let Some(answer) = p.inline(&self.ctx) {
            return tool_result(answer);
        }
        let ctx = self.ctx.clone();
        let ct = rc.ct.clone();
        if P::PROGRESS {
            blocking_with_progress(ct, rc, move |cancel, progress| p.call(&ctx, cancel, progress)).await
        } else {
            blocking(ct, move |cancel| p.call(&ctx, cancel, &Progress::default())).await
        }
    }
}

type CallFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<CallToolResponse, McpError>> + Send + 'a>>;

/// Tool `P`'s listing (name, description, schemas, hints) and its call.
fn route<P: Spec>() -> ToolRoute<CodeboxServer> {
    // Cached: every session builds its router, and a schema is the same for all of them.
    let mut tool = Tool::new(P::NAME, P::DESCRIPTION, schema::cached::<P>()).with_annotations(P::HINTS.annotations());
    if let Some(out) = P::output_schema() {
        tool = tool.with_raw_output_schema(out);
    }
    ToolRoute::new_dyn(tool, call_route::<P>)
}

fn call_route<P: Spec>(tcc: ToolCallContext<'_, CodeboxServer>) -> CallFuture<'_> {
    Box::pin(async move {
        let args = tcc.arguments.unwrap_or_default();
        Ok(tcc.service.dispatch::<P>(args, &tcc.request_context).await.into())
    })
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
            return Ok(tool_result(Err(e)).into());
        }
        if self.tool_router.is_disabled(&request.name)
            && let Some(family) = families::family_of(&request.name)
        {
            let msg = families::disabled_message(&request.name, family);
            return Ok(tool_result(Err(ToolError::invalid(msg))).into());
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

/// Serves one client over stdin/stdout until it disconnects: through `stdio`'s reader and fast path when they
/// are pipes or sockets, through rmcp's own stdio transport otherwise.
pub async fn serve_stdio(ctx: Context) -> Result<(), String> {
    use rmcp::ServiceExt;
    let server = CodeboxServer::new(ctx);
    let Some((input, output)) = stdio::pipes() else {
        let running = server
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| format!("MCP handshake over stdio failed: {e}"))?;
        running.waiting().await.map_err(|e| format!("stdio session ended with an error: {e}"))?;
        return Ok(());
    };
    let out = stdio::Out::new(output);
    let fast = stdio::Fast::new(server.clone(), out.clone());
    let (rmcp_in, to_rmcp) = stdio::rmcp_pipe();
    let reader = tokio::spawn(stdio::read_lines(input, to_rmcp, fast.clone()));
    // Aborts the reader when the handshake fails (its task would otherwise read on until the runtime ends).
    let mut reader = AbortOnDrop(reader);
    let running = server
        .serve((rmcp_in, stdio::RmcpOut::new(out)))
        .await
        .map_err(|e| format!("MCP handshake over stdio failed: {e}"))?;
    // A session that began with initialize; one that chose the inline lifecycle (metadata on every request)
    // stays with rmcp, which checks that metadata.
    if running.peer().peer_info().is_some() {
        fast.handshake_done();
    }
    let ended = running.waiting().await;
    // rmcp ends at end of input (or when it can no longer write): the reader has returned or soon will.
    let eof = (&mut reader.0).await.unwrap_or_else(|_| tokio::time::Instant::now());
    stdio::finish(&fast, eof).await;
    ended.map_err(|e| format!("stdio session ended with an error: {e}"))?;
    Ok(())
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
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
            Ok(Reply::text("stopped"))
        }));
        started_rx.await.unwrap();
        ct.cancel();
        let result = call.await.unwrap();
        assert_eq!(result.is_error, Some(true));
        ended_rx.await.expect("the blocking work never saw the cancellation");
    }
}
