//! Issue 20, network by allowlist: with `network = "proxy"`, commands reach the hosts `[sandbox.proxy]` allows
//! through codebox's proxy and nothing else; every refusal is reported with its reason and the line that would
//! allow it (ATTACKS.md N1–N6). No traffic leaves the machine: the allowed names are made up and mapped in
//! `hosts` to a local server the test starts.

use std::io::{BufRead, BufReader, Read, Write};

use serde_json::json;

use crate::harness::*;

/// A static HTTP server on 127.0.0.1 (Python's http.server) serving a directory the test fills: a page, a
/// package index with one wheel, and a git repository for the dumb HTTP protocol. Killed on drop.
struct LocalServer {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SETUP: &str = r#"set -e
echo hello-through-the-proxy > index.html
mkdir -p simple/tinypkg files
python3 - <<'PY'
import zipfile
with zipfile.ZipFile("files/tinypkg-1.0-py3-none-any.whl", "w") as z:
    z.writestr("tinypkg/__init__.py", "VALUE = 1\n")
    z.writestr("tinypkg-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0\n")
    z.writestr("tinypkg-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    z.writestr("tinypkg-1.0.dist-info/RECORD", "")
PY
echo '<html><body><a href="../../files/tinypkg-1.0-py3-none-any.whl">tinypkg-1.0-py3-none-any.whl</a></body></html>' > simple/tinypkg/index.html
git init -q --bare repo.git
git clone -q repo.git work 2>/dev/null
cd work && echo x > f && git add f && git -c user.name=t -c user.email=t@example.org commit -qm first && git push -q origin HEAD:main && cd ..
rm -rf work
git -C repo.git update-server-info
"#;

fn local_server() -> LocalServer {
    let dir = tempfile::tempdir().unwrap();
    let st = std::process::Command::new("bash").arg("-c").arg(SETUP).current_dir(dir.path()).status().unwrap();
    assert!(st.success(), "setting up the local server's files");
    let mut child = std::process::Command::new("python3")
        .args(["-u", "-m", "http.server", "0", "--bind", "127.0.0.1"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    // "Serving HTTP on 127.0.0.1 port 40123 (http://127.0.0.1:40123/) ..."
    let port = line.split(" port ").nth(1).and_then(|r| r.split(' ').next()).and_then(|p| p.parse().ok());
    LocalServer { child, port: port.unwrap_or_else(|| panic!("no port in {line:?}")), _dir: dir }
}

const CONFIG: &str = r#"[sandbox]
network = "proxy"
[sandbox.proxy]
allow = ["pkgs.example.test", "*.sub.example.test", "localhost", "93.184.216.0/24:1"]
deny = ["blocked.sub.example.test"]
hosts = { "pkgs.example.test" = "127.0.0.1", "a.sub.example.test" = "127.0.0.1", "blocked.sub.example.test" = "127.0.0.1", "sub.example.test" = "127.0.0.1" }
"#;

fn proxy_project() -> Project {
    let p = Project::new();
    p.write("codebox.toml", CONFIG);
    p
}

use crate::harness::sh_ok as sh;

/// N1: an allowed name reaches the local server through curl (plain HTTP and a CONNECT tunnel), Python's urllib,
/// `pip download` from a package index and `git ls-remote` over HTTP; the first request of a command succeeds.
#[tokio::test]
async fn n1_allowed_names_are_reached_by_common_clients() {
    let s = local_server();
    let port = s.port;
    let p = proxy_project();
    let c = stdio(&p.root, &[]).await;
    let base = format!("http://pkgs.example.test:{port}");
    let out = sh(&c, &format!("curl -sS {base}/index.html")).await;
    assert!(out.starts_with("hello-through-the-proxy\n"), "the first request of the first command: {out}");
    let out = sh(
        &c,
        &format!("curl -sS --proxytunnel {base}/index.html; curl -sS http://a.sub.example.test:{port}/index.html"),
    )
    .await;
    assert_eq!(out.matches("hello-through-the-proxy").count(), 2, "CONNECT and a `*.` name: {out}");
    let out = sh(
        &c,
        &format!("python3 -c \"import urllib.request as u; print(u.urlopen('{base}/index.html').read().decode())\""),
    )
    .await;
    assert!(out.contains("hello-through-the-proxy"), "{out}");
    let out = sh(&c, &format!("python3 -m pip download --disable-pip-version-check --no-deps --only-binary=:all: --trusted-host pkgs.example.test --index-url {base}/simple -d /tmp/dl tinypkg && ls /tmp/dl")).await;
    assert!(out.contains("tinypkg-1.0-py3-none-any.whl") && out.contains("exit 0"), "{out}");
    let out = sh(&c, &format!("git ls-remote {base}/repo.git")).await;
    assert!(out.contains("refs/heads/main") && out.contains("exit 0"), "{out}");
    assert!(!out.contains("[network:"), "nothing was refused: {out}");
}

/// N2: everything else is refused by the proxy, each with its reason in the result and the line that would allow
/// it: a name not listed, lookalikes, the apex of a `*.` rule, a denied name, IP literals (public and private,
/// in every notation), and an allowed name that resolves to loopback.
#[tokio::test]
async fn n2_refusals_name_the_rule() {
    let s = local_server();
    let port = s.port;
    let p = proxy_project();
    let c = stdio(&p.root, &[]).await;
    // Through the proxy explicitly (NO_PROXY would otherwise send loopback names straight to the sandbox's own
    // loopback).
    let get = |url: &str| format!("curl -sS --noproxy '' -x \"$http_proxy\" {url}; echo");
    for (url, reason) in [
        (format!("http://other.example.test:{port}/"), "other.example.test:{port}: not on the allowlist"),
        (format!("http://evilpkgs.example.test:{port}/"), "evilpkgs.example.test:{port}: not on the allowlist"),
        (
            format!("http://pkgs.example.test.evil.test:{port}/"),
            "pkgs.example.test.evil.test:{port}: not on the allowlist",
        ),
        (format!("http://sub.example.test:{port}/"), "allows subdomains only"),
        (format!("http://blocked.sub.example.test:{port}/"), "denied by the rule \"blocked.sub.example.test\""),
        (format!("http://93.184.216.34:{port}/"), "93.184.216.34:{port}: not on the allowlist"),
        (format!("http://127.0.0.1:{port}/"), "127.0.0.1 is a loopback address"),
        (format!("http://[::1]:{port}/"), "::1 is a loopback address"),
        ("http://169.254.169.254/latest/meta-data/".to_string(), "169.254.169.254 is the cloud metadata address"),
        (format!("http://2130706433:{port}/"), "127.0.0.1 is a loopback address"),
        (format!("http://127.1:{port}/"), "127.0.0.1 is a loopback address"),
        (format!("http://localhost:{port}/"), "localhost resolves to 127.0.0.1, a loopback address"),
    ] {
        let out = sh(&c, &get(&url)).await;
        let reason = reason.replace("{port}", &port.to_string());
        assert!(out.contains("codebox proxy refused") && out.contains(&reason), "{url}: {out}");
        assert!(out.contains("[network: the proxy refused"), "the result lists the refusal: {out}");
        assert!(!out.contains("hello-through-the-proxy"), "{url}: {out}");
    }
    let out = sh(&c, &get(&format!("http://other.example.test:{port}/"))).await;
    assert!(out.contains("allow = [\"other.example.test\"]"), "the line that would allow it: {out}");
    // Over CONNECT too (an https client's way).
    let out =
        sh(&c, &format!("curl -sS -p --noproxy '' -x \"$http_proxy\" http://169.254.169.254:{port}/; echo rc=$?"))
            .await;
    assert!(out.contains("rc=56") && out.contains("[network: the proxy refused 169.254.169.254"), "{out}");
}

/// N3: what does not go through the proxy goes nowhere: curl told to bypass it, bash's /dev/tcp, UDP to a DNS
/// server; and with the network off, a failed fetch ends with one line naming the setting.
#[tokio::test]
async fn n3_bypassing_the_proxy_reaches_nothing() {
    let s = local_server();
    let port = s.port;
    let p = proxy_project();
    let c = stdio(&p.root, &[]).await;
    let out = sh(&c, &format!("curl -sS --noproxy '*' http://pkgs.example.test:{port}/")).await;
    assert!(out.contains("Could not resolve host") && out.contains("[exit 6"), "{out}");
    assert!(out.contains("only the proxy in HTTPS_PROXY leads out"), "{out}");
    let out = sh(&c, "echo x > /dev/tcp/93.184.216.34/80; echo rc=$?").await;
    assert!(out.contains("Network is unreachable") && out.contains("rc=1"), "{out}");
    let out = sh(&c, "python3 -c \"import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'x', ('9.9.9.9', 53))\"; echo rc=$?").await;
    assert!(out.contains("Network is unreachable") && out.contains("rc=1"), "{out}");

    let off = Project::new();
    let c = stdio(&off.root, &[]).await;
    let out = sh(&c, "curl -sS http://registry.example.org/simple/").await;
    assert!(out.contains("Could not resolve host"), "{out}");
    assert!(
        out.contains("[network: this sandbox has no network (sandbox.network = \"off\")")
            && out.contains("network = \"proxy\""),
        "{out}"
    );
}

/// N4: a process outside the sandbox cannot use the proxy: without credentials, or with wrong ones, it gets 407.
#[tokio::test]
async fn n4_the_proxy_needs_a_live_grant() {
    let s = local_server();
    let p = proxy_project();
    let c = stdio(&p.root, &[]).await;
    // The session's first command makes the proxy's socket exist (it exists from the start) and proves it works.
    let out = sh(&c, &format!("curl -sS http://pkgs.example.test:{}/index.html", s.port)).await;
    assert!(out.contains("hello-through-the-proxy"), "{out}");
    let socket = find_socket(&p.root.parent().unwrap().join("tmp")).expect("the proxy socket in codebox's scratch");
    for auth in ["", "Proxy-Authorization: Basic Y29kZWJveDp3cm9uZw==\r\n"] {
        let mut stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        let req = format!("CONNECT pkgs.example.test:{} HTTP/1.1\r\nHost: pkgs.example.test\r\n{auth}\r\n", s.port);
        stream.write_all(req.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 407"), "{auth:?}: {answer}");
    }
    // A finished command's credentials are revoked.
    let out = sh(&c, "echo $http_proxy").await;
    let token = out.lines().next().unwrap().split(':').nth(2).unwrap().split('@').next().unwrap().to_string();
    let mut stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    let basic = base64(&format!("codebox:{token}"));
    let req = format!("CONNECT pkgs.example.test:{} HTTP/1.1\r\nProxy-Authorization: Basic {basic}\r\n\r\n", s.port);
    stream.write_all(req.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 407"), "a used token: {answer}");
}

fn find_socket(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.file_name().is_some_and(|n| n == "proxy.sock") {
            return Some(p);
        }
        if e.file_type().ok()?.is_dir()
            && let Some(found) = find_socket(&p)
        {
            return Some(found);
        }
    }
    None
}

fn base64(s: &str) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n =
            (chunk[0] as u32) << 16 | (*chunk.get(1).unwrap_or(&0) as u32) << 8 | *chunk.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// N5: `network = "host"` still works, and every result says so.
#[tokio::test]
async fn n5_the_host_network_is_announced_on_every_result() {
    let s = local_server();
    let p = Project::new();
    let c = stdio(&p.root, &["--network", "host"]).await;
    let out = sh(&c, &format!("curl -sS http://127.0.0.1:{}/index.html", s.port)).await;
    assert!(out.contains("hello-through-the-proxy"), "{out}");
    assert!(out.contains("[network: host (sandbox.network = \"host\")"), "{out}");
    let out = sh(&c, "true").await;
    assert!(out.contains("[network: host"), "every result: {out}");
}

/// N6: jobs and run_tests go through the proxy too, and report what it refused.
#[tokio::test]
async fn n6_jobs_and_tests_use_the_proxy() {
    let s = local_server();
    let p = proxy_project();
    p.write("test_fetch.py", format!(
        "import urllib.request as u\n\ndef test_fetch():\n    assert b'hello' in u.urlopen('http://pkgs.example.test:{}/index.html').read()\n\ndef test_refused():\n    u.urlopen('http://other.example.test/')\n",
        s.port
    ));
    p.write("pytest.ini", "[pytest]\n");
    let c = stdio(&p.root, &[]).await;
    let out = call(&c, "run_tests", json!({})).await;
    let r = out.structured.unwrap();
    assert_eq!((r["passed"].as_u64(), r["failed"].as_u64()), (Some(1), Some(1)), "{}", out.text);
    assert!(out.text.contains("[network: the proxy refused other.example.test:80"), "{}", out.text);
    let out = call(&c, "job_start", json!({"command": format!("curl -sS http://pkgs.example.test:{}/index.html; curl -sS http://other.example.test/", s.port), "wait_secs": 30})).await;
    assert!(
        out.text.contains("hello-through-the-proxy")
            && out.text.contains("[network: the proxy refused other.example.test:80"),
        "{}",
        out.text
    );
}
