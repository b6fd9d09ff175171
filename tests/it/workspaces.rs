//! Issue 16, workspaces: connections bound to checkouts of their own, through the real server over HTTP and
//! stdio and the real `codebox ws` CLI. Each escape attempt of the list is made from a bound session;
//! canaries are the main checkout's files and refs and the other workspace's.

use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;

const TOKEN: &str = "test-token-workspaces-0123456789abcdef0123";

/// `git -C root args` on the host, with an identity; panics on failure and returns stdout.
fn git(root: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.org")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.org")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The main repository's refs but those codebox keeps for workspaces' bases.
fn main_refs(root: &Path) -> String {
    let all = git(root, &["for-each-ref", "--format=%(refname)"]);
    all.lines().filter(|r| !r.starts_with("refs/codebox/workspaces/")).collect::<Vec<_>>().join("\n")
}

/// The pytest fixture as a git repository on `main`, with a shared file agents will both edit.
fn repo(config: &str) -> Project {
    let p = fixture("py_pass");
    p.write("shared.txt", "one\ntwo\nthree\n");
    p.write(".gitignore", ".env\n__pycache__/\n.pytest_cache/\n");
    p.write("codebox.toml", config);
    git(&p.root, &["init", "-q", "-b", "main"]);
    git(&p.root, &["add", "-A"]);
    git(&p.root, &["commit", "-q", "-m", "base"]);
    p
}

/// `codebox ws <args> --root <root>` with the test's private state directory; (success, stdout + stderr).
fn ws(root: &Path, args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("ws").args(args).arg("--root").arg(root);
    private_dirs(&mut cmd, root);
    let out = cmd.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn ws_ok(root: &Path, args: &[&str]) -> String {
    let (ok, text) = ws(root, args);
    assert!(ok, "codebox ws {args:?} failed: {text}");
    text
}

/// Where `codebox ws new` put workspace `name` (its first output line names the path).
fn ws_path(created: &str) -> PathBuf {
    let line = created.lines().next().unwrap();
    PathBuf::from(line.split(" at ").nth(1).unwrap().trim())
}

/// An MCP client on the server's `/ws/<name>/mcp`.
async fn bound(s: &HttpServer, name: &str) -> Client {
    s.client_at(&s.url.replace("/mcp", &format!("/ws/{name}/mcp"))).await
}

#[tokio::test]
async fn two_workspaces_edit_test_and_commit_concurrently_and_only_merge_touches_main() {
    let p = repo("");
    let main_head = git(&p.root, &["rev-parse", "HEAD"]);
    ws_ok(&p.root, &["new", "a"]);
    ws_ok(&p.root, &["new", "b"]);
    let s = HttpServer::start(&p.root, Some(TOKEN), &[]).await;
    let (a, b) = (bound(&s, "a").await, bound(&s, "b").await);
    let work = |c: Client, word: &'static str| async move {
        let edit = json!({"path": "shared.txt", "edits": [{"old_string": "two", "new_string": word}]});
        ok(&c, "edit_file", edit).await;
        let tests = ok(&c, "run_tests", json!({})).await;
        assert!(tests.contains("passed"), "{tests}");
        ok(&c, "git_commit", json!({"message": format!("say {word}")})).await;
        c
    };
    let (a, b) = tokio::join!(work(a, "TWO-A"), work(b, "TWO-B"));
    // Each session sees its own edit; the main checkout saw neither.
    assert!(ok(&a, "read_file", json!({"path": "shared.txt"})).await.contains("TWO-A"));
    assert!(ok(&b, "read_file", json!({"path": "shared.txt"})).await.contains("TWO-B"));
    assert_eq!(std::fs::read_to_string(p.root.join("shared.txt")).unwrap(), "one\ntwo\nthree\n");
    assert_eq!(git(&p.root, &["rev-parse", "HEAD"]), main_head);
    assert_eq!(main_refs(&p.root), "refs/heads/main", "no ref appeared in main");

    let status = ok(&a, "workspace_status", json!({})).await;
    assert!(status.contains("1 commit(s) ahead, 0 behind"), "{status}");

    let merged = ws_ok(&p.root, &["merge", "a"]);
    assert!(merged.contains("fast-forward"), "{merged}");
    assert_eq!(std::fs::read_to_string(p.root.join("shared.txt")).unwrap(), "one\nTWO-A\nthree\n");
    let after_a = git(&p.root, &["rev-parse", "HEAD"]);

    // b's base moved under it, and a rebase would conflict: its agent is told.
    let status = ok(&b, "workspace_status", json!({})).await;
    assert!(status.contains("1 behind") && status.contains("main moved"), "{status}");
    assert!(status.contains("would conflict in: shared.txt"), "{status}");

    let (merged, text) = ws(&p.root, &["merge", "b"]);
    assert!(!merged, "{text}");
    assert!(text.contains("conflict") && text.contains("shared.txt"), "{text}");
    assert_eq!(git(&p.root, &["rev-parse", "HEAD"]), after_a, "main did not move");
    assert_eq!(git(&p.root, &["status", "--porcelain"]), "", "main is clean, not half-merged");
    assert_eq!(std::fs::read_to_string(p.root.join("shared.txt")).unwrap(), "one\nTWO-A\nthree\n");
}

#[tokio::test]
async fn escapes_from_a_workspace_to_another_or_the_main_checkout_are_refused() {
    let p = repo("");
    let pa = ws_path(&ws_ok(&p.root, &["new", "a"]));
    let pb = ws_path(&ws_ok(&p.root, &["new", "b"]));
    std::fs::write(pb.join("secret-b.txt"), "B's work\n").unwrap();
    let s = HttpServer::start(&p.root, Some(TOKEN), &[]).await;
    let (a, b) = (bound(&s, "a").await, bound(&s, "b").await);
    let main = p.root.display().to_string();
    let mb = pb.display().to_string();

    // Paths: `../`, absolute paths into B and into the main checkout.
    for path in ["../b/secret-b.txt", &format!("{mb}/secret-b.txt"), &format!("{main}/shared.txt"), "../../"] {
        let e = err(&a, "read_file", json!({"path": path})).await;
        assert!(e.contains("outside the workspace"), "{path}: {e}");
    }
    assert!(err(&a, "write_file", json!({"path": format!("{mb}/x.txt"), "content": "x"})).await.contains("outside"));

    // A symlink made by a command: the sandbox shows neither B nor the main checkout's files to link to, and the
    // file tools refuse to follow it.
    let out =
        sh_ok(&a, &format!("ln -s {mb}/secret-b.txt lb; ln -s {main}/shared.txt lm; cat lb lm; ls {mb} {main}")).await;
    assert!(!out.contains("B's work") && !out.contains("one\ntwo"), "{out}");
    assert!(
        refused(&a, "read_file", json!({"path": "lb"}), "outside_workspace").await.contains("outside the workspace")
    );
    assert!(err(&a, "write_file", json!({"path": "lm", "content": "pwned\n"})).await.contains("outside"));

    // git pointed at the main repository or B's: not there to open.
    let out = sh_ok(&a, &format!("git --git-dir={main}/.git log --oneline; git --git-dir={mb}/.git log")).await;
    assert!(out.contains("not a git repository"), "{out}");
    // A worktree of A's repository beside A: the directories above A inside the sandbox are the run's private
    // tmpfs (home or /tmp), so it lands there and is gone with the command; the host never sees it.
    sh_ok(&a, "git worktree add -q ../escape HEAD; ls ../escape").await;
    assert!(!sh_ok(&a, "ls -a ..").await.contains("escape"));
    assert!(!pa.parent().unwrap().join("escape").exists());
    // The borrowed object store is read-only.
    let out = sh_ok(&a, &format!("touch {main}/.git/objects/pwn; echo rc=$?; ls {main}/.git")).await;
    assert!(out.contains("Read-only file system") && !out.contains("rc=0"), "{out}");
    // git push to the main repository.
    let out =
        sh_ok(&a, &format!("git push -q {main} HEAD:refs/heads/pwn; git push -q origin HEAD:pwn; echo rc=$?")).await;
    assert!(!out.contains("rc=0"), "{out}");

    // Undo history: B's write cannot be undone from A, though the relative path is the same.
    ok(&b, "write_file", json!({"path": "notes.txt", "content": "b1\n"})).await;
    ok(&b, "write_file", json!({"path": "notes.txt", "content": "b2\n"})).await;
    ok(&a, "write_file", json!({"path": "notes.txt", "content": "a1\n"})).await;
    ok(&a, "undo_edit", json!({"path": "notes.txt"})).await;
    assert!(refused(&a, "undo_edit", json!({"path": "notes.txt"}), "not_found").await.contains("no codebox write"));
    assert_eq!(std::fs::read_to_string(pb.join("notes.txt")).unwrap(), "b2\n");

    // Spilled outputs: B's id means nothing to A.
    let big = ok(&b, "run_command", json!({"command": "seq 1 200000"})).await;
    let id = big.split("read_output(id=\"").nth(1).expect("a cut output").split('"').next().unwrap().to_string();
    assert!(ok(&b, "read_output", json!({"id": id, "offset": 1, "limit": 2})).await.contains('1'));
    let e = err(&a, "read_output", json!({"id": id})).await;
    assert!(e.contains(&id) || e.contains("no output"), "{e}");

    // A server B runs as a job is not reachable from A's commands.
    let started = ok(
        &b,
        "job_start",
        json!({"command": "python3 -c \"import http.server as h; s=h.HTTPServer(('127.0.0.1', 0), h.SimpleHTTPRequestHandler); print('serving on', s.server_port, flush=True); s.serve_forever()\"",
               "wait_for": "^serving on \\d+$", "wait_secs": 30}),
    )
    .await;
    let port: u16 = started.split("serving on ").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    let probe =
        format!("python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), 2); print('CONNECTED')\"");
    assert!(sh_ok(&b, &probe).await.contains("CONNECTED"), "the probe works where the server is");
    assert!(!sh_ok(&a, &probe).await.contains("CONNECTED"));

    // The main checkout and B are as they were; nothing appeared beside the workspaces.
    assert_eq!(std::fs::read_to_string(p.root.join("shared.txt")).unwrap(), "one\ntwo\nthree\n");
    assert_eq!(main_refs(&p.root), "refs/heads/main");
    assert!(!p.root.join(".git/objects/pwn").exists());
    assert!(!pa.parent().unwrap().join("escape").exists());
    assert_eq!(std::fs::read_to_string(pb.join("secret-b.txt")).unwrap(), "B's work\n");
    assert!(std::fs::symlink_metadata(pb.join("lb")).is_err());
}

#[tokio::test]
async fn the_model_cannot_pick_a_workspace() {
    let p = repo("");
    let pb = ws_path(&ws_ok(&p.root, &["new", "b"]));
    ws_ok(&p.root, &["new", "a"]);
    let s = HttpServer::start(&p.root, Some(TOKEN), &[]).await;
    let a = bound(&s, "a").await;
    // No tool takes a workspace: an argument naming one is refused, and a path into B is outside.
    let e = err(&a, "read_file", json!({"path": "shared.txt", "workspace": "b"})).await;
    assert!(e.contains("unknown field `workspace`"), "{e}");
    let e = err(&a, "workspace_status", json!({"name": "b"})).await;
    assert!(e.contains("unknown field `name`"), "{e}");
    let e = err(&a, "read_file", json!({"path": format!("{}/shared.txt", pb.display())})).await;
    assert!(e.contains("outside the workspace"), "{e}");
    let tools = a.peer().list_all_tools().await.unwrap();
    let listing = serde_json::to_string(&json!({ "tools": tools })).unwrap().len();
    assert!(listing < 12_000, "a bound connection's tools/list is {listing} characters; the budget is 12,000");
    for t in &tools {
        let props = t.input_schema.get("properties").map(|p| p.to_string()).unwrap_or_default();
        assert!(!props.contains("workspace"), "{} takes a workspace: {props}", t.name);
    }
    // An unbound connection has no workspace_status, and asking says how binding works.
    let m = s.client().await;
    assert!(!m.peer().list_all_tools().await.unwrap().iter().any(|t| t.name == "workspace_status"));
    assert!(err(&m, "workspace_status", json!({})).await.contains("/ws/<name>/mcp"));

    // The binding is the client's configuration: an unknown name is not created (create_on_use is off), a
    // header that disagrees with the path is refused, and a session cannot be carried to another workspace.
    let post = |url: String| {
        reqwest::Client::new()
            .post(url)
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
    };
    let r = post(s.url.replace("/mcp", "/ws/nope/mcp")).json(&initialize_body()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.text().await.unwrap().contains("codebox ws new nope"));
    assert!(!p.root.parent().unwrap().join("state").join("nope").exists());
    let r = post(s.url.replace("/mcp", "/ws/..%2Fmain/mcp")).json(&initialize_body()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("invalid workspace name"));
    let r = post(s.url.replace("/mcp", "/ws/a/mcp"))
        .header("x-codebox-workspace", "b")
        .json(&initialize_body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = post(s.url.replace("/mcp", "/ws/a/mcp")).json(&initialize_body()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let sid = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let r = post(s.url.replace("/mcp", "/ws/b/mcp")).header("mcp-session-id", &sid).json(&list).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "a's session is unknown to b");
    let r = post(s.url.clone()).header("mcp-session-id", &sid).json(&list).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "and to the main checkout");
    // The header binds as the path does.
    let r = post(s.url.clone()).header("x-codebox-workspace", "b").json(&initialize_body()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Over stdio an unknown workspace stops the server; it never falls back to the main checkout.
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--workspace", "nope", "--root"]).arg(&p.root).stdin(std::process::Stdio::null());
    private_dirs(&mut cmd, &p.root);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("codebox ws new nope"));

    // A workspace with bound sessions is not removed; once forced, the server stops serving it.
    let (removed, text) = ws(&p.root, &["rm", "a"]);
    assert!(!removed && text.contains("session(s) of a running server"), "{text}");
    assert!(ws_ok(&p.root, &["rm", "a", "--force"]).contains("removed workspace a"));
    let r = post(s.url.replace("/mcp", "/ws/a/mcp")).json(&initialize_body()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    drop(a);
}

#[tokio::test]
async fn a_workspace_starts_from_the_users_branch_with_its_includes_and_rm_keeps_work() {
    let p = repo("");
    git(&p.root, &["checkout", "-q", "-b", "feature"]);
    p.write("feature.txt", "on feature\n");
    git(&p.root, &["add", "feature.txt"]);
    git(&p.root, &["commit", "-q", "-m", "feature work"]);
    let feature_head = git(&p.root, &["rev-parse", "HEAD"]);
    git(&p.root, &["checkout", "-q", "main"]);
    git(&p.root, &["checkout", "-q", "feature"]);
    p.write(".env", "API_KEY=local-only\n");
    p.write(".codebox/workspace-include", "# local files agents need\n.env\n");
    // An uncommitted change in main stays there unless asked for.
    p.write("shared.txt", "one\ntwo\nthree\nuncommitted\n");

    let created = ws_ok(&p.root, &["new", "f"]);
    assert!(created.contains(&format!("from feature at {feature_head}")), "{created}");
    assert!(created.contains("copied from .codebox/workspace-include: .env"), "{created}");
    let path = ws_path(&created);
    assert!(!path.starts_with(&p.root), "outside the project");
    assert_eq!(git(&p.root, &["rev-parse", "refs/codebox/workspaces/f"]), feature_head, "the base is kept from gc");
    assert_eq!(std::fs::read_to_string(path.join(".env")).unwrap(), "API_KEY=local-only\n");
    assert_eq!(std::fs::read_to_string(path.join("shared.txt")).unwrap(), "one\ntwo\nthree\n");
    let carried = ws_path(&ws_ok(&p.root, &["new", "g", "--carry", "--base", "main"]));
    assert_eq!(std::fs::read_to_string(carried.join("shared.txt")).unwrap(), "one\ntwo\nthree\nuncommitted\n");
    assert!(!carried.join("feature.txt").exists(), "g is based on main");
    // A tag as base: there is no branch to merge into, and merge says so instead of guessing.
    git(&p.root, &["tag", "v1", "main"]);
    let tagged = ws_ok(&p.root, &["new", "t", "--base", "v1"]);
    assert!(tagged.contains("from v1 at"), "{tagged}");
    let (merged, text) = ws(&p.root, &["merge", "t"]);
    assert!(!merged && text.contains("not a branch"), "{text}");
    ws_ok(&p.root, &["rm", "t"]);

    // Over stdio, bound by the command line; PORT is the workspace's own.
    let mut c = tokio::process::Command::new(BIN);
    c.args(["serve", "--workspace", "f", "--root"]).arg(&p.root).stderr(std::process::Stdio::null());
    private_dirs(c.as_std_mut(), &p.root);
    use rmcp::ServiceExt;
    let f = ().serve(rmcp::transport::TokioChildProcess::new(c).unwrap()).await.unwrap();
    let st = ok(&f, "workspace_status", json!({})).await;
    assert!(st.contains("workspace f on codebox/f · based on feature"), "{st}");
    let env =
        sh_ok(&f, "echo port=$PORT; git branch --show-current; echo branches=$(git branch | wc -l); cat feature.txt")
            .await;
    assert!(env.contains("port=20000") && env.contains("codebox/f") && env.contains("on feature"), "{env}");
    assert!(env.contains("branches=1"), "only the workspace's own branch: {env}");
    let genv = ws_ok(&p.root, &["status", "g"]);
    assert!(genv.contains("sessions 0"), "{genv}");
    let list = ws_ok(&p.root, &["list"]);
    assert!(list.lines().any(|l| l.starts_with("f\tcodebox/f\tfeature\t0\t0\t0\t") && l.ends_with("\t1")), "{list}");

    // The base moves on in the main checkout: the agent is told, and catches up from inside its sandbox.
    p.write("later.txt", "later on feature\n");
    git(&p.root, &["add", "later.txt"]);
    git(&p.root, &["commit", "-q", "-m", "later"]);
    let moved = git(&p.root, &["rev-parse", "HEAD"]);
    ok(&f, "write_file", json!({"path": "mine.txt", "content": "mine\n"})).await;
    ok(&f, "git_commit", json!({"message": "mine"})).await;
    let st = ok(&f, "workspace_status", json!({})).await;
    assert!(st.contains("1 commit(s) ahead, 1 behind") && st.contains(&format!("`git rebase {moved}`")), "{st}");
    assert!(st.contains("rebasing onto it would not conflict"), "{st}");
    let id = "GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.org";
    assert!(sh_ok(&f, &format!("{id} git rebase -q {moved} && cat later.txt")).await.contains("later on feature"));
    assert!(ok(&f, "workspace_status", json!({})).await.contains("1 commit(s) ahead, 0 behind"));

    // rm refuses while there is uncommitted or untracked work, and names it.
    ok(&f, "write_file", json!({"path": "draft.txt", "content": "unsaved thought\n"})).await;
    f.cancel().await.unwrap();
    let (removed, text) = ws(&p.root, &["rm", "f"]);
    assert!(!removed && text.contains("draft.txt") && text.contains("--force"), "{text}");
    assert!(path.join("draft.txt").exists());
    let (removed, text) = ws(&p.root, &["rm", "g"]);
    assert!(!removed && text.contains("shared.txt"), "{text}");
    let gone = ws_ok(&p.root, &["rm", "f", "--force"]);
    assert!(gone.contains("draft.txt"), "force says what it deleted: {gone}");
    assert!(!path.exists());
    assert!(!git(&p.root, &["for-each-ref"]).contains("refs/codebox/workspaces/f"));
    assert!(!ws_ok(&p.root, &["list"]).contains("\nf\t"));
}

#[tokio::test]
async fn merge_modes_and_refusals_leave_main_consistent() {
    let p = repo("[workspaces]\nmax = 2\n");
    let path = ws_path(&ws_ok(&p.root, &["new", "m"]));
    let (made, text) = ws(&p.root, &["new", "x", "--base", "no-such-branch"]);
    assert!(!made && text.contains("not a branch, tag or commit"), "{text}");
    let (made, text) = ws(&p.root, &["new", "y", "--base=--upload-pack=touch /tmp/pwn"]);
    assert!(!made && text.contains("invalid base"), "{text}");
    let n = ws_path(&ws_ok(&p.root, &["new", "n"]));
    let (made, text) = ws(&p.root, &["new", "third"]);
    assert!(!made && text.contains("workspaces.max = 2"), "{text}");
    let (made, text) = ws(&p.root, &["new", "Bad/Name"]);
    assert!(!made && text.contains("invalid workspace name"), "{text}");

    // Work in m (as an agent's git_commit would), while main moves on elsewhere: no conflict.
    std::fs::write(path.join("m.txt"), "from m\n").unwrap();
    git(&path, &["add", "m.txt"]);
    git(&path, &["commit", "-q", "-m", "m work"]);
    p.write("main.txt", "from main\n");
    git(&p.root, &["add", "main.txt"]);
    git(&p.root, &["commit", "-q", "-m", "main work"]);
    let log = ws_ok(&p.root, &["log", "m"]);
    assert!(log.contains("m work") && !log.contains("main work"), "{log}");
    assert!(ws_ok(&p.root, &["diff", "m"]).contains("+from m"));

    // ff is impossible now; a dirty main checkout or another branch checked out refuses too, changing nothing.
    let (merged, text) = ws(&p.root, &["merge", "m", "--mode", "ff"]);
    assert!(!merged && text.contains("cannot fast-forward"), "{text}");
    p.write("shared.txt", "dirty\n");
    let (merged, text) = ws(&p.root, &["merge", "m", "--mode", "squash"]);
    assert!(!merged && text.contains("uncommitted changes") && text.contains("shared.txt"), "{text}");
    git(&p.root, &["checkout", "-q", "--", "shared.txt"]);
    git(&p.root, &["checkout", "-q", "-b", "other"]);
    let (merged, text) = ws(&p.root, &["merge", "m"]);
    assert!(!merged && text.contains("check out \"main\""), "{text}");
    git(&p.root, &["checkout", "-q", "main"]);
    let before = git(&p.root, &["rev-parse", "HEAD"]);

    let merged = ws_ok(&p.root, &["merge", "m", "--mode", "squash"]);
    assert!(merged.contains("squashed"), "{merged}");
    assert_eq!(git(&p.root, &["rev-list", "--count", &format!("{before}..HEAD")]), "1");
    assert_eq!(git(&p.root, &["rev-list", "--parents", "-n", "1", "HEAD"]).split(' ').count(), 2, "one parent");
    assert_eq!(std::fs::read_to_string(p.root.join("m.txt")).unwrap(), "from m\n");
    assert_eq!(git(&p.root, &["status", "--porcelain"]), "");
    // Squashed work counts as merged: rm needs no --force.
    assert!(ws_ok(&p.root, &["rm", "m"]).contains("removed workspace m"));

    // A merge commit from n, whose commit main lacks.
    std::fs::write(n.join("n.txt"), "from n\n").unwrap();
    git(&n, &["add", "n.txt"]);
    git(&n, &["commit", "-q", "-m", "n work"]);
    let (removed, text) = ws(&p.root, &["rm", "n"]);
    assert!(!removed && text.contains("not merged"), "{text}");
    let merged = ws_ok(&p.root, &["merge", "n", "--mode", "merge"]);
    assert!(merged.contains("merge commit"), "{merged}");
    assert_eq!(git(&p.root, &["rev-list", "--parents", "-n", "1", "HEAD"]).split(' ').count(), 3, "two parents");
    assert!(ws_ok(&p.root, &["status", "n"]).contains("0 ahead"));
    let listed: serde_json::Value = serde_json::from_str(&ws_ok(&p.root, &["list", "--json"])).unwrap();
    assert_eq!(listed[0]["meta"]["name"], "n", "{listed}");
    assert_eq!(listed[0]["meta"]["base_branch"], "main");
    assert_eq!(listed[0]["ahead"], 0);
    assert!(listed[0]["disk_bytes"].as_u64().unwrap() > 0);

    // Work on another branch of the workspace, off its HEAD, is work too: rm refuses and names it.
    git(&n, &["checkout", "-q", "-b", "side"]);
    std::fs::write(n.join("side.txt"), "side\n").unwrap();
    git(&n, &["add", "side.txt"]);
    git(&n, &["commit", "-q", "-m", "side work"]);
    git(&n, &["checkout", "-q", "codebox/n"]);
    let (removed, text) = ws(&p.root, &["rm", "n"]);
    assert!(!removed && text.contains("side (1 commit(s))"), "{text}");
    git(&n, &["branch", "-q", "-D", "side"]);
    assert!(ws_ok(&p.root, &["rm", "n"]).contains("removed workspace n"));
}

#[tokio::test]
async fn the_setup_command_runs_confined_in_the_new_checkout_and_a_failure_keeps_nothing() {
    let p = repo("[workspaces]\nsetup = \"echo built > built.txt; echo port=$PORT; touch ../outside-setup\"\n");
    let created = ws_ok(&p.root, &["new", "s"]);
    let path = ws_path(&created);
    assert!(created.contains("setup ran:") && created.contains("port=20000"), "{created}");
    assert_eq!(std::fs::read_to_string(path.join("built.txt")).unwrap(), "built\n");
    assert!(!p.root.join("built.txt").exists());
    assert!(!path.parent().unwrap().join("outside-setup").exists(), "the setup saw only its checkout");

    let failing = p.root.parent().unwrap().join("failing.toml");
    std::fs::write(&failing, "[workspaces]\nsetup = \"echo half-done; exit 3\"\n").unwrap();
    let (made, text) = ws(&p.root, &["new", "t", "--config", failing.to_str().unwrap()]);
    assert!(!made && text.contains("half-done") && text.contains("was not kept"), "{text}");
    assert!(!path.parent().unwrap().join("t").exists());
    assert!(!ws_ok(&p.root, &["list"]).contains("\nt\t"));
}
