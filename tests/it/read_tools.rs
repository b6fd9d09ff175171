//! Issue 2, the read tools: read_file, list_directory and find_files as a model sees them.

use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn read_file_numbers_lines_and_names_the_next_call() {
    let p = Project::new();
    let body: String = (1..=30).map(|i| format!("line {i}\n")).collect();
    p.write("src/many.txt", &body);
    let c = stdio(&p.root, &[]).await;
    let all = ok(&c, "read_file", json!({"path": "src/many.txt"})).await;
    // Issue 14: no padding in the gutter, and a whole file's footer is its length and version.
    assert!(all.starts_with("1\tline 1\n2\tline 2\n"), "{all}");
    assert!(all.contains("30\tline 30\n[src/many.txt: 30 lines · version "), "{all}");
    assert!(!all.contains("next:"));
    let part = ok(&c, "read_file", json!({"path": "src/many.txt", "offset": 11, "limit": 5})).await;
    assert!(part.starts_with("11\tline 11\n"), "{part}");
    assert!(part.contains("\n15\tline 15\n[src/many.txt: lines 11-15 of 30 · version "), "{part}");
    assert!(part.contains("next: read_file(path=\"src/many.txt\", offset=16)"), "{part}");
    let msg = err(&c, "read_file", json!({"path": "src/many.txt", "offset": 31})).await;
    assert!(msg.contains("past the end") && msg.contains("30 lines"), "{msg}");
}

#[tokio::test]
async fn read_file_versions_change_with_content() {
    let p = Project::new();
    p.write("v.txt", "one\n");
    let c = stdio(&p.root, &[]).await;
    let version = |t: &str| t.split("version ").nth(1).unwrap()[..12].to_string();
    let a = version(&ok(&c, "read_file", json!({"path": "v.txt"})).await);
    assert_eq!(a, version(&ok(&c, "read_file", json!({"path": "v.txt"})).await));
    p.write("v.txt", "two\n");
    assert_ne!(a, version(&ok(&c, "read_file", json!({"path": "v.txt"})).await));
}

#[tokio::test]
async fn read_file_describes_binaries_and_clips_long_lines() {
    let p = Project::new();
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend(std::iter::repeat_n(0u8, 5000));
    p.write("img.png", &png);
    p.write("long.txt", format!("short\n{}\nend\n", "x".repeat(50_000)));
    p.write("crlf.txt", "a\r\nb\r\n");
    p.write("latin1.txt", b"caf\xe9\n");
    p.write("empty.txt", "");
    let c = stdio(&p.root, &[]).await;
    let bin = ok(&c, "read_file", json!({"path": "img.png"})).await;
    assert!(bin.contains("binary file") && bin.contains("PNG image") && bin.contains("KiB"), "{bin}");
    let long = ok(&c, "read_file", json!({"path": "long.txt"})).await;
    assert!(long.contains("more bytes on this line]"), "{long}");
    assert!(long.contains("\n3\tend\n"), "{long}");
    assert!(long.len() < 5000, "a clipped line must stay short: {}", long.len());
    assert!(ok(&c, "read_file", json!({"path": "crlf.txt"})).await.starts_with("1\ta\n2\tb\n"));
    let latin = ok(&c, "read_file", json!({"path": "latin1.txt"})).await;
    assert!(latin.contains("caf\u{FFFD}") && latin.contains("not valid UTF-8"), "{latin}");
    assert!(ok(&c, "read_file", json!({"path": "empty.txt"})).await.contains("empty file"));
}

#[tokio::test]
async fn read_file_stays_within_budget_and_pages_large_files() {
    let p = Project::new();
    // 12 MiB: above the whole-file threshold, so it streams and its version comes from metadata.
    let line = "0123456789".repeat(10);
    let mut big = String::new();
    for i in 0..120_000 {
        big.push_str(&format!("{i:06} {line}\n"));
    }
    p.write("big.log", &big);
    let c = stdio(&p.root, &[]).await;
    let first = ok(&c, "read_file", json!({"path": "big.log"})).await;
    assert!(first.chars().count() <= 20_000, "{}", first.len());
    assert!(first.contains("of 120000") && first.contains("output budget reached"), "{}", &first[first.len() - 300..]);
    let next: u64 =
        first.split("offset=").nth(1).unwrap().trim_end_matches(|c: char| !c.is_ascii_digit()).parse().unwrap();
    let second = ok(&c, "read_file", json!({"path": "big.log", "offset": next, "limit": 2})).await;
    assert!(second.starts_with(&format!("{next}\t{:06} ", next - 1)), "{second}");
    let tail = ok(&c, "read_file", json!({"path": "big.log", "offset": 120_000})).await;
    assert!(tail.contains("119999 0123") && tail.contains("lines 120000-120000 of 120000"), "{tail}");
}

#[tokio::test]
async fn list_directory_shows_a_tree_honouring_ignore_rules() {
    let p = Project::new();
    p.write(".gitignore", "target/\n*.log\n");
    p.write("src/main.rs", "fn main() {}");
    p.write("src/deep/er/x.rs", "");
    p.write("target/debug/junk", "");
    p.write("build.log", "");
    p.write(".git/config", "");
    p.write(".github/workflows/ci.yml", "");
    for i in 0..100 {
        p.write(&format!("many/f{i:03}.txt"), "");
    }
    std::os::unix::fs::symlink("src/main.rs", p.root.join("link.rs")).unwrap();
    let c = stdio(&p.root, &[]).await;
    let tree = ok(&c, "list_directory", json!({})).await;
    assert!(tree.contains("src/\n") && tree.contains("  main.rs\n"), "{tree}");
    assert!(tree.contains("    deep/ (1 entries)"), "a directory at the depth limit shows its size: {tree}");
    assert!(tree.contains(".github/"), "{tree}");
    assert!(tree.contains("link.rs -> src/main.rs"), "{tree}");
    assert!(!tree.contains("target") && !tree.contains("build.log") && !tree.contains(".git/"), "{tree}");
    assert!(tree.contains("… 40 more entries"), "{tree}");
    let sub = ok(&c, "list_directory", json!({"path": "src", "depth": 1})).await;
    assert!(sub.starts_with("src/\n"), "{sub}");
    assert!(
        refused(&c, "list_directory", json!({"depth": 0}), "invalid_argument")
            .await
            .contains("depth must be between 1 and 10")
    );
    assert!(
        refused(&c, "list_directory", json!({"path": "src/main.rs"}), "wrong_file_type")
            .await
            .contains("not a directory")
    );
}

#[tokio::test]
async fn find_files_globs_newest_first_and_caps() {
    let p = Project::new();
    p.write(".gitignore", "ignored/\n");
    let old = p.write("a/old.rs", "");
    p.write("b/new.rs", "");
    p.write("b/notes.md", "");
    p.write("ignored/skip.rs", "");
    let past = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options().write(true).open(&old).unwrap().set_modified(past).unwrap();
    let c = stdio(&p.root, &[]).await;
    let found = ok(&c, "find_files", json!({"pattern": "*.rs"})).await;
    assert!(found.starts_with("b/new.rs\na/old.rs\n[2 matches"), "{found}");
    assert!(ok(&c, "find_files", json!({"pattern": "b/*"})).await.contains("b/notes.md"));
    assert!(ok(&c, "find_files", json!({"pattern": "*.rs", "path": "b"})).await.starts_with("b/new.rs\n"));
    assert!(err(&c, "find_files", json!({"pattern": "a/[z"})).await.contains("invalid glob"));
    for i in 0..250 {
        p.write(&format!("gen/g{i}.txt"), "");
    }
    let capped = ok(&c, "find_files", json!({"pattern": "*.txt"})).await;
    assert!(capped.contains("[200 of 250 matches shown"), "{}", &capped[capped.len() - 200..]);
}
