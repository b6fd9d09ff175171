//! Issue 15, code intelligence without a language server: outline and find_symbol on a fixture file in every
//! supported language (expected renderings in tests/fixtures/symbols-expected, one per file; `UPDATE_EXPECT=1`
//! rewrites them), find_references reads identifiers only (never comments or strings), the index follows edits
//! made through codebox and behind its back, edit_symbol's refusals (syntax, ambiguous, missing) and undo,
//! repo_map's ranking, focus and budget, and the characters a bug-fix loop costs with read_file and with
//! outline/find_symbol/edit_symbol.

use std::path::Path;

use serde_json::json;

use crate::harness::*;

/// Each fixture file, and a name find_symbol must find in it (qualified where the language nests).
const CASES: &[(&str, &str)] = &[
    ("sample.rs", "Circle.new"),
    ("sample.py", "Repository.lookup"),
    ("sample.js", "Counter.increment"),
    ("sample.ts", "Canvas.add"),
    ("sample.tsx", "Panel.render"),
    ("sample.go", "Stack.Push"),
    ("sample.c", "list_push"),
    ("sample.cpp", "Rect.area"),
    ("Sample.java", "Sample.count"),
    ("Sample.cs", "Greeter.Greet"),
    ("sample.rb", "Invoice.total_with_tax"),
    ("sample.php", "Square.area"),
    ("sample.kt", "FriendlyGreeter.greet"),
    ("sample.swift", "Canvas.draw"),
    ("sample.sh", "install_all"),
    ("sample.toml", "dependencies"),
    ("sample.yaml", "jobs"),
    ("sample.json", "scripts"),
    ("sample.css", ".button"),
];

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/symbols"))
}

/// Compares `actual` with the expected rendering in tests/fixtures/symbols-expected/`name`.txt; returns the
/// mismatch, or rewrites the file under UPDATE_EXPECT=1.
fn check(name: &str, actual: &str) -> Option<String> {
    let path = fixtures().with_file_name("symbols-expected").join(format!("{name}.txt"));
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return None;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    (expected != actual).then(|| format!("--- {} expected:\n{expected}\n--- got:\n{actual}", path.display()))
}

#[tokio::test]
async fn outline_and_find_symbol_in_every_language() {
    let p = Project::new();
    for (file, _) in CASES {
        std::fs::copy(fixtures().join(file), p.root.join(file)).unwrap();
    }
    let c = stdio(&p.root, &[]).await;
    let mut failures = Vec::new();
    for (file, name) in CASES {
        let outline = ok(&c, "outline", json!({"path": file})).await;
        let found = ok(&c, "find_symbol", json!({"name": name, "path": file})).await;
        let rendered = format!("outline {file}\n{outline}\nfind_symbol {name}\n{found}");
        failures.extend(check(file, &rendered));
    }
    assert!(failures.is_empty(), "{} of {} renderings differ:\n{}", failures.len(), CASES.len(), failures.join("\n"));
    // A directory's outline covers every language but JSON (data, indexed only when named).
    let dir = ok(&c, "outline", json!({"path": "."})).await;
    assert!(dir.contains(&format!("{} files with", CASES.len() - 1)) && !dir.contains("sample.json"), "{dir}");
}

#[tokio::test]
async fn find_symbol_ranks_source_before_tests_and_shows_bodies() {
    let p = Project::new();
    p.write("tests/test_parse.py", "def parse(text):\n    return 'fake'\n");
    p.write("app/parse.py", "import re\n\n\ndef parse(text):\n    return re.split(',', text)\n");
    let c = stdio(&p.root, &[]).await;
    let out = ok(&c, "find_symbol", json!({"name": "parse"})).await;
    assert_eq!(
        out,
        "app/parse.py:4-5 function parse\n  def parse(text):\ntests/test_parse.py:1-2 function parse\n  def parse(text):\n"
    );
    let body = ok(&c, "find_symbol", json!({"name": "parse", "path": "app", "include_body": true})).await;
    assert_eq!(
        body,
        "app/parse.py:4-5 function parse\n     4\tdef parse(text):\n     5\t    return re.split(',', text)\n"
    );
    let (kind, missing) = refusal(&c, "find_symbol", json!({"name": "prase"}), "unknown_symbol").await;
    assert_eq!(kind["closest"][0], "parse (app/parse.py:4)", "{kind}");
    assert!(missing.contains("closest names: parse (app/parse.py:4)"), "{missing}");
}

#[tokio::test]
async fn references_come_from_code_not_comments_or_strings() {
    let p = Project::new();
    p.write(
        "src/lib.rs",
        "/// Calls `budget` twice.\npub fn budget() -> u32 { 1 }\n\npub fn total() -> u32 {\n    // budget in a comment\n    let s = \"budget in a string\";\n    budget() + budget() + s.len() as u32\n}\n",
    );
    p.write("app.py", "from lib import budget\n# budget again\nprint('budget', budget())\n");
    let c = stdio(&p.root, &[]).await;
    let out = ok(&c, "find_references", json!({"name": "budget"})).await;
    assert_eq!(
        out,
        "app.py (2)\n  1: from lib import budget\n  3: print('budget', budget())\nsrc/lib.rs (3)\n  2: pub fn budget() -> u32 { 1 }  [definition]\n  7: budget() + budget() + s.len() as u32\n[5 uses of \"budget\" in 2 files (identifiers only, not comments or strings)]\n"
    );
    let none = refused(&c, "find_references", json!({"name": "string"}), "unknown_symbol").await;
    assert!(none.contains("no identifier \"string\""), "{none}");
}

#[tokio::test]
async fn references_are_capped_with_a_count_and_a_hint() {
    let p = Project::new();
    for i in 0..40 {
        p.write(&format!("m{i:02}.py"), "from core import engine\nengine()\n");
    }
    let c = stdio(&p.root, &[]).await;
    let out = ok(&c, "find_references", json!({"name": "engine"})).await;
    assert!(out.ends_with("[80 uses of \"engine\" in 40 files (identifiers only, not comments or strings); 30 files shown, source before tests. Narrow with path, e.g. path=\".\"]\n"), "{out}");
    assert_eq!(out.matches(" (2)\n").count(), 30, "{out}");
}

#[tokio::test]
async fn the_index_follows_codebox_edits_and_changes_behind_its_back() {
    let p = Project::new();
    p.write("lib.py", "def alpha():\n    return 1\n");
    let c = stdio(&p.root, &[]).await;
    assert!(ok(&c, "find_symbol", json!({"name": "alpha"})).await.starts_with("lib.py:1-2 function alpha"));
    // Through codebox.
    ok(&c, "edit_file", json!({"path": "lib.py", "edits": [{"old_string": "def alpha", "new_string": "def gamma"}]}))
        .await;
    assert!(
        refused(&c, "find_symbol", json!({"name": "alpha"}), "unknown_symbol")
            .await
            .contains("no definition of \"alpha\"")
    );
    assert!(ok(&c, "find_symbol", json!({"name": "gamma"})).await.starts_with("lib.py:1-2 function gamma"));
    // Behind its back, same length, same inode: the content hash decides.
    std::fs::write(p.root.join("lib.py"), "def delta():\n    return 1\n").unwrap();
    assert!(ok(&c, "find_symbol", json!({"name": "delta"})).await.starts_with("lib.py:1-2 function delta"));
    assert!(refused(&c, "find_references", json!({"name": "gamma"}), "unknown_symbol").await.contains("no identifier"));
    // A new file and a deleted one.
    p.write("more.py", "def epsilon():\n    pass\n");
    std::fs::remove_file(p.root.join("lib.py")).unwrap();
    let map = ok(&c, "repo_map", json!({})).await;
    assert!(map.contains("def epsilon():") && !map.contains("delta"), "{map}");
}

#[tokio::test]
async fn edit_symbol_replaces_inserts_refuses_and_undoes() {
    let p = Project::new();
    let src = "class Cart:\n    def total(self):\n        return 0\n\n    def count(self):\n        return 0\n\n\nclass Shelf:\n    def count(self):\n        return 1\n";
    p.write("shop.py", src);
    let c = stdio(&p.root, &[]).await;
    // The body is given flush left; it lands at the method's indentation.
    let out = ok(
        &c,
        "edit_symbol",
        json!({"path": "shop.py", "name": "Cart.total", "body": "def total(self):\n    return sum(self.items)"}),
    )
    .await;
    assert!(out.contains("replaced method Cart.total (was lines 2-3)") && out.contains("syntax ok"), "{out}");
    let now = std::fs::read_to_string(p.root.join("shop.py")).unwrap();
    assert_eq!(
        now,
        src.replace("        return 0\n\n    def count", "        return sum(self.items)\n\n    def count")
    );
    // Ambiguous: both candidates listed.
    let args = json!({"path": "shop.py", "name": "count", "body": "def count(self):\n    return 2"});
    let (kind, amb) = refusal(&c, "edit_symbol", args, "ambiguous").await;
    assert_eq!(kind["candidates"], json!(["Cart.count", "Shelf.count"]));
    assert!(amb.contains("method Cart.count (lines 5-6)") && amb.contains("method Shelf.count (lines 10-11)"), "{amb}");
    // Missing: the closest names.
    let args = json!({"path": "shop.py", "name": "Cart.totl", "body": "def x(): pass"});
    let (kind, missing) = refusal(&c, "edit_symbol", args, "unknown_symbol").await;
    assert_eq!(kind["name"], "Cart.totl");
    assert!(missing.contains("closest: Cart.total (line 2)"), "{missing}");
    // A body that breaks the syntax is refused and the file is untouched.
    let broken = refused(
        &c,
        "edit_symbol",
        json!({"path": "shop.py", "name": "Shelf.count", "body": "def count(self:\n    return 1"}),
        "syntax_refused",
    )
    .await;
    assert!(broken.contains("Refused") && broken.contains("shop.py:10"), "{broken}");
    assert_eq!(std::fs::read_to_string(p.root.join("shop.py")).unwrap(), now);
    // Insert after, then undo it.
    ok(&c, "edit_symbol", json!({"path": "shop.py", "name": "Shelf.count", "position": "after", "body": "def empty(self):\n    return False"})).await;
    let inserted = std::fs::read_to_string(p.root.join("shop.py")).unwrap();
    assert!(
        inserted.ends_with("    def count(self):\n        return 1\n\n    def empty(self):\n        return False\n"),
        "{inserted}"
    );
    ok(&c, "undo_edit", json!({"path": "shop.py"})).await;
    assert_eq!(std::fs::read_to_string(p.root.join("shop.py")).unwrap(), now);
    // Insert before a top-level class.
    ok(&c, "edit_symbol", json!({"path": "shop.py", "name": "Shelf", "position": "before", "body": "BASE = 1\n"}))
        .await;
    assert!(std::fs::read_to_string(p.root.join("shop.py")).unwrap().contains("\n\nBASE = 1\n\nclass Shelf:\n"));
}

#[tokio::test]
async fn edit_symbol_carries_rust_attributes_and_doc_comments() {
    let p = Project::new();
    let src = "impl Tally {\n    /// Adds one.\n    #[inline]\n    pub fn bump(&mut self) {\n        self.0 += 1;\n    }\n}\n";
    p.write("src/lib.rs", format!("pub struct Tally(u32);\n\n{src}"));
    let c = stdio(&p.root, &[]).await;
    // A body without the attributes keeps them.
    ok(
        &c,
        "edit_symbol",
        json!({"path": "src/lib.rs", "name": "Tally.bump", "body": "pub fn bump(&mut self) {\n    self.0 += 2;\n}"}),
    )
    .await;
    let kept = std::fs::read_to_string(p.root.join("src/lib.rs")).unwrap();
    assert!(
        kept.contains("    /// Adds one.\n    #[inline]\n    pub fn bump(&mut self) {\n        self.0 += 2;\n    }\n"),
        "{kept}"
    );
    // A body with them replaces them.
    ok(&c, "edit_symbol", json!({"path": "src/lib.rs", "name": "Tally::bump", "body": "/// Adds two.\npub fn bump(&mut self) {\n    self.0 += 2;\n}"})).await;
    let replaced = std::fs::read_to_string(p.root.join("src/lib.rs")).unwrap();
    assert!(
        replaced.contains(
            "impl Tally {\n    /// Adds two.\n    pub fn bump(&mut self) {\n        self.0 += 2;\n    }\n}\n"
        ),
        "{replaced}"
    );
}

#[tokio::test]
async fn repo_map_ranks_what_the_code_uses_and_follows_focus() {
    let p = Project::new();
    p.write(
        "core/engine.py",
        "class Engine:\n    def start(self):\n        pass\n\n\ndef rarely_used_helper():\n    pass\n",
    );
    for name in ["a", "b", "c"] {
        p.write(&format!("app/{name}.py"), "from core.engine import Engine\n\nEngine().start()\n");
    }
    p.write("tools/report.py", "def build_report():\n    pass\n\n\ndef render_report():\n    build_report()\n");
    let c = stdio(&p.root, &[]).await;
    let map = ok(&c, "repo_map", json!({})).await;
    assert!(map.starts_with("core/engine.py\n  1: class Engine:\n"), "{map}");
    let focused = ok(&c, "repo_map", json!({"focus": "tools/report.py"})).await;
    assert!(focused.starts_with("tools/report.py\n"), "{focused}");
    let small = ok(&c, "repo_map", json!({"max_chars": 1000, "focus": ["build_report", "nosuchthing"]})).await;
    assert!(small.contains("focus matched no file or defined name: nosuchthing"), "{small}");
    assert!(small.starts_with("tools/report.py\n  1: def build_report():\n"), "{small}");
}

/// A bug-fix loop on a long file: find the function and fix it, once reading the file and once with outline and
/// find_symbol; prints the characters each returns to the model. The symbol flow must cost less than half.
#[tokio::test]
async fn a_bug_fix_costs_fewer_characters_with_symbols_than_with_read_file() {
    let p = Project::new();
    let mut src = String::from("\"\"\"Inventory.\"\"\"\n\n");
    for i in 0..120 {
        src.push_str(&format!(
            "\ndef helper_{i}(items):\n    \"\"\"Helper {i}.\"\"\"\n    total = 0\n    for item in items:\n        total += item * {i}\n    return total\n\n"
        ));
    }
    src.push_str("\ndef discount(price, rate):\n    return price * rate  # bug: should be price * (1 - rate)\n");
    p.write("inventory.py", &src);
    let c = stdio(&p.root, &[]).await;
    let fix_old = "    return price * rate  # bug: should be price * (1 - rate)";
    let fix_new = "    return price * (1 - rate)";

    let read = ok(&c, "read_file", json!({"path": "inventory.py"})).await;
    let edit =
        ok(&c, "edit_file", json!({"path": "inventory.py", "edits": [{"old_string": fix_old, "new_string": fix_new}]}))
            .await;
    let with_read = read.len() + edit.len();
    ok(&c, "undo_edit", json!({"path": "inventory.py"})).await;

    let found = ok(&c, "find_symbol", json!({"name": "discount", "include_body": true})).await;
    assert!(found.contains(fix_old), "{found}");
    let edited = ok(&c, "edit_symbol", json!({"path": "inventory.py", "name": "discount", "body": "def discount(price, rate):\n    return price * (1 - rate)"})).await;
    let with_symbols = found.len() + edited.len();
    assert!(std::fs::read_to_string(p.root.join("inventory.py")).unwrap().ends_with(&format!("{fix_new}\n")));
    println!(
        "bug-fix loop, characters returned to the model: read_file+edit_file {with_read}, find_symbol+edit_symbol {with_symbols}"
    );
    assert!(with_symbols * 2 < with_read, "read_file flow {with_read} chars, symbol flow {with_symbols}");
}
