//! The languages the gate knows, and which one a path (or a shebang) is.

/// The languages the gate knows. Markdown is deliberately absent: its grammars never report errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    Rust,
    Python,
    JavaScript,
    TypeScript,
    Tsx,
    Go,
    C,
    Cpp,
    Java,
    CSharp,
    Ruby,
    Php,
    Kotlin,
    Swift,
    Bash,
    Json,
    Toml,
    Yaml,
    Html,
    Css,
}

impl Lang {
    /// Every language, in declaration order; the index of a language here is its parser slot.
    pub const ALL: [Lang; 20] = [
        Lang::Rust,
        Lang::Python,
        Lang::JavaScript,
        Lang::TypeScript,
        Lang::Tsx,
        Lang::Go,
        Lang::C,
        Lang::Cpp,
        Lang::Java,
        Lang::CSharp,
        Lang::Ruby,
        Lang::Php,
        Lang::Kotlin,
        Lang::Swift,
        Lang::Bash,
        Lang::Json,
        Lang::Toml,
        Lang::Yaml,
        Lang::Html,
        Lang::Css,
    ];

    /// Detects the language by extension first (case-insensitive), then by well-known file names, then by shebang.
    ///
    /// Files whose format only looks like a gated language return `None`, because a false refusal costs more than
    /// a missed check: JSONC files such as `tsconfig.json` (trailing commas are legal there), lock files other than
    /// the TOML ones, and `.h` headers are sniffed for C++ before being treated as C.
    pub fn detect(path: &str, text: &str) -> Option<Lang> {
        let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
        let lower = name.to_ascii_lowercase();
        if is_jsonc_name(&lower) {
            return None;
        }
        if let Some(lang) = by_file_name(&lower) {
            return Some(lang);
        }
        let ext = match lower.rfind('.') {
            // A leading dot alone (".bashrc") is a hidden file, not an extension; those were handled by name.
            Some(0) | None => "",
            Some(i) => &lower[i + 1..],
        };
        let by_ext = match ext {
            "rs" => Some(Lang::Rust),
            "py" | "pyi" | "pyw" => Some(Lang::Python),
            "js" | "mjs" | "cjs" | "jsx" => Some(Lang::JavaScript),
            "ts" | "mts" | "cts" => Some(Lang::TypeScript),
            "tsx" => Some(Lang::Tsx),
            "go" => Some(Lang::Go),
            "c" => Some(Lang::C),
            "h" => Some(if looks_like_cpp(text) { Lang::Cpp } else { Lang::C }),
            "cc" | "cpp" | "cxx" | "c++" | "hpp" | "hh" | "hxx" | "h++" | "ipp" | "tpp" => Some(Lang::Cpp),
            "java" => Some(Lang::Java),
            "cs" => Some(Lang::CSharp),
            "rb" | "rake" | "gemspec" | "ru" => Some(Lang::Ruby),
            "php" | "phtml" => Some(Lang::Php),
            "kt" | "kts" => Some(Lang::Kotlin),
            "swift" => Some(Lang::Swift),
            "sh" | "bash" => Some(Lang::Bash),
            "json" => Some(Lang::Json),
            "toml" => Some(Lang::Toml),
            "yaml" | "yml" => Some(Lang::Yaml),
            "html" | "htm" | "xhtml" => Some(Lang::Html),
            "css" => Some(Lang::Css),
            // Any other extension names a format we do not parse; a shebang must not override it (a `.txt` that
            // happens to start with `#!` is still text).
            "" => None,
            _ => return None,
        };
        by_ext.or_else(|| by_shebang(text))
    }

    /// A human-readable name, as used in refusals.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
            Lang::JavaScript => "JavaScript",
            Lang::TypeScript => "TypeScript",
            Lang::Tsx => "TSX",
            Lang::Go => "Go",
            Lang::C => "C",
            Lang::Cpp => "C++",
            Lang::Java => "Java",
            Lang::CSharp => "C#",
            Lang::Ruby => "Ruby",
            Lang::Php => "PHP",
            Lang::Kotlin => "Kotlin",
            Lang::Swift => "Swift",
            Lang::Bash => "Bash",
            Lang::Json => "JSON",
            Lang::Toml => "TOML",
            Lang::Yaml => "YAML",
            Lang::Html => "HTML",
            Lang::Css => "CSS",
        }
    }

    pub(super) fn slot(self) -> usize {
        Lang::ALL.iter().position(|&l| l == self).unwrap_or(0)
    }

    /// The tree-sitter grammar of this language.
    pub fn grammar(self) -> tree_sitter::Language {
        match self {
            Lang::Rust => tree_sitter_rust::LANGUAGE.into(),
            Lang::Python => tree_sitter_python::LANGUAGE.into(),
            Lang::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            Lang::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            Lang::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
            Lang::Go => tree_sitter_go::LANGUAGE.into(),
            Lang::C => tree_sitter_c::LANGUAGE.into(),
            Lang::Cpp => tree_sitter_cpp::LANGUAGE.into(),
            Lang::Java => tree_sitter_java::LANGUAGE.into(),
            Lang::CSharp => tree_sitter_c_sharp::LANGUAGE.into(),
            Lang::Ruby => tree_sitter_ruby::LANGUAGE.into(),
            // The full PHP grammar, not PHP_ONLY: real PHP files mix in HTML outside `<?php … ?>`.
            Lang::Php => tree_sitter_php::LANGUAGE_PHP.into(),
            Lang::Kotlin => tree_sitter_kotlin_ng::LANGUAGE.into(),
            Lang::Swift => tree_sitter_swift::LANGUAGE.into(),
            Lang::Bash => tree_sitter_bash::LANGUAGE.into(),
            Lang::Json => tree_sitter_json::LANGUAGE.into(),
            Lang::Toml => tree_sitter_toml_ng::LANGUAGE.into(),
            Lang::Yaml => tree_sitter_yaml::LANGUAGE.into(),
            Lang::Html => tree_sitter_html::LANGUAGE.into(),
            Lang::Css => tree_sitter_css::LANGUAGE.into(),
        }
    }
}

/// Well-known file names without a telling extension. `lower` is the lowercased base name.
fn by_file_name(lower: &str) -> Option<Lang> {
    match lower {
        // These lock files are TOML; other lock files (yarn.lock, Gemfile.lock, …) are formats of their own.
        "cargo.lock" | "poetry.lock" | "uv.lock" | "pdm.lock" | "pipfile" => Some(Lang::Toml),
        ".bashrc" | ".bash_profile" | ".bash_login" | ".bash_logout" | ".bash_aliases" | ".profile" | "pkgbuild" => {
            Some(Lang::Bash)
        }
        "gemfile" | "rakefile" | "guardfile" | "podfile" | "vagrantfile" | "brewfile" | "fastfile" | "appfile"
        | "dangerfile" | "capfile" | "berksfile" | "thorfile" => Some(Lang::Ruby),
        _ => None,
    }
}

/// True for file names whose JSON is really JSONC, where trailing commas are legal and the JSON grammar would refuse
/// them; `detect` must not fall through to the `.json` extension for these.
fn is_jsonc_name(lower: &str) -> bool {
    matches!(lower, "tsconfig.json" | "jsconfig.json" | ".eslintrc.json" | "devcontainer.json" | ".devcontainer.json")
        || (lower.starts_with("tsconfig.") && lower.ends_with(".json"))
}

/// A cheap sniff for C++ in a `.h` header: parsing C++ with the C grammar would refuse valid edits.
fn looks_like_cpp(text: &str) -> bool {
    let head = text.get(..text.len().min(64 * 1024)).unwrap_or(text);
    ["namespace ", "template <", "template<", "class ", "public:", "private:", "std::", "#include <iostream>", "::"]
        .iter()
        .any(|marker| head.contains(marker))
}

/// The language named by a `#!` line, if any: `#!/usr/bin/env python3`, `#!/bin/bash`, `#!/usr/bin/env -S node …`.
fn by_shebang(text: &str) -> Option<Lang> {
    let first = text.lines().next()?.strip_prefix("#!")?;
    let mut words = first.split_whitespace();
    let mut program = words.next()?.rsplit('/').next()?;
    if program == "env" {
        // `env` may carry flags (-S, -i) and VAR=value assignments before the interpreter.
        program = words.find(|w| !w.starts_with('-') && !w.contains('='))?;
        program = program.rsplit('/').next()?;
    }
    // Version suffixes (python3.12, ruby2.7, php8) do not change the language.
    let base = program.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.' || c == '-');
    match base {
        "python" | "pypy" => Some(Lang::Python),
        "bash" | "sh" | "dash" | "ksh" => Some(Lang::Bash),
        "node" | "nodejs" | "bun" => Some(Lang::JavaScript),
        "ts-node" | "tsx" | "deno" => Some(Lang::TypeScript),
        "ruby" => Some(Lang::Ruby),
        "php" => Some(Lang::Php),
        _ => None,
    }
}
