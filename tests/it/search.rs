//! Issue 5, search: every option, ignore-file semantics, binary skip, caps and their hints, the invalid-regex
//! message, cancellation of a long search, and F13 (a pattern starting with `-`).

use std::process::Stdio;

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ClientRequest, Request};
use rmcp::service::PeerRequestOptions;
use serde_json::json;

use crate::harness::*;

fn corpus() -> Project {
    let p = Project::new();
    p.write("src/main.rs", "fn main() {\n    let needle = 1;\n    println!(\"{needle}\");\n}\n");
    p.write("src/lib.rs", "pub fn Needle() {}\n// NEEDLE in a comment\n");
    p.write("py/app.py", "needle = 2\n");
    p.write("tests/t.rs", "fn needle_test() {}\n");
    p
}

#[tokio::test]
async fn content_mode_groups_by_file_with_line_numbers_and_context() {
    let p = corpus();
    let c = stdio(&p.root, &[]).await;
    let out = ok(&c, "search", json!({"pattern": "needle", "context": 1})).await;
    // Smart case: all lower case, so case-insensitive; files sorted by path.
    let files: Vec<&str> =
        out.lines().filter(|l| !l.is_empty() && !l.contains(':') && !l.contains('-') && !l.starts_with('[')).collect();
    assert_eq!(files, ["py/app.py", "src/lib.rs", "src/main.rs", "tests/t.rs"], "{out}");
    assert!(out.contains("src/main.rs\n1-fn main() {\n2:    let needle = 1;\n3:    println!"), "{out}");
    assert!(out.contains("[6 matches in 4 files]"), "{out}");
}

#[tokio::test]
async fn case_fixed_strings_multiline_glob_and_type() {
    let p = corpus();
    p.write("re.txt", "a.c\nabc\n");
    p.write("multi.txt", "start\nmiddle\nend\n");
    let c = stdio(&p.root, &[]).await;
    assert!(
        ok(&c, "search", json!({"pattern": "Needle"})).await.contains("[1 matches in 1 files]"),
        "smart case: an upper-case letter makes it sensitive"
    );
    assert!(
        ok(&c, "search", json!({"pattern": "needle", "case": "sensitive"})).await.contains("[4 matches in 3 files]")
    );
    assert!(ok(&c, "search", json!({"pattern": "NEEDLE", "case": "insensitive"})).await.contains("[6 matches"));
    let fixed = ok(&c, "search", json!({"pattern": "a.c", "fixed_strings": true, "path": "re.txt"})).await;
    assert!(fixed.contains("1:a.c") && !fixed.contains("abc"), "{fixed}");
    assert!(
        ok(&c, "search", json!({"pattern": "start\\nmiddle", "multiline": true})).await.contains("1:start\n2:middle")
    );
    let only_rs =
        ok(&c, "search", json!({"pattern": "needle", "glob": ["*.rs", "!tests/**"], "output": "files"})).await;
    assert_eq!(only_rs, "src/lib.rs\nsrc/main.rs\n[2 matching files]\n");
    assert!(
        ok(&c, "search", json!({"pattern": "needle", "glob": "*.py", "output": "files"}))
            .await
            .starts_with("py/app.py\n")
    );
    assert!(
        ok(&c, "search", json!({"pattern": "needle", "type": "py", "output": "files"}))
            .await
            .starts_with("py/app.py\n[1 ")
    );
    let counted = ok(&c, "search", json!({"pattern": "needle", "output": "count"})).await;
    assert!(
        counted.contains("src/main.rs:2\n") && counted.contains("[4 matching files, 6 matching lines]"),
        "{counted}"
    );
    assert!(
        refused(&c, "search", json!({"pattern": "x", "type": "nosuchlang"}), "invalid_argument")
            .await
            .contains("unrecognized file type")
    );
    assert!(
        refused(&c, "search", json!({"pattern": "x", "output": "lines"}), "invalid_argument")
            .await
            .contains("content, files, count")
    );
}

#[tokio::test]
async fn ignore_files_hidden_files_and_binaries() {
    let p = Project::new();
    p.write(".git/info/exclude", "excluded.txt\n");
    p.write(".gitignore", "build/\n*.log\n!keep.log\n");
    p.write("sub/.gitignore", "local.txt\n");
    p.write(".ignore", "!build/\n");
    p.write("build/out.txt", "needle in build\n");
    p.write("a.log", "needle in log\n");
    p.write("keep.log", "needle kept\n");
    p.write("sub/local.txt", "needle local\n");
    p.write("sub/other.txt", "needle other\n");
    p.write("excluded.txt", "needle excluded\n");
    p.write(".hidden/h.txt", "needle hidden\n");
    p.write("bin.dat", b"needle\0\x01\x02binary");
    let home = p.outside.join("home");
    std::fs::create_dir_all(home.join(".config/git")).unwrap();
    std::fs::write(home.join(".config/git/ignore"), "*.globalignored\n").unwrap();
    p.write("x.globalignored", "needle global\n");
    let c = stdio_with(&p.root, &[], &[("HOME", home.to_str().unwrap())], |_| {}).await;
    let found = ok(&c, "search", json!({"pattern": "needle", "output": "files"})).await;
    // .ignore's negation re-includes build/ over .gitignore; !keep.log re-includes one log; a nested .gitignore
    // applies below it; .git/info/exclude and the global excludes apply; hidden and binary files are skipped.
    assert_eq!(found, "build/out.txt\nkeep.log\nsub/other.txt\n[3 matching files]\n");
    let all = ok(
        &c,
        "search",
        json!({"pattern": "needle", "output": "files", "include_hidden": true, "include_ignored": true}),
    )
    .await;
    for f in [".hidden/h.txt", "a.log", "sub/local.txt", "excluded.txt", "x.globalignored"] {
        assert!(all.contains(f), "{f}: {all}");
    }
    assert!(!all.contains("bin.dat") && !all.contains(".git/"), "{all}");
}

#[tokio::test]
async fn caps_say_how_many_more_and_how_to_narrow() {
    let p = Project::new();
    for i in 0..30 {
        p.write(&format!("f{i:02}.txt"), "hit\n".repeat(50));
    }
    p.write("long.txt", format!("{}hit{}\n", "x".repeat(5000), "y".repeat(5000)));
    let c = stdio(&p.root, &[]).await;
    let out = ok(&c, "search", json!({"pattern": "hit"})).await;
    assert!(
        out.contains("[1501 matches in 31 files; 100 shown (files by path, at most 20 per file)"),
        "{}",
        &out[out.len() - 300..]
    );
    assert!(out.contains("… 30 more matches in this file") && out.contains("output=\"count\""), "{out}");
    let files = ok(&c, "search", json!({"pattern": "hit", "output": "files", "max_results": 5})).await;
    assert!(
        files.contains("[31 matching files; the first 5 by path shown. Narrow with path, glob or type]"),
        "{files}"
    );
    let long = ok(&c, "search", json!({"pattern": "hit", "path": "long.txt"})).await;
    assert!(long.contains("…[4900 chars]") && long.contains("hit") && long.len() < 1000, "{long}");
}

#[tokio::test]
async fn invalid_regex_names_the_position_and_f13_dash_patterns_are_plain_patterns() {
    let p = Project::new();
    p.write("opts.txt", "--pre=sh\n-e foo\nplain\n");
    let c = stdio(&p.root, &[]).await;
    let msg = refused(&c, "search", json!({"pattern": "foo(bar"}), "invalid_argument").await;
    assert!(msg.contains("invalid pattern") && msg.contains("unclosed group") && msg.contains('^'), "{msg}");
    let out = ok(&c, "search", json!({"pattern": "--pre=sh"})).await;
    assert!(out.contains("1:--pre=sh") && out.contains("[1 matches in 1 files]"), "{out}");
    assert!(ok(&c, "search", json!({"pattern": "-e foo"})).await.contains("2:-e foo"));
    assert!(
        refused(&c, "search", json!({"pattern": "x", "path": "-rf"}), "not_found").await.contains("does not exist")
    );
}

#[tokio::test]
async fn symlinks_leading_out_are_not_followed() {
    let p = Project::new();
    std::os::unix::fs::symlink(&p.outside, p.root.join("out")).unwrap();
    p.write("in.txt", "CANARY-7f3a9c inside copy\n");
    let c = stdio(&p.root, &[]).await;
    let out = ok(&c, "search", json!({"pattern": "CANARY-7f3a9c", "output": "files"})).await;
    assert_eq!(out, "in.txt\n[1 matching files]\n");
    assert!(
        refused(&c, "search", json!({"pattern": "x", "path": "out"}), "outside_workspace")
            .await
            .contains("outside the workspace")
    );
}

#[tokio::test]
async fn a_long_search_stops_when_cancelled() {
    let p = Project::new();
    // 40 GB to read, on 10 MB of disk: hard links to one file. Uncancelled, this takes many minutes.
    let body = "no match on this line, just text to read through\n".repeat(200_000);
    let first = p.write("corpus/f0.txt", &body);
    for i in 1..4000 {
        std::fs::hard_link(&first, p.root.join(format!("corpus/f{i}.txt"))).unwrap();
    }
    let mut child = tokio::process::Command::new(BIN)
        .args(["serve", "--root"])
        .arg(&p.root)
        .env("XDG_STATE_HOME", p.outside.join("state"))
        .env("TMPDIR", &p.outside)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let transport = (child.stdout.take().unwrap(), child.stdin.take().unwrap());
    let client = ().serve(transport).await.unwrap();
    let args = json!({"pattern": "zzz-never-there-zzz"}).as_object().unwrap().clone();
    let req = ClientRequest::CallToolRequest(Request::new(CallToolRequestParams::new("search").with_arguments(args)));
    let handle = client.peer().send_cancellable_request(req, PeerRequestOptions::no_options()).await.unwrap();
    // The server answers other calls while the search runs, and the cancellation reaches the search.
    let hello = p.write("hello.txt", "hi\n");
    let r = client
        .peer()
        .call_tool(
            CallToolRequestParams::new("read_file").with_arguments(json!({"path": hello}).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(false));
    handle.cancel(Some("test".into())).await.unwrap();
    // A server exits only once its blocking work is done: if the search ignored the cancellation, this would
    // wait for 40 GB to be read. The guard only bounds a failure.
    drop(client);
    let status = tokio::time::timeout(std::time::Duration::from_secs(120), child.wait()).await;
    assert!(status.is_ok(), "the server did not exit: the cancelled search kept running");
}
