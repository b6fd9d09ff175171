//! Streamable HTTP transport: rmcp's service behind our own front door.
//!
//! The front door (an axum middleware) answers before rmcp sees a request: bearer token in constant time (401),
//! no query strings (400), a bound on open SSE streams (503), and 503 once a shutdown has begun. rmcp then checks
//! Host and Origin (403, DNS rebinding), the body size (413), content type and sessions.
//!
//! Beside `/mcp`, outside the front door: `/healthz` (liveness: the runtime answers) and `/readyz` (readiness:
//! 503 once draining), for a cluster's probes, which carry no token; they say nothing but those two words.
//!
//! Shutdown drains: readiness fails and new requests get 503, the calls in flight (POSTs whose response is still
//! being sent) finish, bounded by a limit; then rmcp's sessions and streams close, and with the process the
//! sessions' jobs are killed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::CodeboxServer;
use crate::config::{HttpAuth, HttpConfig, HttpListen};
use crate::tools::Context;
use crate::tools::ws::Registry;

struct Gate {
    token: Option<Vec<u8>>,
    streams: Arc<Semaphore>,
    /// Set when a shutdown begins: readiness fails and new requests get 503.
    draining: AtomicBool,
    /// POSTs whose response is still being sent (a tool call's answer comes on its POST's stream): what a drain
    /// waits for.
    in_flight: tokio::sync::watch::Sender<usize>,
}

/// One POST in flight; counted down when its response body is dropped (sent, or the client went away).
struct InFlight(Arc<Gate>);

impl InFlight {
    fn new(gate: &Arc<Gate>) -> InFlight {
        gate.in_flight.send_modify(|n| *n += 1);
        InFlight(gate.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.send_modify(|n| *n -= 1);
    }
}

/// A fresh 256-bit token, hex-encoded.
pub fn generate_token() -> std::io::Result<String> {
    crate::random::token().map_err(std::io::Error::other)
}

fn refuse(status: StatusCode, msg: &'static str) -> Response {
    let mut r = (status, msg).into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    }
    r
}

async fn front_door(State(gate): State<Arc<Gate>>, req: Request, next: Next) -> Response {
    if let Some(token) = &gate.token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        if !given.is_some_and(|g| crate::random::same(g.as_bytes(), token)) {
            return refuse(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
        }
    }
    // Tokens travel only in the Authorization header (a query string ends up in logs and browser history), and
    // /mcp takes no parameters, so a query string is refused: it also stops CSRF-style GETs with parameters.
    if req.uri().query().is_some() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "query parameters are not accepted; send the token as 'Authorization: Bearer <token>'",
        );
    }
    // A client closing its session may still do so; anything else would start new work the drain waits for.
    if gate.draining.load(Ordering::SeqCst) && req.method() != Method::DELETE {
        let mut r = refuse(StatusCode::SERVICE_UNAVAILABLE, "codebox is shutting down; connect to another instance");
        r.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
        return r;
    }
    let call = (req.method() == Method::POST).then(|| InFlight::new(&gate));
    let permit = if req.method() == Method::GET || req.method() == Method::POST {
        match gate.streams.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) => return refuse(StatusCode::SERVICE_UNAVAILABLE, "too many open streams; close some and retry"),
        }
    } else {
        None
    };
    let is_delete = req.method() == Method::DELETE;
    let mut resp = next.run(req).await;
    // rmcp acknowledges a session DELETE with 202; the Python SDK accepts only 200/204 and logs a warning.
    if is_delete && resp.status() == StatusCode::ACCEPTED {
        *resp.status_mut() = StatusCode::OK;
    }
    match permit {
        // The permit lives as long as the response body, so a long SSE stream keeps counting against the bound.
        Some(permit) => resp.map(|body| Body::new(Held { inner: body, _permit: permit, _call: call })),
        None => resp,
    }
}

struct Held {
    inner: Body,
    _permit: OwnedSemaphorePermit,
    _call: Option<InFlight>,
}

/// Liveness: the runtime is answering.
async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: ready until a shutdown begins, so a load balancer stops sending new sessions here.
async fn readyz(State(gate): State<Arc<Gate>>) -> Response {
    if gate.draining.load(Ordering::SeqCst) {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response()
    } else {
        (StatusCode::OK, "ready\n").into_response()
    }
}

impl http_body::Body for Held {
    type Data = axum::body::Bytes;
    type Error = axum::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Host values accepted: loopback names, the bound address when it is not loopback, and configured extras.
fn allowed_hosts(addr: SocketAddr, cfg: &HttpConfig) -> Vec<String> {
    let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into(), "[::1]".into()];
    if !addr.ip().is_loopback() && !addr.ip().is_unspecified() {
        hosts.push(addr.ip().to_string());
    }
    hosts.extend(cfg.allowed_hosts.iter().cloned());
    hosts
}

/// Origins accepted: loopback pages (any port) plus configured ones. Any other Origin gets 403.
fn allowed_origins(cfg: &HttpConfig) -> Vec<String> {
    let mut origins: Vec<String> =
        ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"].iter().map(|s| s.to_string()).collect();
    origins.extend(cfg.allowed_origins.iter().cloned());
    origins
}

/// The header that binds a connection to a workspace on `/mcp` (the URL path `/ws/<name>/mcp` does the same).
/// Set by whoever configures the client, never by the model.
pub(crate) const WORKSPACE_HEADER: &str = "x-codebox-workspace";

type Mcp = StreamableHttpService<CodeboxServer, StrongSessions>;

/// One MCP service (with its own sessions) for the main checkout and one per workspace a client has named: a
/// session id is known only to the service that made it, so a session can never move to another workspace.
struct Hub {
    registry: Arc<Registry>,
    config: StreamableHttpServerConfig,
    main: Mcp,
    workspaces: tokio::sync::Mutex<HashMap<String, Mcp>>,
}

fn mcp(ctx: Context, config: &StreamableHttpServerConfig) -> Mcp {
    StreamableHttpService::new(
        move || Ok(CodeboxServer::new(ctx.clone())),
        Arc::new(StrongSessions(LocalSessionManager::default())),
        config.clone(),
    )
}

impl Hub {
    /// The service of workspace `name`, made (and the workspace bound, or created when allowed) on first use.
    async fn workspace(&self, name: &str) -> Result<Mcp, String> {
        {
            let mut map = self.workspaces.lock().await;
            if let Some(s) = map.get(name) {
                if self.registry.exists(name) {
                    return Ok(s.clone());
                }
                // Removed while served: its sessions are dropped with the service, and the name starts afresh.
                map.remove(name);
            }
        }
        // Not holding the map while a workspace is bound (or created, which runs git): requests for workspaces
        // already served go on meanwhile. The registry makes each context once, so two first requests for one
        // name get the same context; the first service stored wins.
        let registry = self.registry.clone();
        let n = name.to_string();
        let ctx = tokio::task::spawn_blocking(move || registry.context(&n))
            .await
            .map_err(|e| format!("internal error binding the workspace: {e}"))??;
        let mut map = self.workspaces.lock().await;
        Ok(map.entry(name.to_string()).or_insert_with(|| mcp(ctx, &self.config)).clone())
    }
}

/// Routes `/mcp` (the main checkout, or the workspace its header names) and `/ws/<name>/mcp`.
async fn dispatch(State(hub): State<Arc<Hub>>, req: Request) -> Response {
    let path = req.uri().path();
    let from_path = match path.strip_prefix("/ws/").and_then(|r| r.strip_suffix("/mcp")) {
        Some(n) => Some(n.to_string()),
        None if path == "/mcp" => None,
        None => return refuse(StatusCode::NOT_FOUND, "not found: MCP is served at /mcp and /ws/<workspace>/mcp"),
    };
    let from_header = match req.headers().get(WORKSPACE_HEADER).map(|v| v.to_str()) {
        None => None,
        Some(Ok(v)) => Some(v.trim().to_string()),
        Some(Err(_)) => return refuse(StatusCode::BAD_REQUEST, "the X-Codebox-Workspace header is not plain text"),
    };
    let name = match (from_path, from_header) {
        (Some(a), Some(b)) if a != b => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "the URL path and the X-Codebox-Workspace header name different workspaces; send one",
            );
        }
        (a, b) => a.or(b),
    };
    let svc = match name {
        None => hub.main.clone(),
        Some(n) => match hub.workspace(&n).await {
            Ok(s) => s,
            Err(e) => {
                let status = if crate::workspaces::check_name(&n).is_err() {
                    StatusCode::BAD_REQUEST
                } else if !hub.registry.exists(&n) {
                    StatusCode::NOT_FOUND
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR
                };
                return (status, e).into_response();
            }
        },
    };
    svc.handle(req).await.map(Body::new)
}

/// When a shutdown stops waiting for the calls in flight.
pub struct Shutdown {
    /// Fired to begin the drain (SIGTERM).
    pub drain: CancellationToken,
    /// Fired to end it at once (a second signal).
    pub now: CancellationToken,
    /// The longest a drain waits for calls in flight; a Kubernetes pod's terminationGracePeriodSeconds must be
    /// longer.
    pub limit: Duration,
}

/// Serves on an already bound listener until a shutdown has drained. Binding happens before codebox confines
/// itself, because its own landlock ruleset denies TCP bind.
pub async fn serve(
    registry: Arc<Registry>,
    listener: std::net::TcpListener,
    listen: &HttpListen,
    cfg: &HttpConfig,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    // Closes rmcp's sessions and streams; fired once the drain is over.
    let stop = CancellationToken::new();
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(allowed_hosts(listen.addr, cfg))
        .with_allowed_origins(allowed_origins(cfg))
        .enforce_origin_validation()
        .with_max_request_body_bytes(cfg.max_body_bytes)
        .with_cancellation_token(stop.clone());
    let hub =
        Arc::new(Hub { main: mcp(registry.main().clone(), &config), registry, config, workspaces: Default::default() });
    let gate = Arc::new(Gate {
        token: match &listen.auth {
            HttpAuth::Bearer(t) => Some(t.as_bytes().to_vec()),
            HttpAuth::Disabled => None,
        },
        streams: Arc::new(Semaphore::new(cfg.max_streams)),
        draining: AtomicBool::new(false),
        in_flight: tokio::sync::watch::Sender::new(0),
    });
    // The probes are merged after the front door's layer, which therefore does not apply to them.
    let probes = axum::Router::new()
        .route("/healthz", axum::routing::get(healthz))
        .route("/readyz", axum::routing::get(readyz))
        .with_state(gate.clone());
    let app = axum::Router::new()
        .fallback(dispatch)
        .with_state(hub)
        .layer(axum::middleware::from_fn_with_state(gate.clone(), front_door))
        .merge(probes);
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    axum::serve(listener, app).with_graceful_shutdown(drain(gate, shutdown, stop)).await
}

/// Waits for the shutdown signal, then for the calls in flight (up to the limit, or a second signal), then closes
/// rmcp's sessions; axum then stops once every connection has closed.
async fn drain(gate: Arc<Gate>, shutdown: Shutdown, stop: CancellationToken) {
    shutdown.drain.cancelled().await;
    gate.draining.store(true, Ordering::SeqCst);
    let mut in_flight = gate.in_flight.subscribe();
    let n = *in_flight.borrow_and_update();
    tracing::info!("draining: {n} call(s) in flight; readiness fails and new requests get 503");
    tokio::select! {
        _ = in_flight.wait_for(|n| *n == 0) => tracing::info!("drained: every call in flight has finished"),
        () = tokio::time::sleep(shutdown.limit) => tracing::warn!(
            "drain limit of {} s reached with {} call(s) in flight; stopping them",
            shutdown.limit.as_secs(),
            *gate.in_flight.borrow()
        ),
        () = shutdown.now.cancelled() => {
            tracing::warn!("stopping at once: {} call(s) in flight", *gate.in_flight.borrow())
        }
    }
    stop.cancel();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_hex_and_differ() {
        let a = generate_token().unwrap();
        let b = generate_token().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}

/// rmcp's local session manager with longer session ids: 256 random bits instead of a UUIDv4's 122, so a
/// session id cannot be guessed (ATTACKS.md H6). Everything else is rmcp's.
pub(crate) struct StrongSessions(pub LocalSessionManager);

mod strong_sessions {
    use futures_core::Stream;
    use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
    use rmcp::transport::WorkerTransport;
    use rmcp::transport::streamable_http_server::session::local::{
        LocalSessionManagerError, LocalSessionWorker, create_local_session,
    };
    use rmcp::transport::streamable_http_server::session::{ServerSseMessage, SessionId, SessionManager};

    use super::StrongSessions;

    impl SessionManager for StrongSessions {
        type Error = LocalSessionManagerError;
        type Transport = WorkerTransport<LocalSessionWorker>;

        async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
            let id: SessionId = super::generate_token().unwrap_or_else(|_| uuid_fallback()).into();
            let (handle, worker) = create_local_session(id.clone(), self.0.session_config.clone());
            self.0.sessions.write().await.insert(id.clone(), handle);
            Ok((id, WorkerTransport::spawn(worker)))
        }
        async fn initialize_session(
            &self,
            id: &SessionId,
            message: ClientJsonRpcMessage,
        ) -> Result<ServerJsonRpcMessage, Self::Error> {
            self.0.initialize_session(id, message).await
        }
        async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
            self.0.has_session(id).await
        }
        async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
            self.0.close_session(id).await
        }
        async fn create_stream(
            &self,
            id: &SessionId,
            message: ClientJsonRpcMessage,
        ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
            self.0.create_stream(id, message).await
        }
        async fn accept_message(&self, id: &SessionId, message: ClientJsonRpcMessage) -> Result<(), Self::Error> {
            self.0.accept_message(id, message).await
        }
        async fn create_standalone_stream(
            &self,
            id: &SessionId,
        ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
            self.0.create_standalone_stream(id).await
        }
        async fn resume(
            &self,
            id: &SessionId,
            last_event_id: String,
        ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
            self.0.resume(id, last_event_id).await
        }
    }

    /// Only if the system has no randomness at all, which would already have stopped the token generation.
    fn uuid_fallback() -> String {
        format!(
            "{:032x}",
            std::process::id() as u128 ^ std::time::UNIX_EPOCH.elapsed().map(|d| d.as_nanos()).unwrap_or(0)
        )
    }
}
