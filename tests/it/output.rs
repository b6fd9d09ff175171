//! Issue 3, output shaping end to end: a cut result names an id; resources/read and read_output return exactly
//! what was omitted; read_output with a pattern finds a line from the middle.

use rmcp::model::{PaginatedRequestParams, ReadResourceRequestParams, ResourceContents};
use serde_json::json;

use crate::harness::*;

/// Parses `read_output(id="…", offset=N, limit=M)` out of a marker.
fn marker(text: &str) -> (String, u64, u64) {
    let m = text.split("read_output(id=\"").nth(1).unwrap_or_else(|| panic!("no read_output marker in: {text}"));
    let id = m.split('"').next().unwrap().to_string();
    let num = |key: &str| -> u64 {
        m.split(key).nth(1).unwrap().chars().take_while(|c| c.is_ascii_digit()).collect::<String>().parse().unwrap()
    };
    (id, num("offset="), num("limit="))
}

/// Everything of a read_output page but its closing `[…]` status line.
fn body(page: &str) -> &str {
    &page[..page.rfind("\n[").unwrap() + 1]
}

async fn resource_text(c: &Client, uri: &str) -> String {
    let r = c.peer().read_resource(ReadResourceRequestParams::new(uri)).await.unwrap();
    match &r.contents[0] {
        ResourceContents::TextResourceContents { text, .. } => text.clone(),
        other => panic!("not text: {other:?}"),
    }
}

#[tokio::test]
async fn a_cut_listing_names_its_id_and_the_rest_comes_back_exactly() {
    let p = Project::new();
    p.write("codebox.toml", "[limits]\nfind_max_results = 100000\n");
    for i in 0..3000 {
        p.write(&format!("files/file-{i:05}-with-a-rather-long-name-for-width.txt"), "");
    }
    let c = stdio(&p.root, &[]).await;
    let cut = ok(&c, "find_files", json!({"pattern": "*.txt"})).await;
    assert!(cut.chars().count() <= 20_000, "{} chars", cut.chars().count());
    let (id, offset, limit) = marker(&cut);
    assert!(cut.contains("lines omitted") || cut.contains("omitted: lines"), "{}", &cut[..500.min(cut.len())]);

    let uri = format!("codebox://output/{id}");
    let listed = c.peer().list_resources(Some(PaginatedRequestParams::default())).await.unwrap();
    assert!(listed.resources.iter().any(|r| r.uri == uri), "{listed:?}");
    let full = resource_text(&c, &uri).await;
    assert_eq!(full.lines().count(), 3001, "3000 paths and the status line");
    let omitted: String =
        full.split_inclusive('\n').skip(offset as usize - 1).take(limit as usize).collect::<Vec<_>>().concat();

    // read_output pages through the omitted lines; together the pages are exactly those bytes.
    let mut got = String::new();
    let mut next = offset;
    while next < offset + limit {
        let page = ok(&c, "read_output", json!({"id": id, "offset": next, "limit": offset + limit - next})).await;
        assert!(page.chars().count() <= 20_000);
        let b = body(&page);
        next += b.lines().count() as u64;
        got.push_str(b);
    }
    assert_eq!(got, omitted);

    // A line from the middle, found by pattern with its line number.
    let hit = ok(&c, "read_output", json!({"id": id, "pattern": "file-01500-", "context": 1})).await;
    let line = full.lines().position(|l| l.contains("file-01500-")).unwrap() + 1;
    assert!(hit.contains(&format!("{line}: files/file-01500-")), "{hit}");
    assert!(hit.contains("1 of 1 matching lines shown"), "{hit}");
}

#[tokio::test]
async fn read_output_errors_are_actionable() {
    let p = Project::new();
    let c = stdio(&p.root, &[]).await;
    let msg = err(&c, "read_output", json!({"id": "o0000000000"})).await;
    assert!(msg.contains("o0000000000"), "{msg}");
    let r = c.peer().read_resource(ReadResourceRequestParams::new("file:///etc/passwd")).await;
    assert!(r.is_err(), "only codebox://output/ resources exist");
}
