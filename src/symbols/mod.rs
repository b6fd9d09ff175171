//! Code intelligence without a language server: the definitions in a file (from tree-sitter tags queries), the
//! identifiers it uses (from identifier nodes, so never from comments or strings), how a `Class.method` name
//! matches them, and the index (`index`) and repository map (`map`) built from them.
//!
//! Text in, symbols out: this module never does I/O and never fails; a text it cannot parse has no symbols.
//! Reading files is the caller's job, through `src/workspace`.

pub mod index;
pub(crate) mod map;
mod queries;

use std::collections::HashMap;
use std::sync::OnceLock;

use streaming_iterator::StreamingIterator;
use tree_sitter::{Node, Query, QueryCursor, Tree};

use crate::syntax::{self, Lang};

/// One definition in a file, as the tools read it: a view into the `Symbols` that holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Symbol<'a> {
    pub name: &'a str,
    /// function, method, class, struct, enum, trait, interface, impl, module, macro, type, constant, variable,
    /// field, variant, constructor, prototype, property, object, key, table, rule.
    pub kind: &'static str,
    /// 1-based, inclusive; the start includes decorators that are part of the definition (Python).
    pub start_line: u32,
    pub end_line: u32,
    /// The line of the name itself.
    pub name_line: u32,
    /// Byte range of the definition, decorators included.
    pub start_byte: u32,
    pub end_byte: u32,
    /// Where the definition starts without its decorators.
    pub head_byte: u32,
    /// Index of the enclosing symbol in the same list.
    pub parent: Option<u32>,
    pub depth: u16,
    /// The type or namespace a definition outside its container belongs to: a Go method's receiver type,
    /// the `ns::` of a C++ `ns::f` defined out of line.
    pub scope: Option<&'a str>,
    /// Byte range of the definition's head in the text it was extracted from.
    head: (u32, u32),
}

impl Symbol<'_> {
    /// The definition's head (up to its body), whitespace collapsed, at most `SIGNATURE_MAX` chars, cut from
    /// `text`, the text the symbol was extracted from. The index keeps the range, not the words: signatures are
    /// most of what symbols would weigh, and only the few a call shows are ever read.
    pub fn signature(&self, text: &str) -> String {
        let (from, to) = (self.head.0 as usize, self.head.1 as usize);
        match text.get(from..to) {
            Some(head) => render_signature(head),
            None => format!("{} {}", self.kind, self.name),
        }
    }
}

/// A definition as stored: 48 bytes, its name and scope in `Symbols::strings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Packed {
    /// The name at `strings[name..name + name_len]`, the scope right after it.
    name: u32,
    name_len: u16,
    scope_len: u16,
    kind: u8,
    depth: u16,
    /// `u32::MAX` for none.
    parent: u32,
    start_line: u32,
    end_line: u32,
    name_line: u32,
    start_byte: u32,
    end_byte: u32,
    head_byte: u32,
    head: (u32, u32),
}

/// The definitions of one text, in text order (a parent before its children).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Symbols {
    packed: Vec<Packed>,
    strings: String,
}

impl Symbols {
    pub fn len(&self) -> usize {
        self.packed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.packed.is_empty()
    }

    pub fn get(&self, i: usize) -> Symbol<'_> {
        let p = &self.packed[i];
        let name_end = p.name as usize + p.name_len as usize;
        let scope = &self.strings[name_end..name_end + p.scope_len as usize];
        Symbol {
            name: &self.strings[p.name as usize..name_end],
            kind: KINDS.get(p.kind as usize).copied().unwrap_or("symbol"),
            start_line: p.start_line,
            end_line: p.end_line,
            name_line: p.name_line,
            start_byte: p.start_byte,
            end_byte: p.end_byte,
            head_byte: p.head_byte,
            parent: (p.parent != u32::MAX).then_some(p.parent),
            depth: p.depth,
            scope: (!scope.is_empty()).then_some(scope),
            head: p.head,
        }
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = Symbol<'_>> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Bytes held on the heap (the index's memory estimate).
    pub fn heap_bytes(&self) -> usize {
        self.packed.capacity() * std::mem::size_of::<Packed>() + self.strings.capacity()
    }

    fn pack(drafts: Vec<Draft>) -> Symbols {
        let strings_len = drafts.iter().map(|d| d.name.len() + d.scope.as_ref().map_or(0, String::len)).sum();
        let mut out = Symbols { packed: Vec::with_capacity(drafts.len()), strings: String::with_capacity(strings_len) };
        for d in drafts {
            let name = out.strings.len() as u32;
            let name_len = push_capped(&mut out.strings, &d.name);
            let scope_len = d.scope.as_deref().map_or(0, |s| push_capped(&mut out.strings, s));
            out.packed.push(Packed {
                name,
                name_len,
                scope_len,
                kind: KINDS.iter().position(|k| *k == d.kind).unwrap_or(KINDS.len() - 1) as u8,
                depth: d.depth,
                parent: d.parent.unwrap_or(u32::MAX),
                start_line: d.start_line,
                end_line: d.end_line,
                name_line: d.name_line,
                start_byte: d.start_byte,
                end_byte: d.end_byte,
                head_byte: d.head_byte,
                head: d.head,
            });
        }
        out
    }
}

/// Appends `s`, cut (on a character boundary) to what a `u16` length can say; returns the length appended.
fn push_capped(out: &mut String, s: &str) -> u16 {
    let mut end = s.len().min(u16::MAX as usize);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.push_str(&s[..end]);
    end as u16
}

/// A definition while its text is being read: nested, then packed.
struct Draft {
    name: String,
    kind: &'static str,
    start_line: u32,
    end_line: u32,
    name_line: u32,
    start_byte: u32,
    end_byte: u32,
    head_byte: u32,
    parent: Option<u32>,
    depth: u16,
    scope: Option<String>,
    head: (u32, u32),
}

/// What one text yields.
#[derive(Debug, Default)]
pub struct Extracted {
    pub symbols: Symbols,
    /// Distinct identifiers used in code, with how often.
    pub idents: Vec<(String, u32)>,
    pub lines: u32,
}

/// Signatures longer than this are cut: a map line must stay a line.
const SIGNATURE_MAX: usize = 160;
/// Keys of data files (JSON, YAML, TOML) nested deeper than this are left out: a lock file would drown the rest.
const KEY_DEPTH_MAX: u16 = 2;
/// Identifiers longer than this are not indexed (generated code, minified text).
const IDENT_MAX: usize = 80;

/// Kinds that name a type or namespace: their functions are methods.
pub(crate) fn is_container_kind(kind: &str) -> bool {
    matches!(kind, "class" | "struct" | "impl" | "trait" | "interface" | "object" | "enum" | "union")
}

/// Kinds a repository map shows: code definitions, not data keys, fields or variants.
pub(crate) fn is_map_kind(kind: &str) -> bool {
    matches!(
        kind,
        "function"
            | "method"
            | "class"
            | "struct"
            | "enum"
            | "union"
            | "trait"
            | "interface"
            | "impl"
            | "module"
            | "macro"
            | "type"
            | "object"
            | "constructor"
            | "constant"
    )
}

struct Compiled {
    query: Query,
    /// Per capture index: the kind for `@definition.<kind>`, `None` for others.
    kinds: Vec<Option<&'static str>>,
    name: u32,
    /// By node kind id: the kinds a definition pattern starts at. The query then runs at those nodes only (see
    /// `scan`). None when a pattern starts at something else (a wildcard, a supertype, a sibling sequence): the
    /// query then runs over the whole tree.
    roots: Option<Vec<bool>>,
    /// By node kind id: leaves that name something in code (`is_identifier_kind`).
    idents: Vec<bool>,
}

/// The canonical kind names; a query's `@definition.x` maps onto one of these.
const KINDS: [&str; 26] = [
    "function",
    "method",
    "class",
    "struct",
    "enum",
    "union",
    "trait",
    "interface",
    "impl",
    "module",
    "macro",
    "type",
    "constant",
    "variable",
    "field",
    "variant",
    "constructor",
    "prototype",
    "property",
    "object",
    "key",
    "table",
    "rule",
    "namespace",
    "call",
    "symbol",
];

fn canonical(kind: &str) -> &'static str {
    KINDS.iter().find(|k| **k == kind).copied().unwrap_or("symbol")
}

fn compiled(lang: Lang) -> Option<&'static Compiled> {
    static COMPILED: [OnceLock<Option<Compiled>>; Lang::ALL.len()] = [const { OnceLock::new() }; Lang::ALL.len()];
    COMPILED[Lang::ALL.iter().position(|&l| l == lang)?]
        .get_or_init(|| {
            let src = queries::source(lang)?;
            let mut query = match Query::new(&lang.grammar(), &src) {
                Ok(q) => q,
                Err(e) => {
                    tracing::warn!("the {} tags query does not compile: {e}", lang.name());
                    return None;
                }
            };
            let kinds: Vec<Option<&'static str>> =
                query.capture_names().iter().map(|n| n.strip_prefix("definition.").map(canonical)).collect();
            let name = query.capture_index_for_name("name")?;
            let mut defining = Vec::new();
            for p in 0..query.pattern_count() {
                let q = query.capture_quantifiers(p);
                let defines = kinds
                    .iter()
                    .enumerate()
                    .any(|(i, k)| k.is_some() && q.get(i).is_some_and(|q| *q != tree_sitter::CaptureQuantifier::Zero));
                if defines {
                    defining.push(p);
                } else {
                    query.disable_pattern(p);
                }
            }
            let grammar = lang.grammar();
            let by_id = |keep: &dyn Fn(&str) -> bool| -> Vec<bool> {
                (0..grammar.node_kind_count() as u16)
                    .map(|id| grammar.node_kind_is_named(id) && grammar.node_kind_for_id(id).is_some_and(keep))
                    .collect()
            };
            let roots = defining
                .iter()
                .map(|&p| queries::root_kinds(&src[query.start_byte_for_pattern(p)..query.end_byte_for_pattern(p)]))
                .collect::<Option<Vec<Vec<&str>>>>()
                .map(|names| names.concat())
                .filter(|names| names.iter().all(|n| grammar.id_for_node_kind(n, true) != 0))
                .map(|names| by_id(&|k| names.contains(&k)));
            if roots.is_none() {
                tracing::debug!("the {} tags query runs over whole trees", lang.name());
            }
            let idents = by_id(&is_identifier_kind);
            Some(Compiled { query, kinds, name, roots, idents })
        })
        .as_ref()
}

/// True when `lang` has a tags query (every language codebox parses but HTML).
pub fn supported(lang: Lang) -> bool {
    compiled(lang).is_some()
}

/// Parses `text` and extracts its symbols and identifiers. Empty when the text cannot be parsed.
pub fn extract(lang: Lang, text: &str) -> Extracted {
    match syntax::parse_tree(lang, text, None) {
        Some(tree) => extract_from(lang, &tree, text),
        None => Extracted { lines: line_count(text), ..Default::default() },
    }
}

pub(crate) fn line_count(text: &str) -> u32 {
    (memchr::memchr_iter(b'\n', text.as_bytes()).count() + usize::from(!text.is_empty() && !text.ends_with('\n')))
        as u32
}

/// Symbols and identifiers of a parsed text.
pub(crate) fn extract_from(lang: Lang, tree: &Tree, text: &str) -> Extracted {
    // Data files define keys but use no code: their words are not references.
    let code = !matches!(lang, Lang::Json | Lang::Yaml | Lang::Toml | Lang::Css);
    let (symbols, idents) = scan(lang, tree, text, code);
    Extracted { symbols, idents, lines: line_count(text) }
}

/// One walk over the tree: the definitions (the tags query, run only at the nodes its patterns start at, which
/// costs a third of running it over the whole tree), and, when `with_idents`, the identifiers used.
fn scan(lang: Lang, tree: &Tree, text: &str, with_idents: bool) -> (Symbols, Vec<(String, u32)>) {
    let Some(c) = compiled(lang) else {
        return (Symbols::default(), if with_idents { identifiers(tree, text) } else { Vec::new() });
    };
    let bytes = text.as_bytes();
    let mut found = Found::default();
    let mut cursor = QueryCursor::new();
    let mut counts: HashMap<&str, u32> = HashMap::new();
    let Some(roots) = &c.roots else {
        let mut matches = cursor.matches(&c.query, tree.root_node(), bytes);
        while let Some(m) = matches.next() {
            found.add(lang, c, m);
        }
        return (found.symbols(lang, text), if with_idents { identifiers(tree, text) } else { Vec::new() });
    };
    cursor.set_max_start_depth(Some(0));
    let flag = |table: &[bool], node: Node| table.get(node.kind_id() as usize).copied().unwrap_or(false);
    preorder(tree, |node| {
        if flag(roots, node) {
            let mut matches = cursor.matches(&c.query, node, bytes);
            while let Some(m) = matches.next() {
                found.add(lang, c, m);
            }
        }
        if with_idents && node.child_count() == 0 && flag(&c.idents, node) {
            count_ident(&mut counts, text, node);
        }
    });
    let idents = counts.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    (found.symbols(lang, text), idents)
}

/// Calls `f` on every node of the tree in text order, a parent before its children.
fn preorder<'t>(tree: &'t Tree, mut f: impl FnMut(Node<'t>)) {
    let mut c = tree.walk();
    loop {
        f(c.node());
        if c.goto_first_child() {
            continue;
        }
        loop {
            if c.goto_next_sibling() {
                break;
            }
            if !c.goto_parent() {
                return;
            }
        }
    }
}

/// The definitions matched so far, one per node.
#[derive(Default)]
struct Found<'t> {
    /// Keyed by the definition's byte range: two patterns can match one definition (a Rust function in an impl
    /// is both `method` and `function`); the first pattern, the more specific, wins.
    seen: HashMap<(usize, usize), usize>,
    defs: Vec<(Node<'t>, Node<'t>, &'static str, usize)>,
}

impl<'t> Found<'t> {
    fn add(&mut self, lang: Lang, c: &Compiled, m: &tree_sitter::QueryMatch<'_, 't>) {
        let mut def = None;
        let mut name = None;
        for cap in m.captures() {
            if cap.index == c.name {
                name = Some(cap.node);
            } else if let Some(kind) = c.kinds.get(cap.index as usize).copied().flatten() {
                def = Some((cap.node, kind));
            }
        }
        let (Some((node, kind)), Some(name)) = (def, name) else { return };
        let Some((node, kind)) = settle(lang, node, kind) else { return };
        let key = (node.start_byte(), node.end_byte());
        match self.seen.get(&key) {
            Some(&i) if self.defs[i].3 > m.pattern_index => self.defs[i] = (node, name, kind, m.pattern_index),
            Some(_) => {}
            None => {
                self.seen.insert(key, self.defs.len());
                self.defs.push((node, name, kind, m.pattern_index));
            }
        }
    }

    fn symbols(self, lang: Lang, text: &str) -> Symbols {
        let mut drafts: Vec<Draft> =
            self.defs.into_iter().filter_map(|(node, name, kind, _)| draft(lang, node, name, kind, text)).collect();
        nest(&mut drafts);
        Symbols::pack(drafts)
    }
}

/// The node that spans the whole definition, and its kind refined from the node's own type.
fn settle<'t>(lang: Lang, mut node: Node<'t>, kind: &'static str) -> Option<(Node<'t>, &'static str)> {
    let mut kind = kind;
    if matches!(lang, Lang::C | Lang::Cpp) && node.kind() == "function_declarator" {
        // The C grammars' tags mark the declarator; the definition is the function_definition around it, and a
        // declarator in a declaration is a prototype.
        let mut up = node;
        while let Some(p) = up.parent() {
            if p.kind().ends_with("declarator") {
                up = p;
                continue;
            }
            match p.kind() {
                "function_definition" => {
                    node = p;
                }
                "declaration" | "field_declaration" => {
                    node = p;
                    kind = "prototype";
                }
                _ => return None,
            }
            break;
        }
        // A pointer to function (a declarator inside parentheses) is not a definition.
        if node.kind() == "function_declarator" {
            return None;
        }
        if p_is_template(node) {
            node = node.parent().unwrap_or(node);
        }
    }
    let refined = match node.kind() {
        "struct_item" | "struct_specifier" | "struct_declaration" => "struct",
        "enum_item" | "enum_specifier" | "enum_declaration" => "enum",
        "union_item" | "union_specifier" => "union",
        "trait_item" => "trait",
        "type_item" | "type_definition" | "type_alias_declaration" | "alias_declaration" => "type",
        "interface_declaration" => "interface",
        "class_specifier" => "class",
        "type_spec" => match node.child_by_field_name("type").map(|t| t.kind()) {
            Some("struct_type") => "struct",
            Some("interface_type") => "interface",
            _ => "type",
        },
        "record_declaration" => "class",
        _ => kind,
    };
    let refined = if matches!(lang, Lang::Kotlin) && refined == "class" && kotlin_keyword(node) == Some("interface") {
        "interface"
    } else {
        refined
    };
    Some((node, refined))
}

fn p_is_template(node: Node) -> bool {
    node.parent().is_some_and(|p| p.kind() == "template_declaration")
}

fn kotlin_keyword(node: Node) -> Option<&'static str> {
    let mut c = node.walk();
    for child in node.children(&mut c) {
        match child.kind() {
            "interface" => return Some("interface"),
            "class" => return Some("class"),
            _ => {}
        }
    }
    None
}

fn draft(lang: Lang, node: Node, name: Node, kind: &'static str, text: &str) -> Option<Draft> {
    let raw = text.get(name.byte_range())?;
    let mut name_text = collapse(raw);
    if kind == "impl" {
        // `impl<T> Display for Foo<T>` is Foo's: methods in it are `Foo.method`.
        name_text = name_text.split('<').next().unwrap_or_default().trim().trim_start_matches('&').to_string();
    }
    if kind == "key" || kind == "table" {
        name_text = name_text.trim_matches(|c| c == '"' || c == '\'').to_string();
    }
    if name_text.is_empty() {
        return None;
    }
    // Python decorators belong to the definition: a body replaced whole carries them.
    let outer = match node.parent() {
        Some(p) if lang == Lang::Python && p.kind() == "decorated_definition" => p,
        _ => node,
    };
    let head = head_range(node, text, has_body(kind));
    let scope = match node.kind() {
        "method_declaration" if lang == Lang::Go => node
            .child_by_field_name("receiver")
            .and_then(|r| text.get(r.byte_range()))
            .and_then(|r| r.trim_matches(['(', ')']).split_whitespace().last())
            .map(|t| t.trim_start_matches('*').split('[').next().unwrap_or_default().to_string()),
        "function_definition" if matches!(lang, Lang::Cpp) => qualified_scope(node, text),
        _ => None,
    }
    .filter(|s| !s.is_empty());
    Some(Draft {
        name: name_text,
        kind,
        start_line: outer.start_position().row as u32 + 1,
        end_line: end_line(outer),
        name_line: name.start_position().row as u32 + 1,
        start_byte: outer.start_byte() as u32,
        end_byte: outer.end_byte() as u32,
        head_byte: node.start_byte() as u32,
        parent: None,
        depth: 0,
        scope,
        head,
    })
}

/// The scope of a C++ function defined out of line: `a::B` in `void a::B::f()`.
fn qualified_scope(node: Node, text: &str) -> Option<String> {
    let mut d = node.child_by_field_name("declarator")?;
    while d.kind() != "function_declarator" {
        d = d.child_by_field_name("declarator")?;
    }
    let q = d.child_by_field_name("declarator").filter(|q| q.kind() == "qualified_identifier")?;
    let full = text.get(q.byte_range())?;
    full.rsplit_once("::").map(|(scope, _)| scope.to_string())
}

/// Kinds whose head stops where their body starts; the others (fields, variants, keys) show their first line.
fn has_body(kind: &str) -> bool {
    !matches!(kind, "field" | "variant" | "key" | "constant" | "variable" | "property")
}

/// The last line a node covers: a node ending at column 0 ends on the line before.
fn end_line(node: Node) -> u32 {
    let end = node.end_position();
    let row = if end.column == 0 && end.row > node.start_position().row { end.row - 1 } else { end.row };
    row as u32 + 1
}

/// The byte range of a definition's head: from the first non-blank character of its line to its body (or the end
/// of its first line).
fn head_range(node: Node, text: &str, cut_at_body: bool) -> (u32, u32) {
    let bytes = text.as_bytes();
    let start = node.start_byte();
    let line_start = memchr::memrchr(b'\n', &bytes[..start]).map_or(0, |i| i + 1);
    let prefix = &text[line_start..start];
    // A definition that does not start its line shows the words before it (`export function`, `type Foo struct`),
    // not other code (`enum Mode { FAST, SLOW }`).
    let words = prefix.chars().all(|c| c.is_alphanumeric() || c == '_' || c.is_whitespace());
    let from = if words { line_start + (prefix.len() - prefix.trim_start().len()) } else { start };
    let first_line_end = memchr::memchr(b'\n', &bytes[start..]).map_or(text.len(), |i| start + i);
    let mut to = node
        .child_by_field_name("body")
        .filter(|_| cut_at_body)
        .map(|b| b.start_byte())
        .filter(|&b| b > start)
        .unwrap_or(first_line_end.min(node.end_byte()))
        .min(from + SIGNATURE_MAX * 4);
    while !text.is_char_boundary(to) {
        to -= 1;
    }
    (from as u32, to as u32)
}

/// A head as a signature: whitespace collapsed, at most `SIGNATURE_MAX` chars.
fn render_signature(head: &str) -> String {
    let mut s = collapse(head);
    for (a, b) in [("( ", "("), (" )", ")"), (", )", ")")] {
        s = s.replace(a, b);
    }
    let s = s.trim_end_matches(['{', ' ']).to_string();
    if s.chars().count() > SIGNATURE_MAX {
        let cut: String = s.chars().take(SIGNATURE_MAX - 1).collect();
        format!("{cut}…")
    } else {
        s
    }
}

fn collapse(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for w in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

/// Sorts by position and links each symbol to the innermost symbol containing it; a function inside a type is a
/// method. Data keys nested deeper than `KEY_DEPTH_MAX` are dropped.
fn nest(symbols: &mut Vec<Draft>) {
    symbols.sort_by_key(|s| (s.start_byte, std::cmp::Reverse(s.end_byte)));
    let mut stack: Vec<usize> = Vec::new();
    let mut keep = vec![true; symbols.len()];
    for i in 0..symbols.len() {
        while let Some(&top) = stack.last() {
            if symbols[top].start_byte <= symbols[i].start_byte && symbols[i].end_byte <= symbols[top].end_byte {
                break;
            }
            stack.pop();
        }
        let parent = stack.last().copied();
        symbols[i].parent = parent.map(|p| p as u32);
        symbols[i].depth = stack.len() as u16;
        if let Some(p) = parent {
            if symbols[i].kind == "function" && is_container_kind(symbols[p].kind) {
                symbols[i].kind = "method";
            }
            if !keep[p] {
                keep[i] = false;
            }
        }
        if matches!(symbols[i].kind, "key" | "table") && symbols[i].depth > KEY_DEPTH_MAX {
            keep[i] = false;
        }
        stack.push(i);
    }
    if keep.iter().all(|k| *k) {
        return;
    }
    let mut new_index = vec![u32::MAX; symbols.len()];
    let mut n = 0;
    for (i, k) in keep.iter().enumerate() {
        if *k {
            new_index[i] = n;
            n += 1;
        }
    }
    let mut i = 0;
    symbols.retain(|_| {
        i += 1;
        keep[i - 1]
    });
    for s in symbols.iter_mut() {
        s.parent = s.parent.map(|p| new_index[p as usize]);
    }
}

/// Leaf node kinds that name something in code, across the grammars. Comments and strings are other kinds.
pub(crate) fn is_identifier_kind(kind: &str) -> bool {
    kind.ends_with("identifier") || matches!(kind, "constant" | "name" | "word" | "variable_name" | "bare_key")
}

/// Every identifier leaf in the tree, calling `f(node)` in text order.
pub(crate) fn for_each_identifier<'t>(tree: &'t Tree, mut f: impl FnMut(Node<'t>)) {
    preorder(tree, |node| {
        if node.child_count() == 0 && node.is_named() && is_identifier_kind(node.kind()) {
            f(node);
        }
    });
}

fn count_ident<'a>(counts: &mut HashMap<&'a str, u32>, text: &'a str, node: Node) {
    if let Some(t) = text.get(node.byte_range())
        && t.len() > 1
        && t.len() <= IDENT_MAX
    {
        *counts.entry(t).or_default() += 1;
    }
}

/// The identifiers of a tree whose language has no tags query.
fn identifiers(tree: &Tree, text: &str) -> Vec<(String, u32)> {
    let mut counts: HashMap<&str, u32> = HashMap::new();
    for_each_identifier(tree, |node| count_ident(&mut counts, text, node));
    counts.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// The names of a symbol's containers, outermost first.
pub(crate) fn containers(symbols: &Symbols, i: usize) -> Vec<&str> {
    let mut chain = Vec::new();
    let mut at = i;
    loop {
        let s = symbols.get(at);
        if let Some(scope) = s.scope {
            chain.extend(scope.rsplit("::"));
        }
        match s.parent {
            Some(j) => {
                at = j as usize;
                chain.push(symbols.get(at).name);
            }
            None => break,
        }
    }
    chain.reverse();
    chain
}

/// `Class.method` as the model sees it.
pub(crate) fn qualified(symbols: &Symbols, i: usize) -> String {
    let mut chain = containers(symbols, i);
    chain.push(symbols.get(i).name);
    chain.join(".")
}

/// A name as the model sends it: `name`, or a path such as `Class.method`, `mod::Type::f`, `Class#method`.
pub(crate) struct NameQuery {
    whole: String,
    segments: Vec<String>,
}

impl NameQuery {
    pub(crate) fn new(q: &str) -> NameQuery {
        let q = q.trim();
        let segments: Vec<String> =
            q.replace("::", ".").split(['.', '#']).filter(|s| !s.is_empty()).map(str::to_string).collect();
        NameQuery { whole: q.to_string(), segments }
    }

    /// The last segment: the symbol's own name.
    pub(crate) fn last(&self) -> &str {
        self.segments.last().map_or(self.whole.as_str(), String::as_str)
    }

    pub(crate) fn matches(&self, symbols: &Symbols, i: usize) -> bool {
        let s = symbols.get(i);
        if s.name == self.whole {
            return true;
        }
        if self.segments.len() < 2 || s.name != self.last() {
            return false;
        }
        let chain = containers(symbols, i);
        let want = &self.segments[..self.segments.len() - 1];
        chain.len() >= want.len() && chain[chain.len() - want.len()..].iter().zip(want).all(|(a, b)| a == b)
    }
}

/// A path that holds tests rather than the code under test: ranked after source.
pub(crate) fn is_test_path(rel: &str) -> bool {
    let lower = rel.to_ascii_lowercase();
    let file = lower.rsplit('/').next().unwrap_or(&lower);
    lower.split('/').rev().skip(1).any(|d| matches!(d, "test" | "tests" | "spec" | "specs" | "testing" | "__tests__"))
        || file.starts_with("test_")
        || file.starts_with("conftest.")
        || file.contains("_test.")
        || file.contains(".test.")
        || file.contains(".spec.")
        || file.contains("_spec.")
        || file.ends_with("test.java")
        || file.ends_with("tests.cs")
        || file.ends_with("test.kt")
}

/// Up to `n` names from `names` closest to `want`: same name in another case, containing it, or a few edits away.
pub(crate) fn closest<'a>(want: &str, names: impl IntoIterator<Item = &'a str>, n: usize) -> Vec<&'a str> {
    let w = want.to_lowercase();
    let mut scored: Vec<(usize, usize, &str)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for name in names {
        if !seen.insert(name) {
            continue;
        }
        let l = name.to_lowercase();
        let score = if l == w {
            0
        } else if l.contains(&w) || (w.contains(&l) && l.len() > 2) {
            1 + l.len().abs_diff(w.len()).min(20)
        } else {
            let d = edit_distance(&l, &w, 3);
            if d > 2.max(w.len() / 4) {
                continue;
            }
            10 + d
        };
        scored.push((score, edit_distance(name, want, 9), name));
    }
    scored.sort();
    scored.into_iter().take(n).map(|(_, _, s)| s).collect()
}

/// Levenshtein distance, giving up (returning `cap + 1`) once it exceeds `cap`.
fn edit_distance(a: &str, b: &str, cap: usize) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > cap {
        return cap + 1;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        if cur.iter().min().copied().unwrap_or(0) > cap {
            return cap + 1;
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tags_query_compiles() {
        for lang in Lang::ALL {
            if lang != Lang::Html {
                assert!(supported(lang), "{}", lang.name());
            }
        }
    }

    #[test]
    fn every_tags_query_runs_at_its_roots() {
        let whole: Vec<&str> =
            Lang::ALL.iter().filter(|&&l| compiled(l).is_some_and(|c| c.roots.is_none())).map(|l| l.name()).collect();
        assert_eq!(whole, Vec::<&str>::new(), "these tags queries run over whole trees");
    }

    #[test]
    fn names_match_plain_and_qualified() {
        let e = extract(Lang::Rust, "struct Foo;\nimpl Foo {\n    fn new() -> Self { Foo }\n}\nfn new() {}\n");
        let q = NameQuery::new("Foo::new");
        let hits: Vec<u32> =
            (0..e.symbols.len()).filter(|&i| q.matches(&e.symbols, i)).map(|i| e.symbols.get(i).start_line).collect();
        assert_eq!(hits, [3]);
        let all = NameQuery::new("new");
        assert_eq!((0..e.symbols.len()).filter(|&i| all.matches(&e.symbols, i)).count(), 2);
    }

    #[test]
    fn closest_names() {
        assert_eq!(
            closest("parse_cofig", ["parse_config", "render", "Parse_Config"], 3),
            ["parse_config", "Parse_Config"]
        );
    }
}
