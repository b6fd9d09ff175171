//! Issue 8, the git tools: status, diff, commit and branch through the sandbox; arguments that try to become
//! options (F13); a hostile `.git/config` and hook that must not reach outside the sandbox.

use std::process::Command;

use serde_json::json;

use crate::harness::*;

fn git(root: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(root)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn repo() -> Project {
    let p = Project::new();
    git(&p.root, &["init", "-q"]);
    p.write("a.txt", "one\n");
    git(&p.root, &["add", "-A"]);
    git(&p.root, &["commit", "-qm", "initial"]);
    p
}

#[tokio::test]
async fn status_diff_commit_and_branch() {
    let p = repo();
    let c = stdio(&p.root, &[]).await;
    p.write("a.txt", "two\n");
    p.write("new.txt", "fresh\n");
    let st = ok(&c, "git_status", json!({})).await;
    assert!(st.contains("## main") && st.contains(" M a.txt") && st.contains("?? new.txt"), "{st}");
    let d = ok(&c, "git_diff", json!({})).await;
    assert!(d.contains("-one\n+two"), "{d}");
    // Issue 14: a successful git run says no status line; an empty diff says so in words.
    assert_eq!(ok(&c, "git_diff", json!({"staged": true})).await, "no changes", "nothing staged yet");
    assert!(!d.contains("[exit 0") && !d.contains("\nindex "), "{d}");
    let br = ok(&c, "git_branch", json!({"name": "fix/thing"})).await;
    assert!(br.contains("fix/thing"), "{br}");
    // A message that looks like an option is a message.
    let msg = "--amend";
    ok(&c, "git_commit", json!({"message": msg, "paths": ["a.txt"]})).await;
    assert_eq!(git(&p.root, &["log", "-1", "--format=%s"]).trim(), msg);
    assert_eq!(git(&p.root, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(), "fix/thing");
    assert!(git(&p.root, &["status", "--short"]).contains("?? new.txt"), "only the named path was committed");
    ok(&c, "git_commit", json!({"message": "add the rest"})).await;
    assert!(git(&p.root, &["status", "--short"]).is_empty());
    // Nothing left to commit: git's failure, with its exit code.
    let (kind, msg) = refusal(&c, "git_commit", json!({"message": "nothing"}), "command_failed").await;
    assert_eq!((&kind["program"], &kind["status"]), (&json!("git"), &json!(1)), "{msg}");
    let back = ok(&c, "git_branch", json!({"name": "main"})).await;
    assert!(back.contains("already existed"), "{back}");
}

#[tokio::test]
async fn f13_arguments_never_become_options() {
    let p = repo();
    let c = stdio(&p.root, &[]).await;
    for name in ["--upload-pack=touch /tmp/x", "-f", "a b", "x..y"] {
        assert!(err(&c, "git_branch", json!({"name": name})).await.contains("not a valid branch name"), "{name}");
    }
    let probe = p.outside.join("diff-output");
    // A path that looks like an option goes after `--`: a pathspec, not `--output=`.
    let out = call(&c, "git_diff", json!({"path": format!("--output={}", probe.display())})).await;
    assert!(out.is_error || !probe.exists(), "{}", out.text);
    assert!(!probe.exists());
    assert!(
        refused(&c, "git_commit", json!({"message": "x", "paths": ["../outside/canary.txt"]}), "outside_workspace")
            .await
            .contains("outside the workspace")
    );
    p.assert_canary_intact();
}

#[tokio::test]
async fn a_hostile_repository_config_and_hook_stay_inside_the_sandbox() {
    let p = repo();
    let marks: Vec<std::path::PathBuf> =
        ["pager", "fsmonitor", "external", "hook"].iter().map(|n| p.outside.join(n)).collect();
    let cfg = format!(
        "[core]\n\tpager = touch {}\n\tfsmonitor = touch {}\n[diff]\n\texternal = touch {}\n",
        marks[0].display(),
        marks[1].display(),
        marks[2].display()
    );
    let mut config = std::fs::read_to_string(p.root.join(".git/config")).unwrap();
    config.push_str(&cfg);
    std::fs::write(p.root.join(".git/config"), config).unwrap();
    let hook = p.root.join(".git/hooks/pre-commit");
    std::fs::write(&hook, format!("#!/bin/sh\ntouch {} || true\necho hook-ran > hook-ran.txt\n", marks[3].display()))
        .unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let c = stdio(&p.root, &[]).await;
    p.write("a.txt", "changed\n");
    ok(&c, "git_status", json!({})).await;
    ok(&c, "git_diff", json!({})).await;
    ok(&c, "git_commit", json!({"message": "with a hook"})).await;
    // The user's hook ran, confined: it wrote inside the workspace and could not write outside.
    assert!(p.root.join("hook-ran.txt").exists(), "the hook ran inside the sandbox");
    for m in &marks {
        assert!(!m.exists(), "{} was created outside the sandbox", m.display());
    }
}

/// Issue 12: git_branch decides between create and switch from git's plumbing, not from its (translated)
/// messages. Under a German locale (compiled into the project's .git, passed through with [sandbox] env) git
/// speaks German to commands, and git_branch still switches to an existing branch and creates a new one.
#[tokio::test]
async fn git_branch_works_under_a_german_locale() {
    let p = repo();
    let locales = p.root.join(".git/locale");
    std::fs::create_dir_all(&locales).unwrap();
    let st = Command::new("localedef")
        .args(["-i", "de_DE", "-f", "UTF-8"])
        .arg(locales.join("de_DE.UTF-8"))
        .status()
        .unwrap();
    assert!(st.success(), "localedef (Debian's locales package) compiles de_DE.UTF-8");
    std::fs::write(p.root.join(".git/info/exclude"), "codebox.toml\n").unwrap();
    p.write("codebox.toml", "[sandbox]\nenv = [\"LOCPATH\"]\n");
    let loc = locales.to_str().unwrap();
    // Debian's git carries its translations (a git built into /usr/local may not): it comes first on PATH.
    let path = format!("/usr/bin:/bin:{}", std::env::var("PATH").unwrap_or_default());
    let env = [("LANG", "de_DE.UTF-8"), ("LC_ALL", "de_DE.UTF-8"), ("LOCPATH", loc), ("PATH", path.as_str())];
    let c = stdio_with(&p.root, &[], &env, |_| {}).await;
    let out = ok(&c, "run_command", json!({"command": "git switch --create main 2>&1"})).await;
    assert!(out.contains("existiert bereits"), "commands get the German locale: {out}");
    let out = ok(&c, "git_branch", json!({"name": "feature"})).await;
    assert!(out.contains("feature"), "{out}");
    let out = ok(&c, "git_branch", json!({"name": "main"})).await;
    assert!(out.contains("already existed; switched to it"), "{out}");
    assert_eq!(git(&p.root, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(), "main");
}
