//! Issue 4, edits that land exactly or not at all: write_file, edit_file, undo_edit through the real server, the
//! syntax gate on the failure that motivates it, the file attacks F3–F6, F8, F11, F12 on writes, and a fault test
//! that kills the writer mid-write.

use std::os::unix::fs::{PermissionsExt, symlink};

use serde_json::json;

use crate::harness::*;

fn version(text: &str) -> String {
    text.split("version ").nth(1).unwrap()[..12].to_string()
}

#[tokio::test]
async fn write_file_creates_parents_and_returns_the_version_read_file_reports() {
    let p = Project::new();
    let c = stdio(&p.root, &[]).await;
    let out = ok(&c, "write_file", json!({"path": "a/b/c.txt", "content": "one\ntwo\n"})).await;
    assert!(out.starts_with("created a/b/c.txt: 2 lines · version "), "{out}");
    assert_eq!(std::fs::read_to_string(p.root.join("a/b/c.txt")).unwrap(), "one\ntwo\n");
    let read = ok(&c, "read_file", json!({"path": "a/b/c.txt"})).await;
    assert_eq!(version(&read), version(&out));
    let again = ok(&c, "write_file", json!({"path": "a/b/c.txt", "content": "one\ntwo\n"})).await;
    assert!(again.contains("nothing written"), "{again}");
    let upd =
        ok(&c, "write_file", json!({"path": "a/b/c.txt", "content": "one\n2\n", "expected_version": version(&out)}))
            .await;
    assert!(upd.contains("-two\n+2"), "the result carries the diff: {upd}");
    let args = json!({"path": "a/b/c.txt", "content": "x\n", "expected_version": version(&out)});
    let (kind, stale) = refusal(&c, "write_file", args, "stale_version").await;
    assert_eq!(kind["expected"], version(&out));
    assert_eq!(kind["actual"], version(&upd));
    assert!(stale.contains("read it again"), "{stale}");
    assert_eq!(std::fs::read_to_string(p.root.join("a/b/c.txt")).unwrap(), "one\n2\n");
}

#[tokio::test]
async fn edit_file_matches_exactly_or_explains() {
    let p = Project::new();
    p.write("m.rs", "fn helper() {}\n\nfn main() {\n    helper(1);\n}\n\nfn helper() {}\n");
    let c = stdio(&p.root, &[]).await;
    let (kind, msg) = refusal(
        &c,
        "edit_file",
        json!({"path": "m.rs", "edits": [{"old_string": "fn helper() {}", "new_string": "fn helper2() {}"}]}),
        "ambiguous",
    )
    .await;
    assert_eq!(kind["candidates"], json!(["line 1", "line 7"]));
    assert!(msg.contains("replace_all"), "{msg}");
    let args = json!({"path": "m.rs", "edits": [{"old_string": "    helper(2);", "new_string": "x"}]});
    let (kind, msg) = refusal(&c, "edit_file", args, "no_match").await;
    assert_eq!((kind["edit"].as_u64(), kind["closest_line"].as_u64()), (Some(1), Some(4)));
    assert!(msg.contains("Closest region") && msg.contains("4 |     helper(1);"), "{msg}");
    // All or nothing: the second edit fails, so the first is not applied either.
    let before = std::fs::read_to_string(p.root.join("m.rs")).unwrap();
    let msg = err(
        &c,
        "edit_file",
        json!({"path": "m.rs", "edits": [
        {"old_string": "helper(1)", "new_string": "helper(2)"},
        {"old_string": "no such text", "new_string": "y"}]}),
    )
    .await;
    assert!(msg.starts_with("edit 2 of 2"), "{msg}");
    assert_eq!(std::fs::read_to_string(p.root.join("m.rs")).unwrap(), before);
    let out = ok(&c, "edit_file", json!({"path": "m.rs", "edits": [{"old_string": "fn helper() {}", "new_string": "fn helper() { }", "replace_all": true}]})).await;
    assert!(out.contains("2 replacement(s)"), "{out}");
}

#[tokio::test]
async fn edit_file_fallbacks_say_which_matched_and_rebase_indentation() {
    let p = Project::new();
    p.write("s.py", "class A:\n    def f(self):\n        x = \u{201C}hi\u{201D}   \n        return x\n");
    let c = stdio(&p.root, &[]).await;
    // The model sent the body at column 0 with straight quotes: matched ignoring indentation and punctuation,
    // and new_string is re-indented to the file's 8 columns.
    let out = ok(&c, "edit_file", json!({"path": "s.py", "edits": [{"old_string": "x = \"hi\"\nreturn x", "new_string": "x = \"hello\"\nreturn x.upper()"}]})).await;
    assert!(out.contains("matched ignoring indentation and Unicode punctuation") && out.contains("+8"), "{out}");
    assert_eq!(
        std::fs::read_to_string(p.root.join("s.py")).unwrap(),
        "class A:\n    def f(self):\n        x = \"hello\"\n        return x.upper()\n"
    );
}

#[tokio::test]
async fn line_endings_bom_final_newline_and_permissions_are_preserved() {
    let p = Project::new();
    p.write("crlf.txt", "a\r\nb\r\nc\r\n");
    p.write("bom.txt", "\u{FEFF}alpha\nbeta");
    let script = p.write("run.sh", "#!/bin/sh\necho one\n");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o750)).unwrap();
    let c = stdio(&p.root, &[]).await;
    ok(&c, "edit_file", json!({"path": "crlf.txt", "edits": [{"old_string": "b\n", "new_string": "B\nb2\n"}]})).await;
    assert_eq!(std::fs::read(p.root.join("crlf.txt")).unwrap(), b"a\r\nB\r\nb2\r\nc\r\n");
    ok(&c, "edit_file", json!({"path": "bom.txt", "edits": [{"old_string": "beta", "new_string": "gamma"}]})).await;
    assert_eq!(std::fs::read_to_string(p.root.join("bom.txt")).unwrap(), "\u{FEFF}alpha\ngamma");
    ok(&c, "edit_file", json!({"path": "run.sh", "edits": [{"old_string": "echo one", "new_string": "echo two"}]}))
        .await;
    assert_eq!(std::fs::metadata(&script).unwrap().permissions().mode() & 0o7777, 0o750);
    let latin = p.write("latin.txt", b"caf\xe9\n");
    let msg =
        err(&c, "edit_file", json!({"path": "latin.txt", "edits": [{"old_string": "caf", "new_string": "x"}]})).await;
    assert!(msg.contains("not valid UTF-8"), "{msg}");
    assert_eq!(std::fs::read(latin).unwrap(), b"caf\xe9\n");
}

#[tokio::test]
async fn undo_walks_back_the_chain_and_refuses_to_clobber_outside_changes() {
    let p = Project::new();
    p.write("u.txt", "v0\n");
    let c = stdio(&p.root, &[]).await;
    for i in 1..=3 {
        ok(&c, "write_file", json!({"path": "u.txt", "content": format!("v{i}\n")})).await;
    }
    for i in (0..3).rev() {
        let out = ok(&c, "undo_edit", json!({"path": "u.txt"})).await;
        assert!(out.contains(&format!("{i} earlier undo step(s) remain")), "{out}");
        assert_eq!(std::fs::read_to_string(p.root.join("u.txt")).unwrap(), format!("v{i}\n"));
    }
    assert!(refused(&c, "undo_edit", json!({"path": "u.txt"}), "not_found").await.contains("no codebox write"));
    ok(&c, "write_file", json!({"path": "fresh.txt", "content": "new\n"})).await;
    assert!(ok(&c, "undo_edit", json!({"path": "fresh.txt"})).await.contains("removed fresh.txt"));
    assert!(!p.root.join("fresh.txt").exists());
    ok(&c, "write_file", json!({"path": "u.txt", "content": "mine\n"})).await;
    p.write("u.txt", "the user's own change\n");
    let (kind, msg) = refusal(&c, "undo_edit", json!({"path": "u.txt"}), "undo_conflict").await;
    assert_eq!(kind["path"], "u.txt");
    assert!(msg.contains("changed after codebox's last write"), "{msg}");
    // The history survives a restart of the server.
    drop(c);
    p.write("u.txt", "mine\n");
    let c = stdio(&p.root, &[]).await;
    ok(&c, "undo_edit", json!({"path": "u.txt"})).await;
    assert_eq!(std::fs::read_to_string(p.root.join("u.txt")).unwrap(), "v0\n");
}

#[tokio::test]
async fn the_syntax_gate_refuses_flattened_python_and_allows_when_asked() {
    let p = Project::new();
    let src = "class User:\n    def __init__(self, first, last):\n        self.first = first\n        self.last = last\n\n    def full_name(self):\n        return self.first + \" \" + self.last\n";
    p.write("user.py", src);
    let c = stdio(&p.root, &[]).await;
    // The classic: the method travels through JSON and loses its indentation.
    let flattened = "def full_name(self):\nreturn f\"{self.first} {self.last}\"";
    let (kind, msg) = refusal(&c, "edit_file", json!({"path": "user.py", "edits": [{"old_string": "    def full_name(self):\n        return self.first + \" \" + self.last", "new_string": flattened}]}), "syntax_refused").await;
    assert_eq!((kind["path"].as_str(), kind["language"].as_str()), (Some("user.py"), Some("Python")));
    let message = "expected an indented block after `def full_name(self):` on line 6";
    assert_eq!(kind["errors"], json!([{"line": 7, "column": 1, "message": message}]));
    assert!(msg.contains("user.py:7:1"), "{msg}");
    assert!(msg.contains("allow_syntax_errors"), "{msg}");
    assert_eq!(std::fs::read_to_string(p.root.join("user.py")).unwrap(), src, "refused means untouched");
    let out = ok(&c, "edit_file", json!({"path": "user.py", "allow_syntax_errors": true, "edits": [{"old_string": "    def full_name(self):\n        return self.first + \" \" + self.last", "new_string": flattened}]})).await;
    assert!(out.contains("WRITTEN WITH SYNTAX ERRORS"), "{out}");
    // A Rust brace dropped, a JSON file left invalid: refused.
    p.write("lib.rs", "fn a() {\n    let x = 1;\n}\n");
    let args = json!({"path": "lib.rs", "edits": [{"old_string": "}\n", "new_string": "\n"}]});
    assert!(refused(&c, "edit_file", args, "syntax_refused").await.contains("Rust syntax error"));
    let args = json!({"path": "c.json", "content": "{\"a\": [1, 2}"});
    assert!(refused(&c, "write_file", args, "syntax_refused").await.contains("JSON"));
    assert!(!p.root.join("c.json").exists());
    // Already broken: an edit elsewhere that adds no new error is accepted.
    p.write("broken.py", "def ok():\n    return 1\n\ndef bad(:\n    pass\n");
    let out = ok(
        &c,
        "edit_file",
        json!({"path": "broken.py", "edits": [{"old_string": "return 1", "new_string": "return 2"}]}),
    )
    .await;
    assert!(out.contains("no new errors"), "{out}");
    // No grammar: written, and the result says it was not checked.
    assert!(ok(&c, "write_file", json!({"path": "notes.xyz", "content": "{{{"})).await.contains("not syntax-checked"));
}

/// A big file is read (which parses it in the background), then edited again and again: each check reparses from
/// the previous tree, and still refuses exactly what breaks the file, at the right line, and excuses errors that
/// were already there. Also after the file changed behind codebox's back (the cached tree is of the text before).
#[tokio::test]
async fn the_gate_on_a_big_file_read_then_edited_repeatedly() {
    let p = Project::new();
    let src: String =
        (0..3000).map(|i| format!("def f{i}(x):\n    if x > {i}:\n        return x\n    return {i}\n\n")).collect();
    p.write("big.py", &src);
    let c = stdio(&p.root, &[]).await;
    ok(&c, "read_file", json!({"path": "big.py", "limit": 10})).await;
    let edit = |old: &str, new: &str| json!({"path": "big.py", "edits": [{"old_string": old, "new_string": new}]});
    let out = ok(&c, "edit_file", edit("    return 1500\n", "    return 1500 + 1\n")).await;
    assert!(out.contains("syntax ok (Python)"), "{out}");
    // Line 7,502 is `    if x > 1500:`'s body; flattening it is refused there.
    let msg = refused(
        &c,
        "edit_file",
        edit("        return x\n    return 1500 + 1", "return x\n    return 1500 + 1"),
        "syntax_refused",
    )
    .await;
    assert!(msg.contains("big.py:7503:1") && msg.contains("expected an indented block"), "{msg}");
    let msg = refused(&c, "edit_file", edit("def f2999(x):", "def f2999(x:"), "syntax_refused").await;
    assert!(msg.contains("big.py:14996"), "{msg}");
    // Changed behind codebox's back: a syntax error near the top. An edit elsewhere is accepted (the error was
    // already there); one that breaks more is refused.
    let now = std::fs::read_to_string(p.root.join("big.py")).unwrap();
    p.write("big.py", now.replacen("def f3(x):", "def f3(x", 1));
    let out = ok(&c, "edit_file", edit("    return 2000\n", "    return 2001\n")).await;
    assert!(out.contains("no new errors"), "{out}");
    // With two errors in the file, tree-sitter's recovery may place the new one at the start of the enclosing
    // ERROR node, far above the edit: the refusal then also shows where the change is.
    let msg = refused(&c, "edit_file", edit("def f2500(x):", "def f2500(x:"), "syntax_refused").await;
    assert!(msg.contains("would introduce 1 Python syntax error"), "{msg}");
    assert!(msg.contains("the change itself is at line 12501:\n  12501 | def f2500(x:"), "{msg}");
    assert!(
        std::fs::read_to_string(p.root.join("big.py")).unwrap().contains("def f2500(x):\n"),
        "refused means untouched"
    );
}

#[tokio::test]
async fn f3_f4_f5_writes_through_symlinks_leading_out_are_refused() {
    let p = Project::new();
    symlink(p.canary(), p.root.join("x")).unwrap();
    let pwn = p.outside.join("pwn");
    symlink(&pwn, p.root.join("w")).unwrap();
    symlink(&p.outside, p.root.join("d")).unwrap();
    p.write("real.txt", "inside\n");
    symlink("real.txt", p.root.join("inner_link")).unwrap();
    let c = stdio(&p.root, &[]).await;
    for (path, tool) in [("x", "write_file"), ("w", "write_file"), ("d/new", "write_file"), ("x", "edit_file")] {
        let args = if tool == "write_file" {
            json!({"path": path, "content": "pwned"})
        } else {
            json!({"path": path, "edits": [{"old_string": "CANARY", "new_string": "pwned"}]})
        };
        let msg = refused(&c, tool, args, "outside_workspace").await;
        assert!(msg.contains("outside the workspace"), "{tool} {path}: {msg}");
    }
    p.assert_canary_intact();
    assert!(!pwn.exists() && !p.outside.join("new").exists());
    // A symlink that stays inside is written through to its target.
    ok(&c, "write_file", json!({"path": "inner_link", "content": "changed\n"})).await;
    assert_eq!(std::fs::read_to_string(p.root.join("real.txt")).unwrap(), "changed\n");
    assert!(std::fs::symlink_metadata(p.root.join("inner_link")).unwrap().file_type().is_symlink());
}

#[tokio::test]
async fn f6_swapping_the_parent_for_a_symlink_during_writes_never_writes_outside() {
    let p = Project::new();
    std::fs::create_dir_all(p.root.join("d")).unwrap();
    let root = p.root.clone();
    let outside = p.outside.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let racer = std::thread::spawn(move || {
        symlink(&outside, root.join("evil")).unwrap();
        // The writer may recreate `d` as a directory while it is swapped out, so a rename can fail: keep going.
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = std::fs::rename(root.join("d"), root.join("d_real"));
            let _ = std::fs::rename(root.join("evil"), root.join("d"));
            let _ = std::fs::rename(root.join("d"), root.join("evil"));
            let _ = std::fs::rename(root.join("d_real"), root.join("d"));
            if std::fs::symlink_metadata(root.join("evil")).is_err()
                && std::fs::symlink_metadata(root.join("d")).is_ok()
            {
                let _ = symlink(&outside, root.join("evil"));
            }
        }
    });
    let c = stdio(&p.root, &[]).await;
    for i in 0..300 {
        let _ = call(&c, "write_file", json!({"path": "d/canary.txt", "content": format!("w{i}")})).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    racer.join().unwrap();
    p.assert_canary_intact();
    let names: Vec<_> = std::fs::read_dir(&p.outside).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("canary.txt")], "nothing new appeared outside");
}

#[tokio::test]
async fn f8_hard_links_are_refused() {
    let p = Project::new();
    std::fs::hard_link(p.canary(), p.root.join("f")).unwrap();
    let c = stdio(&p.root, &[]).await;
    let msg =
        err(&c, "edit_file", json!({"path": "f", "edits": [{"old_string": "CANARY", "new_string": "pwned"}]})).await;
    assert!(msg.contains("hard links"), "{msg}");
    assert!(err(&c, "write_file", json!({"path": "f", "content": "pwned"})).await.contains("hard links"));
    p.assert_canary_intact();
}

#[tokio::test]
async fn f11_f12_git_internals_and_protected_paths_are_refused() {
    let p = Project::new();
    p.write(".git/config", "[core]\n");
    p.write("codebox.toml", "[sandbox]\nprotected = [\".git/hooks\", \".git/config\", \"secrets\"]\n");
    p.write("decoy/hooks/.keep", "");
    let c = stdio(&p.root, &[]).await;
    for path in [".git/hooks/pre-commit", ".git/config", ".git/objects/ab/cd", "secrets/key", "sub/.git/hooks/x"] {
        let msg = err(&c, "write_file", json!({"path": path, "content": "touch /tmp/pwn"})).await;
        assert!(msg.contains(".git") || msg.contains("protected"), "{path}: {msg}");
    }
    // F12: .git replaced by a symlink to a decoy; the write is refused on the path as given.
    std::fs::rename(p.root.join(".git"), p.root.join(".g")).unwrap();
    symlink("decoy", p.root.join(".git")).unwrap();
    assert!(err(&c, "write_file", json!({"path": ".git/hooks/pre-commit", "content": "x"})).await.contains(".git"));
    assert!(!p.root.join("decoy/hooks/pre-commit").exists());
}

#[tokio::test]
async fn writes_are_all_or_nothing_when_the_writer_is_killed() {
    let p = Project::new();
    let old: String = "old line\n".repeat(200_000);
    let new: String = "NEW LINE\n".repeat(200_000);
    let targets = ["t/a.txt", "t/b.txt", "t/c.txt"];
    for t in targets {
        p.write(t, &old);
    }
    // A tiny deterministic PRNG picks the kill moments; the delay injects a fault, it synchronises nothing.
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut kills = 0;
    for i in 0..200 {
        let marker = format!("fault-{}-{i}", std::process::id());
        let c = stdio_with(&p.root, &[], &[("CODEBOX_TEST_MARKER", &marker)], |_| {}).await;
        let pid = pid_with_env(&marker).unwrap();
        let target = targets[i % targets.len()];
        let content = if next() % 2 == 0 { &new } else { &old };
        let peer = c.peer().clone();
        let args = json!({"path": target, "content": content}).as_object().unwrap().clone();
        let pending = tokio::spawn(async move {
            peer.call_tool(rmcp::model::CallToolRequestParams::new("write_file").with_arguments(args)).await
        });
        tokio::time::sleep(std::time::Duration::from_micros(next() % 20_000)).await;
        if nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).is_ok() {
            kills += 1;
        }
        let _ = pending.await;
        drop(c);
        for t in targets {
            let now = std::fs::read_to_string(p.root.join(t)).unwrap();
            assert!(now == old || now == new, "{t} is partial after a kill ({} bytes)", now.len());
        }
    }
    assert!(kills > 0);
    // The next write in the directory sweeps whatever a killed writer left between link and rename.
    let c = stdio(&p.root, &[]).await;
    ok(&c, "write_file", json!({"path": "t/a.txt", "content": "final\n"})).await;
    let stray: Vec<_> = std::fs::read_dir(p.root.join("t"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !targets.iter().any(|t| t.ends_with(n.as_str())))
        .collect();
    assert!(stray.is_empty(), "stray files: {stray:?}");
}
