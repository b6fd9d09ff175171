//! Issue 2, workspace confinement: the file attacks F1–F7, F9 and F10 of ATTACKS.md through the real MCP tools.
//! Every refusal must name the workspace, and nothing of the canary outside may ever appear in a result.

use std::os::unix::fs::symlink;

use serde_json::json;

use crate::harness::*;

/// Asserts a refusal that says "outside the workspace" and leaks nothing.
async fn refused_outside(c: &Client, p: &Project, tool: &str, args: serde_json::Value) {
    let out = call(c, tool, args.clone()).await;
    assert!(out.is_error, "{tool} {args} was not refused: {}", out.text);
    assert!(out.text.contains("outside the workspace"), "{tool} {args}: unexpected message {}", out.text);
    assert!(!out.text.contains(CANARY));
    p.assert_canary_intact();
}

#[tokio::test]
async fn f1_dotdot_and_absolute_paths_outside_the_root() {
    let p = Project::new();
    p.write("a/keep.txt", "inside");
    let c = stdio(&p.root, &[]).await;
    for path in ["../outside/canary.txt", "/etc/passwd", "a/../../outside/canary.txt", "../../../../../../etc/passwd"] {
        refused_outside(&c, &p, "read_file", json!({ "path": path })).await;
    }
    refused_outside(&c, &p, "read_file", json!({ "path": p.canary() })).await;
    refused_outside(&c, &p, "list_directory", json!({ "path": ".." })).await;
    refused_outside(&c, &p, "find_files", json!({ "pattern": "*.txt", "path": "../outside" })).await;
    // `..` that stays inside is fine.
    assert!(ok(&c, "read_file", json!({"path": "a/../a/keep.txt"})).await.contains("inside"));
}

#[tokio::test]
async fn f2_sibling_directory_sharing_the_roots_prefix() {
    let p = Project::new();
    let evil = p.root.parent().unwrap().join("proj-evil");
    std::fs::create_dir_all(&evil).unwrap();
    std::fs::write(evil.join("x"), CANARY).unwrap();
    let c = stdio(&p.root, &[]).await;
    refused_outside(&c, &p, "read_file", json!({ "path": evil.join("x") })).await;
    refused_outside(&c, &p, "list_directory", json!({ "path": evil })).await;
}

#[tokio::test]
async fn f3_f4_f5_symlinks_leading_out() {
    let p = Project::new();
    symlink(p.canary(), p.root.join("abs_link")).unwrap();
    symlink("../outside/canary.txt", p.root.join("rel_link")).unwrap();
    symlink("/tmp/codebox-pwn-never-created", p.root.join("dangling")).unwrap();
    symlink(&p.outside, p.root.join("dir_link")).unwrap();
    symlink("/etc", p.root.join("etc")).unwrap();
    p.write("real/file.txt", "inside");
    symlink("real/file.txt", p.root.join("inside_link")).unwrap();
    let c = stdio(&p.root, &[]).await;
    for path in ["abs_link", "rel_link", "dangling", "dir_link/canary.txt", "etc/passwd"] {
        refused_outside(&c, &p, "read_file", json!({ "path": path })).await;
    }
    refused_outside(&c, &p, "list_directory", json!({ "path": "dir_link" })).await;
    refused_outside(&c, &p, "find_files", json!({ "pattern": "*", "path": "etc" })).await;
    // A symlink that stays inside works.
    assert!(ok(&c, "read_file", json!({"path": "inside_link"})).await.contains("inside"));
    // Walks never follow a link out: the listing shows the links, not the canary behind them.
    let listing = ok(&c, "list_directory", json!({"depth": 3})).await;
    assert!(listing.contains("dir_link ->"), "{listing}");
    assert!(!listing.contains("    canary.txt"), "{listing}");
    let found = ok(&c, "find_files", json!({"pattern": "canary*"})).await;
    assert!(found.contains("no files match"), "{found}");
    assert!(!std::path::Path::new("/tmp/codebox-pwn-never-created").exists());
}

#[tokio::test]
async fn f6_swapping_a_directory_for_a_symlink_during_reads() {
    let p = Project::new();
    p.write("d/canary.txt", "inside");
    let root = p.root.clone();
    let outside = p.outside.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    // Flip `d` between the real directory and a symlink to the outside directory as fast as possible.
    let racer = std::thread::spawn(move || {
        symlink(&outside, root.join("evil")).unwrap();
        let mut swaps = 0u64;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            std::fs::rename(root.join("d"), root.join("d_real")).unwrap();
            std::fs::rename(root.join("evil"), root.join("d")).unwrap();
            std::fs::rename(root.join("d"), root.join("evil")).unwrap();
            std::fs::rename(root.join("d_real"), root.join("d")).unwrap();
            swaps += 1;
        }
        swaps
    });
    let c = stdio(&p.root, &[]).await;
    let (mut inside, mut refused) = (0, 0);
    for _ in 0..400 {
        let out = call(&c, "read_file", json!({"path": "d/canary.txt"})).await;
        assert!(!out.text.contains(CANARY), "read through the swapped symlink: {}", out.text);
        if out.is_error { refused += 1 } else { inside += 1 }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let swaps = racer.join().unwrap();
    assert!(swaps > 0);
    assert_eq!(inside + refused, 400);
    p.assert_canary_intact();
}

#[tokio::test]
async fn f7_proc_magic_links() {
    let p = Project::new();
    symlink("/proc/self/root/etc/passwd", p.root.join("m_root")).unwrap();
    symlink("/proc/self/cwd", p.root.join("m_cwd")).unwrap();
    symlink("/proc/self/fd/0", p.root.join("m_fd")).unwrap();
    let c = stdio(&p.root, &[]).await;
    for path in
        ["/proc/self/root/etc/passwd", "/proc/self/fd/0", "/proc/self/cwd/../outside/canary.txt", "m_root", "m_fd"]
    {
        refused_outside(&c, &p, "read_file", json!({ "path": path })).await;
    }
    refused_outside(&c, &p, "read_file", json!({ "path": "m_cwd/../outside/canary.txt" })).await;
    refused_outside(&c, &p, "list_directory", json!({ "path": "m_cwd" })).await;
}

#[tokio::test]
async fn f9_fifo_device_and_socket_are_refused_at_once() {
    let p = Project::new();
    nix::unistd::mkfifo(&p.root.join("pipe"), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let _sock = std::os::unix::net::UnixListener::bind(p.root.join("sock")).unwrap();
    symlink("/dev/zero", p.root.join("zero")).unwrap();
    let c = stdio(&p.root, &[]).await;
    // The hang guard only bounds a failure; the assertion is on the message.
    let msg = tokio::time::timeout(std::time::Duration::from_secs(30), err(&c, "read_file", json!({"path": "pipe"})))
        .await
        .expect("reading a FIFO must not wait for a writer");
    assert!(msg.contains("is a FIFO"), "{msg}");
    assert!(refused(&c, "read_file", json!({"path": "sock"}), "wrong_file_type").await.contains("is a socket"));
    // /dev/zero is outside the root, so the symlink is refused before the type check.
    assert!(
        refused(&c, "read_file", json!({"path": "zero"}), "outside_workspace").await.contains("outside the workspace")
    );
}

#[tokio::test]
async fn f10_odd_bytes_and_normalisation() {
    let p = Project::new();
    p.write("dir/file.txt", "plain");
    p.write("dir/new\nline.txt", "newline-name");
    p.write("dir/trail ", "trailing-space-name");
    let c = stdio(&p.root, &[]).await;
    assert!(err(&c, "read_file", json!({"path": "dir/file.txt\u{0}.png"})).await.contains("NUL"));
    assert!(ok(&c, "read_file", json!({"path": "././././dir/./file.txt"})).await.contains("plain"));
    assert!(ok(&c, "read_file", json!({"path": "dir/new\nline.txt"})).await.contains("newline-name"));
    assert!(ok(&c, "read_file", json!({"path": "dir/trail "})).await.contains("trailing-space-name"));
    // The error quotes the path, so a model can see the stray trailing space or wrong case.
    let msg = err(&c, "read_file", json!({"path": "dir/file.txt "})).await;
    assert!(msg.contains("\"dir/file.txt \" does not exist"), "{msg}");
    assert!(refused(&c, "read_file", json!({"path": "DIR/FILE.TXT"}), "not_found").await.contains("does not exist"));
    assert!(err(&c, "read_file", json!({"path": ""})).await.contains("directory"));
}
