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
    Some(q)
}
