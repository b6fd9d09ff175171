//! Issue 14, apply_patch: scenarios in the style of Codex's apply-patch fixtures (add, delete, move, multi-hunk,
//! end of file, Unicode punctuation, lenient markers and heredoc, unified diff), plus what Codex does not do:
//! all files or none (a failing hunk after a good file, a syntax refusal, a stale file), and one undo step for
//! every file a patch changed.

use serde_json::json;

use crate::harness::*;

fn read(p: &Project, rel: &str) -> Option<String> {
    std::fs::read_to_string(p.root.join(rel)).ok()
}

async fn patch(c: &Client, text: &str) -> ToolOut {
    call(c, "apply_patch", json!({ "patch": text })).await
}

#[tokio::test]
async fn add_delete_move_and_update_in_one_patch() {
    let p = Project::new();
    p.write("modify.txt", "line1\nline2\n");
    p.write("delete.txt", "obsolete\n");
    p.write("old/name.txt", "old content\n");
    let c = stdio(&p.root, &[]).await;
    let out = patch(
        &c,
        "*** Begin Patch\n*** Add File: nested/new.txt\n+created\n*** Delete File: delete.txt\n*** Update File: modify.txt\n@@\n-line2\n+changed\n*** Update File: old/name.txt\n*** Move to: renamed/dir/name.txt\n@@\n-old content\n+new content\n*** End Patch\n",
    )
    .await;
    assert!(!out.is_error, "{}", out.text);
    assert_eq!(read(&p, "nested/new.txt").as_deref(), Some("created\n"));
    assert_eq!(read(&p, "delete.txt"), None);
    assert_eq!(read(&p, "modify.txt").as_deref(), Some("line1\nchanged\n"));
    assert_eq!(read(&p, "old/name.txt"), None);
    assert_eq!(read(&p, "renamed/dir/name.txt").as_deref(), Some("new content\n"));
    // Every file and its new version, for a program driving the loop.
    let files = out.structured.as_ref().expect("structuredContent")["files"].as_array().unwrap().clone();
    let action = |path: &str| files.iter().find(|f| f["path"] == json!(path)).map(|f| f["action"].clone());
    assert_eq!(action("nested/new.txt"), Some(json!("added")), "{files:?}");
    assert_eq!(action("delete.txt"), Some(json!("deleted")));
    assert_eq!(action("old/name.txt"), Some(json!("deleted")));
    assert_eq!(action("renamed/dir/name.txt"), Some(json!("added")));
    let v = files.iter().find(|f| f["path"] == json!("modify.txt")).unwrap()["version"].clone();
    let read_back = call(&c, "read_file", json!({"path": "modify.txt"})).await;
    assert_eq!(read_back.structured.unwrap()["version"], v, "the version a patch returns is the one read_file sees");

    // One undo step puts every file back: the added removed, the deleted and moved restored.
    let undo = call(&c, "undo_edit", json!({"path": "modify.txt"})).await;
    assert!(!undo.is_error && undo.text.contains("undid one apply_patch over 5 files"), "{}", undo.text);
    let undone = undo.structured.expect("undo_edit has structuredContent")["files"].as_array().unwrap().len();
    assert_eq!(undone, 5, "every file the patch touched is reported");
    let undo = undo.text;
    assert_eq!(read(&p, "nested/new.txt"), None, "{undo}");
    assert_eq!(read(&p, "delete.txt").as_deref(), Some("obsolete\n"));
    assert_eq!(read(&p, "modify.txt").as_deref(), Some("line1\nline2\n"));
    assert_eq!(read(&p, "old/name.txt").as_deref(), Some("old content\n"));
    assert_eq!(read(&p, "renamed/dir/name.txt"), None);
    let again = refused(&c, "undo_edit", json!({"path": "modify.txt"}), "not_found").await;
    assert!(again.contains("no codebox write"), "{again}");
}

#[tokio::test]
async fn hunks_context_end_of_file_unicode_and_lenient_markers() {
    let p = Project::new();
    p.write("multi.txt", "a\nb\nc\nd\ne\nf\ng\nh\n");
    p.write("tail.txt", "x\nend\nx\nend\n");
    p.write("u.py", "def greet():\n    return \"hello\u{2014}world\"\n");
    let c = stdio(&p.root, &[]).await;
    // Two hunks, the second located by its `@@` context line; padded markers; a heredoc wrapper.
    let out = patch(
        &c,
        "<<'EOF'\n *** Begin Patch \n*** Update File: multi.txt\n@@\n a\n-b\n+B\n c\n@@ f\n-g\n+G\n *** End Patch\nEOF\n",
    )
    .await;
    assert!(!out.is_error, "{}", out.text);
    assert_eq!(read(&p, "multi.txt").as_deref(), Some("a\nB\nc\nd\ne\nf\nG\nh\n"));
    // `*** End of File`: the last `end`, not the first.
    ok(
        &c,
        "apply_patch",
        json!({"patch": "*** Begin Patch\n*** Update File: tail.txt\n@@\n-end\n+END\n*** End of File\n*** End Patch"}),
    )
    .await;
    assert_eq!(read(&p, "tail.txt").as_deref(), Some("x\nend\nx\nEND\n"));
    // The model typed an ASCII hyphen where the file has an em dash: matched by the punctuation rung.
    ok(&c, "apply_patch", json!({"patch": "*** Begin Patch\n*** Update File: u.py\n@@ def greet():\n-    return \"hello-world\"\n+    return \"hi\"\n*** End Patch"})).await;
    assert_eq!(read(&p, "u.py").as_deref(), Some("def greet():\n    return \"hi\"\n"));
    // A unified diff works too; its line numbers only choose among matches.
    ok(&c, "apply_patch", json!({"patch": "--- a/multi.txt\n+++ b/multi.txt\n@@ -4,1 +4,1 @@\n-d\n+D\n"})).await;
    assert_eq!(read(&p, "multi.txt").as_deref(), Some("a\nB\nc\nD\ne\nf\nG\nh\n"));
}

#[tokio::test]
async fn a_failure_after_a_good_file_leaves_every_file_untouched() {
    let p = Project::new();
    p.write("modify.txt", "one\ntwo\nthree\n");
    p.write("keep.txt", "keep\n");
    let c = stdio(&p.root, &[]).await;
    // Codex's fixture 015 leaves created.txt behind; codebox changes nothing.
    let msg = err(
        &c,
        "apply_patch",
        json!({"patch": "*** Begin Patch\n*** Add File: created.txt\n+hello\n*** Delete File: keep.txt\n*** Update File: modify.txt\n@@\n one\n-TWO WRONG\n+2\n*** End Patch"}),
    )
    .await;
    assert!(msg.contains("modify.txt") && msg.contains("hunk 1 of 1"), "names the file and the hunk: {msg}");
    assert!(msg.contains("Closest lines") && msg.contains("two"), "shows the nearest lines: {msg}");
    assert!(msg.contains("Nothing was changed"), "{msg}");
    assert_eq!(read(&p, "created.txt"), None);
    assert_eq!(read(&p, "keep.txt").as_deref(), Some("keep\n"));
    assert_eq!(read(&p, "modify.txt").as_deref(), Some("one\ntwo\nthree\n"));

    // A file that does not exist, an empty patch, a malformed line, a missing end: refused, nothing written.
    for (bad, needle) in [
        (
            "*** Begin Patch\n*** Add File: a.txt\n+a\n*** Update File: missing.txt\n@@\n-x\n+y\n*** End Patch",
            "does not exist",
        ),
        ("*** Begin Patch\n*** Add File: a.txt\n+a\n*** Delete File: missing.txt\n*** End Patch", "does not exist"),
        ("*** Begin Patch\n*** End Patch", "changes no file"),
        (
            "*** Begin Patch\n*** Add File: a.txt\n+a\n*** Update File: modify.txt\n@@\nno prefix here\n*** End Patch",
            "patch line 6",
        ),
        ("*** Begin Patch\n*** Add File: a.txt\n+a\n", "End Patch"),
        ("*** Begin Patch\n*** Frobnicate File: a.txt\n*** End Patch", "Update File"),
        ("not a patch at all", "not a patch"),
    ] {
        let msg = err(&c, "apply_patch", json!({ "patch": bad })).await;
        assert!(msg.contains(needle), "{bad:?}: {msg}");
        assert_eq!(read(&p, "a.txt"), None, "{bad:?} left a file behind");
    }
}

#[tokio::test]
async fn a_syntax_refusal_or_a_stale_file_refuses_the_whole_patch() {
    let p = Project::new();
    p.write("a.py", "def a():\n    return 1\n");
    p.write("b.py", "def b():\n    return 2\n");
    let c = stdio(&p.root, &[]).await;
    let both = "*** Begin Patch\n*** Update File: a.py\n@@\n-    return 1\n+    return 10\n*** Update File: b.py\n@@\n-    return 2\n+    return (2\n*** End Patch";
    let msg = refused(&c, "apply_patch", json!({ "patch": both }), "syntax_refused").await;
    assert!(msg.contains("b.py") && msg.contains("syntax"), "{msg}");
    assert_eq!(read(&p, "a.py").as_deref(), Some("def a():\n    return 1\n"), "the good file is untouched too");

    // expected_versions: a file changed since it was read refuses the patch.
    let v = call(&c, "read_file", json!({"path": "a.py"})).await.structured.unwrap()["version"].clone();
    p.write("a.py", "def a():\n    return 1  # edited by someone else\n");
    let good = "*** Begin Patch\n*** Update File: a.py\n@@\n def a():\n+    pass\n*** Update File: b.py\n@@\n-    return 2\n+    return 3\n*** End Patch";
    let args = json!({"patch": good, "expected_versions": {"a.py": v.clone()}});
    let (kind, msg) = refusal(&c, "apply_patch", args, "stale_version").await;
    assert_eq!((&kind["path"], &kind["expected"]), (&json!("a.py"), &v));
    assert!(kind["actual"].is_string() && kind["actual"] != v, "{kind}");
    assert!(msg.contains("a.py") && msg.contains("changed since version"), "{msg}");
    assert_eq!(read(&p, "b.py").as_deref(), Some("def b():\n    return 2\n"));
}

#[tokio::test]
async fn a_later_write_to_one_file_blocks_undoing_the_whole_patch() {
    let p = Project::new();
    p.write("a.txt", "a\n");
    p.write("b.txt", "b\n");
    let c = stdio(&p.root, &[]).await;
    ok(&c, "apply_patch", json!({"patch": "*** Begin Patch\n*** Update File: a.txt\n-a\n+A\n*** Update File: b.txt\n-b\n+B\n*** End Patch"})).await;
    ok(&c, "edit_file", json!({"path": "b.txt", "edits": [{"old_string": "B", "new_string": "BB"}]})).await;
    let msg = refused(&c, "undo_edit", json!({"path": "a.txt"}), "undo_conflict").await;
    assert!(msg.contains("b.txt") && msg.contains("written again"), "{msg}");
    assert_eq!(read(&p, "a.txt").as_deref(), Some("A\n"), "nothing undone");
    ok(&c, "undo_edit", json!({"path": "b.txt"})).await;
    let text = ok(&c, "undo_edit", json!({"path": "a.txt"})).await;
    assert!(text.contains("undid one apply_patch over 2 files"), "{text}");
    assert_eq!((read(&p, "a.txt").unwrap(), read(&p, "b.txt").unwrap()), ("a\n".into(), "b\n".into()));
}
