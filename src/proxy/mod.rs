//! The filtering proxy for `network = "proxy"`: HTTP CONNECT (opaque tunnels, no TLS interception) and
//! absolute-form HTTP (re-serialised from the parsed request, never forwarded raw), on a unix socket in codebox's
//! private scratch directory. Inside a session's network namespace a forwarder (the sandbox's) carries
//! connections from 127.0.0.1 to this socket.
//!
//! Every request must carry the credentials of a live grant (one per command or job), so no other process can use
//! the proxy and every refusal is attributed to the call that caused it. Names are resolved here, once; exactly the
//! checked addresses are dialled.

pub(crate) mod rules;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixListener, UnixStream};

use rules::{Host, Rules, Verdict};

/// The largest request head accepted.
const MAX_HEAD: usize = 32 << 10;
/// How long a client may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a dial may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Refusals remembered per grant (the first ones; a loop of retries adds nothing).
const MAX_REFUSALS: usize = 32;
/// The user name in proxy URLs; the password is the grant's token.
pub(crate) const USER: &str = "codebox";

/// A running proxy. Dropping it stops accepting.
pub struct Proxy {
    socket: PathBuf,
    shared: Arc<Shared>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

struct Shared {
    rules: Rules,
    grants: Mutex<HashMap<String, Arc<GrantState>>>,
}

#[derive(Default)]
struct GrantState {
    refusals: Mutex<Vec<Refused>>,
}

/// One destination the proxy refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// `host:port` as canonicalised (or as sent, when malformed).
    pub target: String,
    pub reason: String,
    /// The configuration line that would allow it, when one would.
    pub fix: Option<String>,
}

/// The right of one command or job to use the proxy; revoked when dropped.
pub struct Grant {
    token: String,
    state: Arc<GrantState>,
    shared: Weak<Shared>,
}

impl Grant {
    pub fn token(&self) -> &str {
        &self.token
    }

    /// What was refused so far, oldest first.
    pub fn refusals(&self) -> Vec<Refused> {
        self.state.refusals.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for Grant {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            shared.grants.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.token);
        }
    }
}

impl Proxy {
    /// Binds the socket at `socket` and serves it on a thread of its own. `confine` runs first on that thread
    /// (codebox's landlock domain for the proxy: it may dial out, nothing more than codebox may otherwise).
    pub fn start(rules: Rules, socket: &Path, confine: impl FnOnce() + Send + 'static) -> Result<Proxy, String> {
        let std_listener = std::os::unix::net::UnixListener::bind(socket)
            .map_err(|e| format!("cannot create the proxy socket {}: {e}", socket.display()))?;
        std_listener.set_nonblocking(true).map_err(|e| format!("proxy socket: {e}"))?;
        let shared = Arc::new(Shared { rules, grants: Mutex::new(HashMap::new()) });
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let serving = shared.clone();
        std::thread::Builder::new()
            .name("codebox-proxy".into())
            .spawn(move || {
                confine();
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!("the network proxy could not start its runtime: {e}");
                        return;
                    }
                };
                rt.block_on(async move {
                    let listener = match UnixListener::from_std(std_listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!("the network proxy could not listen: {e}");
                            return;
                        }
                    };
                    let accept = async {
                        loop {
                            match listener.accept().await {
                                Ok((stream, _)) => {
                                    let shared = serving.clone();
                                    tokio::spawn(async move { handle(shared, stream).await });
                                }
                                Err(e) => tracing::warn!("proxy accept failed: {e}"),
                            }
                        }
                    };
                    tokio::select! {
                        _ = accept => {}
                        _ = stop_rx => {}
                    }
                });
            })
            .map_err(|e| format!("cannot start the proxy thread: {e}"))?;
        Ok(Proxy { socket: socket.to_path_buf(), shared, _stop: stop_tx })
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// A new grant with a fresh random token (None, logged, when the system has no randomness: the command
    /// then runs without the proxy's credentials and every request of it is refused).
    pub fn grant(&self) -> Option<Grant> {
        let token = match crate::random::token() {
            Ok(t) => t,
            Err(e) => {
                tracing::error!("no proxy credentials for a command: {e}");
                return None;
            }
        };
        let state = Arc::new(GrantState::default());
        self.shared.grants.lock().unwrap_or_else(|p| p.into_inner()).insert(token.clone(), state.clone());
        Some(Grant { token, state, shared: Arc::downgrade(&self.shared) })
    }
}

/// A request head as the proxy needs it.
struct Request {
    method: String,
    /// CONNECT: `host:port`; otherwise the absolute URL.
    target: String,
    headers: Vec<(String, Vec<u8>)>,
}

async fn handle(shared: Arc<Shared>, mut client: UnixStream) {
    let mut buf = Vec::with_capacity(4096);
    let head = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut client, &mut buf)).await;
    let (req, head_len) = match head {
        Ok(Ok(Some(h))) => h,
        Ok(Ok(None)) => return,
        Ok(Err(why)) => {
            let _ = respond(&mut client, 400, "Bad Request", &format!("codebox proxy: {why}")).await;
            return;
        }
        Err(_) => return,
    };
    let rest = buf[head_len..].to_vec();
    let Some(grant) = authorised(&shared, &req) else {
        let _ = client
            .write_all(
                b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"codebox\"\r\n\
Content-Type: text/plain\r\nConnection: close\r\nContent-Length: 89\r\n\r\n\
codebox proxy: missing or wrong credentials (commands in the sandbox get them in HTTP_PROXY)\n",
            )
            .await;
        return;
    };
    let connect = req.method.eq_ignore_ascii_case("CONNECT");
    let parsed = if connect {
        rules::split_authority(&req.target, 443).map(|(h, p)| (h, p, String::new()))
    } else {
        parse_url(&req.target)
    };
    let (host, port, path) = match parsed {
        Ok(t) => t,
        Err(why) => {
            refuse(&mut client, &grant, &req.target, &why, None).await;
            return;
        }
    };
    let target = format!("{host}:{port}");
    let addrs = match decide(&shared.rules, &host, port).await {
        Ok(a) => a,
        Err((why, fix)) => {
            refuse(&mut client, &grant, &target, &why, fix).await;
            return;
        }
    };
    let upstream = match dial(&addrs).await {
        Ok(s) => s,
        Err(e) => {
            let _ =
                respond(&mut client, 502, "Bad Gateway", &format!("codebox proxy: cannot reach {target}: {e}")).await;
            return;
        }
    };
    drop(grant);
    let mut upstream = upstream;
    // What the client sent past the head goes first; for plain HTTP, the re-serialised request before it.
    if !connect && upstream.write_all(&reserialise(&req, &host, port, &path)).await.is_err() {
        return;
    }
    if !rest.is_empty() && upstream.write_all(&rest).await.is_err() {
        return;
    }
    let reply: &[u8] = if connect { b"HTTP/1.1 200 Connection established\r\n\r\n" } else { b"" };
    // The checked, connected socket goes to the forwarder, which then carries the bytes itself: one hop.
    if let Err(e) = hand_off(&client, upstream, reply).await {
        tracing::warn!("proxy: handing {target} to the forwarder failed: {e}");
    }
}

/// First byte of the message with which the proxy hands a connected socket to the session's forwarder; the
/// forwarder drops it and passes the rest on to the client.
pub(crate) const HANDOFF: u8 = 0;

/// Sends `upstream` over `client` (SCM_RIGHTS) with `HANDOFF` and `reply`; the proxy's copy is closed.
async fn hand_off(client: &UnixStream, upstream: TcpStream, reply: &[u8]) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let upstream = upstream.into_std()?;
    let mut data = Vec::with_capacity(1 + reply.len());
    data.push(HANDOFF);
    data.extend_from_slice(reply);
    let fds = [upstream.as_raw_fd()];
    let sent = loop {
        client.writable().await?;
        let tried = client.try_io(tokio::io::Interest::WRITABLE, || {
            nix::sys::socket::sendmsg::<()>(
                client.as_raw_fd(),
                &[std::io::IoSlice::new(&data)],
                &[nix::sys::socket::ControlMessage::ScmRights(&fds)],
                nix::sys::socket::MsgFlags::MSG_NOSIGNAL,
                None,
            )
            .map_err(std::io::Error::from)
        });
        match tried {
            Ok(n) => break n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    };
    let mut rest = &data[sent..];
    while !rest.is_empty() {
        client.writable().await?;
        match client.try_write(rest) {
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads until the end of the request head; returns the parsed head and its length.
async fn read_head(client: &mut UnixStream, buf: &mut Vec<u8>) -> Result<Option<(Request, usize)>, String> {
    let mut chunk = [0u8; 4096];
    loop {
        let n = client.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 96];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(buf) {
            Ok(httparse::Status::Complete(len)) => {
                let method = req.method.unwrap_or_default().to_string();
                let target = req.path.unwrap_or_default().to_string();
                let headers = req.headers.iter().map(|h| (h.name.to_string(), h.value.to_vec())).collect();
                return Ok(Some((Request { method, target, headers }, len)));
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => continue,
            Ok(httparse::Status::Partial) => return Err("request head too large".into()),
            Err(e) => return Err(format!("malformed request: {e}")),
        }
    }
}

/// The grant whose token the request's Proxy-Authorization carries.
fn authorised(shared: &Shared, req: &Request) -> Option<Arc<GrantState>> {
    use base64::Engine;
    let value = req.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("proxy-authorization"))?.1.clone();
    let value = String::from_utf8(value).ok()?;
    let (scheme, b64) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (_, token) = decoded.split_once(':')?;
    let grants = shared.grants.lock().unwrap_or_else(|p| p.into_inner());
    // Constant-time comparison against each live token.
    grants.iter().find(|(t, _)| crate::random::same(t.as_bytes(), token.as_bytes())).map(|(_, g)| g.clone())
}

/// `http://host[:port]/path?query` → (host, port, origin-form path). Only plain HTTP is proxied this way; HTTPS
/// goes through CONNECT.
fn parse_url(url: &str) -> Result<(Host, u16, String), String> {
    let Some(rest) = url.get(..7).filter(|s| s.eq_ignore_ascii_case("http://")).map(|_| &url[7..]) else {
        return Err(format!(
            "only http:// URLs and CONNECT are proxied, not {:?}",
            url.split("://").next().unwrap_or(url)
        ));
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.contains('@') {
        return Err("credentials in the URL are not forwarded".into());
    }
    let (host, port) = rules::split_authority(authority, 80)?;
    let mut path = rest[end..].split('#').next().unwrap_or("").to_string();
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err("the path has control characters or spaces".into());
    }
    Ok((host, port, path))
}

/// Applies the rules, resolves the name (the static map first, then DNS) and keeps only addresses that may be
/// dialled. Returns the addresses, or why not and what would allow it.
async fn decide(rules: &Rules, host: &Host, port: u16) -> Result<Vec<SocketAddr>, (String, Option<String>)> {
    let names_address = match rules.verdict(host, port) {
        Verdict::Allow { names_address, .. } => names_address,
        Verdict::Refuse { reason, fix } => {
            // For an address that is never dialled unnamed, that is the more useful reason (and no fix offered).
            if let Host::Ip(ip) = host
                && let Some(kind) = rules::special(*ip)
            {
                return Err((format!("{ip} is {kind}; only an allow rule naming the address itself allows it"), None));
            }
            return Err((reason, fix));
        }
    };
    if let Some(ip) = rules.mapped(host) {
        // The user mapped this allowed name: its address is dialled whatever it is.
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addrs: Vec<IpAddr> = match host {
        Host::Ip(ip) => vec![*ip],
        Host::Name(n) => match tokio::net::lookup_host((n.as_str(), port)).await {
            Ok(a) => a.map(|s| s.ip()).collect(),
            Err(e) => return Err((format!("{n} does not resolve: {e}"), None)),
        },
    };
    let mut ok = Vec::new();
    let mut why = None;
    for ip in addrs {
        match rules::special(ip) {
            Some(kind) if !names_address => why = Some(format!("{host} resolves to {ip}, {kind}")),
            _ => ok.push(SocketAddr::new(ip, port)),
        }
    }
    if ok.is_empty() {
        let reason = match host {
            Host::Ip(ip) => format!(
                "{ip} is {}; only an allow rule naming the address itself allows it",
                rules::special(*ip).unwrap_or("not dialled")
            ),
            Host::Name(_) => why.unwrap_or_else(|| "no address to dial".into()),
        };
        return Err((reason, None));
    }
    Ok(ok)
}

async fn dial(addrs: &[SocketAddr]) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::other("no address");
    for a in addrs {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(a)).await {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Ok(Err(e)) => last = e,
            Err(_) => last = std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"),
        }
    }
    Err(last)
}

/// Headers that belong to one hop and never travel further.
const HOP_BY_HOP: &[&str] =
    &["proxy-authorization", "proxy-connection", "connection", "keep-alive", "te", "trailer", "upgrade", "host"];

/// The request in origin form for the server: the parsed method and path, the client's end-to-end headers,
/// `Host` from the URL, and `Connection: close` (one request per connection).
fn reserialise(req: &Request, host: &Host, port: u16, path: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(format!("{} {path} HTTP/1.1\r\n", req.method).as_bytes());
    let host_header = if port == 80 { host.to_string() } else { format!("{host}:{port}") };
    out.extend_from_slice(format!("Host: {host_header}\r\n").as_bytes());
    for (name, value) in &req.headers {
        if HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h)) {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out
}

async fn refuse(client: &mut UnixStream, grant: &GrantState, target: &str, why: &str, fix: Option<String>) {
    tracing::info!("network proxy refused {target}: {why}");
    {
        let mut r = grant.refusals.lock().unwrap_or_else(|p| p.into_inner());
        if r.len() < MAX_REFUSALS && !r.iter().any(|x| x.target == target) {
            r.push(Refused { target: target.to_string(), reason: why.to_string(), fix: fix.clone() });
        }
    }
    let mut body = format!("codebox proxy refused {target}: {why}");
    if let Some(f) = fix {
        body.push_str(&format!(". To allow it, add to codebox.toml: {f}"));
    }
    let _ = respond(client, 403, "Forbidden", &body).await;
}

async fn respond(client: &mut UnixStream, code: u16, reason: &str, body: &str) -> std::io::Result<()> {
    let body = format!("{body}\n");
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    client.write_all(head.as_bytes()).await?;
    client.write_all(body.as_bytes()).await?;
    client.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_to_origin_form() {
        let (h, p, path) = parse_url("http://Registry.Example.org:8080/simple/x/?a=1#frag").unwrap();
        assert_eq!((h.to_string(), p, path.as_str()), ("registry.example.org".into(), 8080, "/simple/x/?a=1"));
        let (_, p, path) = parse_url("HTTP://registry.example.org").unwrap();
        assert_eq!((p, path.as_str()), (80, "/"));
        assert!(parse_url("https://registry.example.org/").unwrap_err().contains("CONNECT"));
        assert!(parse_url("http://user:pw@registry.example.org/").is_err());
        assert!(parse_url("ftp://x/").is_err());
    }

    #[test]
    fn reserialised_requests_drop_hop_headers_and_close() {
        let req = Request {
            method: "GET".into(),
            target: "http://a.example/x".into(),
            headers: vec![
                ("Host".into(), b"evil.example".to_vec()),
                ("Proxy-Authorization".into(), b"Basic abc".to_vec()),
                ("Accept".into(), b"*/*".to_vec()),
                ("Connection".into(), b"keep-alive".to_vec()),
            ],
        };
        let out = String::from_utf8(reserialise(&req, &Host::Name("a.example".into()), 80, "/x")).unwrap();
        assert_eq!(out, "GET /x HTTP/1.1\r\nHost: a.example\r\nAccept: */*\r\nConnection: close\r\n\r\n");
    }
}
