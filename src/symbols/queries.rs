//! The tags query of each language: the grammar crate's own `TAGS_QUERY` where it exports one, with additions
//! where it misses definitions a model looks for (Rust impl blocks and constants, C/C++ macros and namespaces,
//! Java enums and constructors, TypeScript enums and type aliases), and queries written here for the grammars
//! that export none (Kotlin, Bash, TOML, YAML, JSON, CSS). Only `@definition.*` and `@name` captures are used;
//! the `@reference.*` patterns are disabled when the query is compiled.

use crate::syntax::Lang;

const RUST_EXTRA: &str = r#"
(impl_item type: (_) @name) @definition.impl
(const_item name: (identifier) @name) @definition.constant
(static_item name: (identifier) @name) @definition.constant
(enum_variant name: (identifier) @name) @definition.variant
(field_declaration name: (field_identifier) @name) @definition.field
(function_signature_item name: (identifier) @name) @definition.method
"#;

const C_EXTRA: &str = r#"
(preproc_def name: (identifier) @name) @definition.macro
(preproc_function_def name: (identifier) @name) @definition.macro
"#;

const CPP_EXTRA: &str = r#"
(preproc_def name: (identifier) @name) @definition.macro
(preproc_function_def name: (identifier) @name) @definition.macro
(namespace_definition name: (namespace_identifier) @name) @definition.module
(function_declarator declarator: (qualified_identifier name: (identifier) @name)) @definition.method
(function_declarator declarator: (destructor_name) @name) @definition.method
(function_declarator declarator: (operator_name) @name) @definition.method
"#;

const JAVA_EXTRA: &str = r#"
(enum_declaration name: (identifier) @name) @definition.enum
(record_declaration name: (identifier) @name) @definition.class
(annotation_type_declaration name: (identifier) @name) @definition.interface
(constructor_declaration name: (identifier) @name) @definition.constructor
(enum_constant name: (identifier) @name) @definition.variant
"#;

/// An object literal holding functions is a namespace of methods (ctags calls it a class).
const JS_EXTRA: &str = r#"
(variable_declarator name: (identifier) @name value: (object (pair value: [(function_expression) (arrow_function)]))) @definition.object
"#;

const TS_EXTRA: &str = r#"
(class_declaration name: (type_identifier) @name) @definition.class
(type_alias_declaration name: (type_identifier) @name) @definition.type
(enum_declaration name: (identifier) @name) @definition.enum
(internal_module name: (identifier) @name) @definition.module
(public_field_definition name: (property_identifier) @name) @definition.field
"#;

const CSHARP_EXTRA: &str = r#"
(struct_declaration name: (identifier) @name) @definition.struct
(enum_declaration name: (identifier) @name) @definition.enum
(record_declaration name: (identifier) @name) @definition.class
(constructor_declaration name: (identifier) @name) @definition.constructor
(property_declaration name: (identifier) @name) @definition.property
"#;

const KOTLIN: &str = r#"
(class_declaration name: (identifier) @name) @definition.class
(object_declaration name: (identifier) @name) @definition.object
(companion_object name: (identifier) @name) @definition.object
(function_declaration name: (identifier) @name) @definition.function
(property_declaration (variable_declaration (identifier) @name)) @definition.property
(type_alias type: (identifier) @name) @definition.type
(enum_entry (identifier) @name) @definition.variant
"#;

const BASH: &str = r#"
(function_definition name: (word) @name) @definition.function
(program (variable_assignment name: (variable_name) @name) @definition.variable)
(program (declaration_command (variable_assignment name: (variable_name) @name)) @definition.variable)
"#;

const TOML: &str = r#"
(table [(bare_key) (dotted_key) (quoted_key)] @name) @definition.table
(table_array_element [(bare_key) (dotted_key) (quoted_key)] @name) @definition.table
(document (pair [(bare_key) (dotted_key) (quoted_key)] @name) @definition.key)
(table (pair [(bare_key) (dotted_key) (quoted_key)] @name) @definition.key)
(table_array_element (pair [(bare_key) (dotted_key) (quoted_key)] @name) @definition.key)
"#;

const YAML: &str = r#"
(block_mapping_pair key: (flow_node) @name) @definition.key
"#;

const JSON: &str = r#"
(pair key: (string) @name) @definition.key
"#;

const CSS: &str = r#"
(rule_set (selectors) @name) @definition.rule
(keyframes_statement (keyframes_name) @name) @definition.rule
"#;

/// The query source for `lang`, or None for a language with no definitions worth listing (HTML).
pub(super) fn source(lang: Lang) -> Option<String> {
    let q = match lang {
        Lang::Rust => format!("{}\n{RUST_EXTRA}", tree_sitter_rust::TAGS_QUERY),
        Lang::Python => tree_sitter_python::TAGS_QUERY.to_string(),
        Lang::JavaScript => format!("{}\n{JS_EXTRA}", tree_sitter_javascript::TAGS_QUERY),
        Lang::TypeScript | Lang::Tsx => {
            let (js, ts) = (tree_sitter_javascript::TAGS_QUERY, tree_sitter_typescript::TAGS_QUERY);
            format!("{js}\n{ts}\n{JS_EXTRA}\n{TS_EXTRA}")
        }
        Lang::Go => tree_sitter_go::TAGS_QUERY.to_string(),
        Lang::C => format!("{}\n{C_EXTRA}", tree_sitter_c::TAGS_QUERY),
        Lang::Cpp => format!("{}\n{CPP_EXTRA}", tree_sitter_cpp::TAGS_QUERY),
        Lang::Java => format!("{}\n{JAVA_EXTRA}", tree_sitter_java::TAGS_QUERY),
        Lang::CSharp => format!("{}\n{CSHARP_EXTRA}", tree_sitter_c_sharp::TAGS_QUERY),
        Lang::Ruby => tree_sitter_ruby::TAGS_QUERY.to_string(),
        Lang::Php => tree_sitter_php::TAGS_QUERY.to_string(),
        Lang::Swift => tree_sitter_swift::TAGS_QUERY.to_string(),
        Lang::Kotlin => KOTLIN.to_string(),
        Lang::Bash => BASH.to_string(),
        Lang::Toml => TOML.to_string(),
        Lang::Yaml => YAML.to_string(),
        Lang::Json => JSON.to_string(),
        Lang::Css => CSS.to_string(),
        Lang::Html => return None,
    };
    Some(definition_patterns(&q))
}

/// The patterns of a query source that capture a `@definition.*`: the grammars' tags queries also find references,
/// which codebox does not use, and compiling those patterns costs more than the rest (a tenth of a second for some).
/// The source is kept whole when it cannot be split.
fn definition_patterns(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut rest = skip_blank(src);
    while !rest.is_empty() {
        if !matches!(rest.as_bytes()[0], b'(' | b'[' | b'"') {
            return src.to_string();
        }
        let Some(end) = closing(rest, 0) else { return src.to_string() };
        // The pattern's own captures and quantifier follow it, up to the next pattern.
        let next = rest[end..].find(['(', '[', '"', ';']).map_or(rest.len(), |i| end + i);
        let pattern = &rest[..next];
        if pattern.contains("@definition.") {
            out.push_str(pattern.trim_end());
            out.push('\n');
        }
        rest = skip_blank(&rest[next..]);
    }
    out
}

/// The node kinds a query pattern's text starts at: `(kind ...)`, each alternative of `[(a ...) (b ...)]`, or in
/// a group `((comment)* @doc . (kind ...) (#pred ...))` its one required item (a match that starts
/// at an optional item also starts, without it, at that one). None for anything else (a wildcard, a supertype, an
/// anonymous node, a group of several required siblings).
pub(super) fn root_kinds(pattern: &str) -> Option<Vec<&str>> {
    let p = skip_blank(pattern);
    match p.as_bytes().first()? {
        b'(' if matches!(skip_blank(&p[1..]).as_bytes().first(), Some(b'(' | b'[')) => {
            // Run at one node, the query sees neither that node's siblings nor its parent's: every other item
            // must be optional (before it) or a predicate.
            let nodes: Vec<(&str, u8)> = items(p)?.into_iter().filter(|(item, _)| !item.starts_with("(#")).collect();
            let (last, optional) = nodes.split_last()?;
            if last.1 != 0 || optional.iter().any(|(_, q)| !matches!(q, b'*' | b'?')) {
                return None;
            }
            root_kinds(last.0)
        }
        b'(' => {
            let rest = skip_blank(&p[1..]);
            let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
            let name = &rest[..end];
            (!name.is_empty() && name != "_" && !rest[end..].starts_with('/')).then(|| vec![name])
        }
        b'[' => {
            let mut out = Vec::new();
            for (item, _) in items(p)? {
                out.extend(root_kinds(item)?);
            }
            (!out.is_empty()).then_some(out)
        }
        _ => None,
    }
}

/// Skips whitespace and `;` comments.
fn skip_blank(mut s: &str) -> &str {
    loop {
        s = s.trim_start();
        match s.strip_prefix(';') {
            Some(rest) => s = rest.find('\n').map_or("", |i| &rest[i..]),
            None => return s,
        }
    }
}

/// The items directly inside the bracketed expression `s` starts with, each with the quantifier after it (or 0).
fn items(s: &str) -> Option<Vec<(&str, u8)>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 1;
    loop {
        i = s.len() - skip_blank(&s[i..]).len();
        match *b.get(i)? {
            b')' | b']' => return Some(out),
            b'(' | b'[' | b'"' => {
                let end = closing(s, i)?;
                out.push((&s[i..end], b.get(end).copied().filter(|q| b"*+?".contains(q)).unwrap_or(0)));
                i = end;
            }
            // Captures, anchors, quantifiers, field names: not items.
            _ => i += s[i..].find(|c: char| c.is_whitespace() || "()[]\";".contains(c)).unwrap_or(1).max(1),
        }
    }
}

/// The end (exclusive) of the bracketed expression or string at `start`.
fn closing(s: &str, start: usize) -> Option<usize> {
    let b = s.as_bytes();
    if b[start] == b'"' {
        let mut i = start + 1;
        while i < b.len() {
            match b[i] {
                b'\\' => i += 2,
                b'"' => return Some(i + 1),
                _ => i += 1,
            }
        }
        return None;
    }
    let mut depth = 0usize;
    let mut i = start;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i = closing(s, i)?;
                continue;
            }
            b';' => {
                i = s.len() - skip_blank(&s[i..]).len();
                continue;
            }
            b'(' | b'[' => depth += 1,
            b')' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_kinds_of_patterns() {
        assert_eq!(
            root_kinds("(function_item name: (identifier) @name) @definition.function"),
            Some(vec!["function_item"])
        );
        assert_eq!(
            root_kinds("[(class_declaration) ; a comment (x\n (interface_declaration \"[\")]"),
            Some(vec!["class_declaration", "interface_declaration"])
        );
        assert_eq!(root_kinds("(_ name: (identifier) @name)"), None);
        assert_eq!(root_kinds("(declaration/identifier)"), None);
        assert_eq!(root_kinds("\"fn\" @keyword"), None);
        assert_eq!(root_kinds("[\"fn\" (x)]"), None);
    }

    #[test]
    fn only_definition_patterns_are_kept() {
        let src = "; refs\n(call_expression function: (identifier) @name) @reference.call\n((comment)* @doc . (function_declaration name: (identifier) @name) @definition.function (#strip! @doc \"x\"))\n[(a) (b)] @name @definition.thing\n";
        assert_eq!(
            definition_patterns(src),
            "((comment)* @doc . (function_declaration name: (identifier) @name) @definition.function (#strip! @doc \"x\"))\n[(a) (b)] @name @definition.thing\n"
        );
        assert_eq!(definition_patterns("(unclosed"), "(unclosed");
    }
}
