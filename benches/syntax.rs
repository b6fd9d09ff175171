//! Run with: cargo bench --bench syntax
//!
//! Times the syntax gate on a realistic 10,000-line file per language, built by repeating a representative valid
//! snippet, and prints medians against the 10 ms target:
//! - "full": `check`, a parse from scratch (what the first check of a file nobody read costs);
//! - "edit": `Trees::check` after a one-character edit in the middle of the file, reparsing from the tree of the
//!   previous text (what the gate costs for an edit of a file that was read or edited before; read_file parses
//!   files of 32 KiB and more in the background for this);
//! - "bare parse": tree-sitter alone, to separate the grammar's cost from the gate's own.

use std::time::{Duration, Instant};

use codebox::engine::{Lang, Trees, check};

const LINES: usize = 10_000;
const RUNS: usize = 7;
const EDIT_RUNS: usize = 21;
const TARGET: Duration = Duration::from_millis(10);

/// A valid snippet per language; `{n}` is replaced by a counter so repeated definitions do not collide.
fn snippet(lang: Lang) -> (&'static str, &'static str, &'static str) {
    // (prefix written once, repeated body, suffix written once)
    match lang {
        Lang::Rust => (
            "",
            "pub fn f{n}(items: &[u32]) -> u32 {\n    let mut total = 0;\n    for x in items.iter().filter(|x| **x > 2) {\n        total += x * 2;\n    }\n    total\n}\n\n",
            "",
        ),
        Lang::Python => (
            "",
            "class C{n}(Base):\n    def m(self, items):\n        total = [x * 2 for x in items if x > 2]\n        if not total:\n            return None\n        return {\"n\": len(total), \"s\": sum(total)}\n\n",
            "",
        ),
        Lang::JavaScript => (
            "",
            "export function f{n}(items) {\n  const total = items.filter((x) => x > 2).map((x) => x * 2);\n  if (total.length === 0) {\n    return null;\n  }\n  return { n: total.length, s: `${total}` };\n}\n\n",
            "",
        ),
        Lang::TypeScript => (
            "",
            "export function f{n}(items: number[]): Result | null {\n  const total: number[] = items.filter((x) => x > 2);\n  if (total.length === 0) {\n    return null;\n  }\n  return { n: total.length } as Result;\n}\n\n",
            "",
        ),
        Lang::Tsx => (
            "",
            "export function C{n}({ items }: { items: string[] }) {\n  const [open, setOpen] = useState(false);\n  return (\n    <ul className=\"list\" onClick={() => setOpen(!open)}>\n      {items.map((x) => <li key={x}>{x}</li>)}\n    </ul>\n  );\n}\n\n",
            "",
        ),
        Lang::Go => (
            "package main\n\n",
            "func f{n}(items []int) int {\n\ttotal := 0\n\tfor _, x := range items {\n\t\tif x > 2 {\n\t\t\ttotal += x * 2\n\t\t}\n\t}\n\treturn total\n}\n\n",
            "",
        ),
        Lang::C => (
            "#include <stdio.h>\n\n",
            "static int f{n}(const int *items, size_t n) {\n    int total = 0;\n    for (size_t i = 0; i < n; i++) {\n        if (items[i] > 2) total += items[i] * 2;\n    }\n    return total;\n}\n\n",
            "",
        ),
        Lang::Cpp => (
            "#include <vector>\n\n",
            "template <typename T>\nT f{n}(const std::vector<T>& items) {\n    T total{};\n    for (const auto& x : items) {\n        if (x > 2) total += x * 2;\n    }\n    return total;\n}\n\n",
            "",
        ),
        Lang::Java => (
            "class Big {\n",
            "    static int f{n}(java.util.List<Integer> items) {\n        int total = 0;\n        for (int x : items) {\n            if (x > 2) { total += x * 2; }\n        }\n        return total;\n    }\n\n",
            "}\n",
        ),
        Lang::CSharp => (
            "class Big\n{\n",
            "    static int F{n}(List<int> items)\n    {\n        var total = items.Where(x => x > 2).Sum();\n        if (total == 0) { return -1; }\n        return total * 2;\n    }\n\n",
            "}\n",
        ),
        Lang::Ruby => (
            "",
            "class C{n} < Base\n  def m(items)\n    total = items.select { |x| x > 2 }.map { |x| x * 2 }\n    return nil if total.empty?\n    { n: total.size, s: \"#{total.sum}\" }\n  end\nend\n\n",
            "",
        ),
        Lang::Php => (
            "<?php\n\n",
            "function f{n}(array $items): int\n{\n    $total = 0;\n    foreach ($items as $x) {\n        if ($x > 2) { $total += $x * 2; }\n    }\n    return $total;\n}\n\n",
            "",
        ),
        Lang::Kotlin => (
            "",
            "fun f{n}(items: List<Int>): Int {\n    val total = items.filter { it > 2 }.map { it * 2 }\n    if (total.isEmpty()) {\n        return 0\n    }\n    return total.sum()\n}\n\n",
            "",
        ),
        Lang::Swift => (
            "",
            "func f{n}(_ items: [Int]) -> Int {\n    let total = items.filter { $0 > 2 }.map { $0 * 2 }\n    if total.isEmpty {\n        return 0\n    }\n    return total.reduce(0, +)\n}\n\n",
            "",
        ),
        Lang::Bash => (
            "#!/bin/bash\n",
            "f{n}() {\n  local total=0\n  for x in \"$@\"; do\n    if [ \"$x\" -gt 2 ]; then\n      total=$((total + x * 2))\n    fi\n  done\n  echo \"$total\"\n}\n\n",
            "",
        ),
        Lang::Json => (
            "[\n",
            "  {\n    \"id\": {n},\n    \"name\": \"item {n}\",\n    \"tags\": [\"a\", \"b\"],\n    \"price\": 12.5,\n    \"active\": true\n  },\n",
            "  {}\n]\n",
        ),
        Lang::Toml => (
            "",
            "[[item]]\nid = {n}\nname = \"item {n}\"\ntags = [\"a\", \"b\"]\nprice = 12.5\nmeta = { active = true, owner = \"x\" }\n\n",
            "",
        ),
        Lang::Yaml => (
            "items:\n",
            "  - id: {n}\n    name: item {n}\n    tags: [a, b]\n    price: 12.5\n    meta:\n      active: true\n      note: |\n        free text\n",
            "",
        ),
        Lang::Html => (
            "<!DOCTYPE html>\n<html>\n<body>\n",
            "  <div class=\"card\" id=\"c{n}\">\n    <h2>Item {n}</h2>\n    <p>Some <b>bold</b> text &amp; a <a href=\"/x\">link</a>.</p>\n    <img src=\"x.png\" alt=\"x\">\n  </div>\n",
            "</body>\n</html>\n",
        ),
        Lang::Css => (
            "",
            ".card-{n} > p:hover,\n.card-{n} .title {\n  margin: 0 auto;\n  color: rgba(0, 0, 0, 0.5);\n  font: 12px/1.5 sans-serif;\n}\n\n",
            "",
        ),
    }
}

fn generate(lang: Lang) -> String {
    let (prefix, body, suffix) = snippet(lang);
    let mut text = String::from(prefix);
    let mut n = 0;
    while text.lines().count() + body.lines().count() + suffix.lines().count() <= LINES {
        text.push_str(&body.replace("{n}", &n.to_string()));
        n += 1;
    }
    text.push_str(suffix);
    text
}

/// `text` with one digit near the middle changed: a one-character edit that keeps every sample valid.
fn edited(text: &str) -> String {
    let bytes = text.as_bytes();
    let at = (text.len() / 2..text.len()).find(|&i| bytes[i].is_ascii_digit()).expect("the samples hold numbers");
    let mut out = text.to_string();
    out.replace_range(at..at + 1, if bytes[at] == b'7' { "8" } else { "7" });
    out
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    println!(
        "{:<11} {:>7} {:>9} {:>9} {:>9} {:>11}  target <= 10 ms (edit)",
        "lang", "lines", "bytes", "full ms", "edit ms", "bare parse"
    );
    let mut met = 0;
    for lang in Lang::ALL {
        let text = generate(lang);
        let first = check(lang, &text);
        let valid = first.checked && first.errors.is_empty();
        let full = median(
            (0..RUNS)
                .map(|_| {
                    let start = Instant::now();
                    std::hint::black_box(check(lang, &text));
                    start.elapsed()
                })
                .collect(),
        );
        // Alternate between the text and its edited copy: every check is one edit away from the cached tree.
        let trees = Trees::default();
        trees.check("bench", lang, &text);
        let variants = [edited(&text), text.clone()];
        let mut edit_clean = true;
        let edit = median(
            (0..EDIT_RUNS)
                .map(|i| {
                    let start = Instant::now();
                    let report = trees.check("bench", lang, &variants[i % 2]);
                    let elapsed = start.elapsed();
                    edit_clean &= report.checked && report.errors.is_empty();
                    elapsed
                })
                .collect(),
        );
        assert_eq!(trees.reused(), EDIT_RUNS, "every edit check reused the previous tree");
        // The same text through a bare tree-sitter parser, to separate the grammar's cost from the gate's own.
        let mut parser = tree_sitter::Parser::new();
        let _ = parser.set_language(&lang.grammar());
        let bare = median(
            (0..RUNS)
                .map(|_| {
                    let start = Instant::now();
                    std::hint::black_box(parser.parse(&text, None));
                    start.elapsed()
                })
                .collect(),
        );
        met += usize::from(edit <= TARGET);
        println!(
            "{:<11} {:>7} {:>9} {:>9.2} {:>9.2} {:>11.2}  {}{}",
            lang.name(),
            text.lines().count(),
            text.len(),
            ms(full),
            ms(edit),
            ms(bare),
            if edit <= TARGET { "met" } else { "MISSED" },
            if valid && edit_clean {
                String::new()
            } else {
                format!("  (sample not clean: {:?})", first.errors.first())
            },
        );
    }
    println!("edit check within 10 ms: {met} of {} languages", Lang::ALL.len());
}
