//! Forgiving arguments: the calls models actually make, brought to the shape a tool's input schema states before
//! serde reads them. One pass, driven by the tool's own (portable) schema, for every tool:
//!
//! - `null` for an optional field is the field left out;
//! - a number or a boolean sent as a string (`"50"`, `"true"`) is the number or the boolean;
//! - a JSON list or object sent as a string (`"[{…}]"`) is the list or the object;
//! - one item where a list is expected is a list of that item; a list item's fields given at the top level
//!   (edit_file with `old_string`/`new_string` and no `edits`) are that one item;
//! - a comma-separated `glob` is a list of globs (outside `{a,b}` braces);
//! - names from other tools' vocabularies (`file_path`, `old_str`, `cmd`, camelCase) are the field they mean;
//! - an enum value in another case is the value.
//!
//! Nothing ambiguous is guessed: a string that is not a number stays a string (serde names the field), an alias
//! sent together with its field is refused unless both say the same, and an unknown field is refused naming the
//! closest known one. The aliases never appear in a schema.

use serde_json::{Map, Value};

/// Names models send, from other tools' vocabularies, and the field each means. Applied only when the tool has
/// that field; an alias with two possible fields in one tool is left alone.
const ALIASES: &[(&str, &str)] = &[
    ("file_path", "path"),
    ("filepath", "path"),
    ("file", "path"),
    ("filename", "path"),
    ("test_path", "path"),
    ("directory", "path"),
    ("dir", "path"),
    ("old_str", "old_string"),
    ("old_text", "old_string"),
    ("new_str", "new_string"),
    ("new_text", "new_string"),
    ("cmd", "command"),
    ("query", "pattern"),
    ("regex", "pattern"),
    ("job_id", "id"),
    ("commit_message", "message"),
    ("branch", "name"),
    ("contents", "content"),
    ("file_text", "content"),
    ("include", "glob"),
    ("output_mode", "output"),
    ("head_limit", "max_results"),
    ("input", "patch"),
    ("input", "text"),
    ("diff", "patch"),
];

/// Enum values other tools use for the same choice (Claude Code's Grep `output_mode`).
const VALUE_ALIASES: &[(&str, &str)] = &[("files_with_matches", "files")];

/// Properties whose string is a comma-separated list (globs never contain a comma outside braces).
const COMMA_LISTS: &[&str] = &["glob"];

/// Normalises `args` in place against `schema` (a tool's input schema). Err: a message naming the field.
pub(super) fn normalize(args: &mut Map<String, Value>, schema: &Map<String, Value>) -> Result<(), String> {
    // A tool without parameters has no `properties` at all; its arguments are still checked against none.
    static NONE: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    let props = props(schema).unwrap_or_else(|| NONE.get_or_init(Map::new));
    object_with(args, props, "")
}

fn props(schema: &Map<String, Value>) -> Option<&Map<String, Value>> {
    schema.get("properties").and_then(Value::as_object)
}

fn object(obj: &mut Map<String, Value>, schema: &Map<String, Value>, at: &str) -> Result<(), String> {
    let Some(props) = props(schema) else { return Ok(()) };
    object_with(obj, props, at)
}

/// `object` with the schema's properties at hand.
fn object_with(obj: &mut Map<String, Value>, props: &Map<String, Value>, at: &str) -> Result<(), String> {
    obj.retain(|_, v| !v.is_null());
    rename_aliases(obj, props, at)?;
    fold_single_item(obj, props);
    if let Some(unknown) = obj.keys().find(|k| !props.contains_key(*k)) {
        let mut known: Vec<&str> = props.keys().map(String::as_str).collect();
        known.sort_unstable();
        let hint = match closest(unknown, &known) {
            Some(c) => format!("; did you mean `{c}`?"),
            None => String::new(),
        };
        let fields = if known.is_empty() { "none".to_string() } else { known.join(", ") };
        return Err(format!("{at}unknown field `{unknown}`{hint} (fields: {fields})"));
    }
    for (name, v) in obj.iter_mut() {
        if let Some(Value::Object(s)) = props.get(name) {
            // Where the value sits, for messages about it or its parts: needed only by containers and choices,
            // so a plain scalar (most of every call) costs no formatting.
            let container = matches!(s.get("type").and_then(Value::as_str), Some("array" | "object"));
            let needs_at = container || matches!(v, Value::Array(_) | Value::Object(_)) || s.contains_key("enum");
            let sub_at = if needs_at { format!("{at}{name}.") } else { String::new() };
            value(v, s, name, &sub_at)?;
        }
    }
    Ok(())
}

/// `file_path` → `path`, `oldString` → `old_string`, `maxResults` → `max_results`.
fn rename_aliases(obj: &mut Map<String, Value>, props: &Map<String, Value>, at: &str) -> Result<(), String> {
    let keys: Vec<String> = obj.keys().filter(|k| !props.contains_key(*k)).cloned().collect();
    for key in keys {
        let flat = flatten(&key);
        let mut targets: Vec<&str> =
            ALIASES.iter().filter(|(a, t)| flatten(a) == flat && props.contains_key(*t)).map(|(_, t)| *t).collect();
        if targets.is_empty() {
            // The same name in another case or separator style: `maxResults`, `max-results`.
            targets = props.keys().filter(|p| flatten(p) == flat).map(String::as_str).collect();
        }
        targets.sort_unstable();
        targets.dedup();
        let [target] = targets[..] else { continue };
        let v = obj.remove(&key).unwrap_or(Value::Null);
        match obj.get(target) {
            Some(existing) if *existing != v => {
                return Err(format!(
                    "{at}both `{key}` and `{target}` given, with different values; send only `{target}`"
                ));
            }
            _ => {
                obj.insert(target.to_string(), v);
            }
        }
    }
    Ok(())
}

/// Lower case without `_` and `-`: the form two spellings of one name share.
fn flatten(name: &str) -> String {
    name.chars().filter(|c| *c != '_' && *c != '-').flat_map(char::to_lowercase).collect()
}

/// When a required list of objects is missing and the top level holds fields that only its items have, those
/// fields are its one item (Claude Code's Edit sends `old_string`/`new_string` beside `path`).
fn fold_single_item(obj: &mut Map<String, Value>, props: &Map<String, Value>) {
    for (name, s) in props {
        if obj.contains_key(name) || s.get("type") != Some(&Value::from("array")) {
            continue;
        }
        let Some(item_props) = s.get("items").and_then(|i| i.as_object()).and_then(props_of) else { continue };
        let stray: Vec<String> = obj
            .keys()
            .filter(|k| !props.contains_key(*k))
            .filter(|k| {
                item_props.keys().any(|p| flatten(p) == flatten(k))
                    || ALIASES.iter().any(|(a, t)| flatten(a) == flatten(k) && item_props.contains_key(*t))
            })
            .cloned()
            .collect();
        if stray.is_empty() {
            continue;
        }
        let item: Map<String, Value> = stray.iter().filter_map(|k| obj.remove_entry(k)).collect();
        obj.insert(name.clone(), Value::Array(vec![Value::Object(item)]));
        return;
    }
}

fn props_of(schema: &Map<String, Value>) -> Option<&Map<String, Value>> {
    props(schema)
}

fn value(v: &mut Value, schema: &Map<String, Value>, name: &str, at: &str) -> Result<(), String> {
    let ty = schema.get("type").and_then(Value::as_str).unwrap_or("");
    match (ty, &*v) {
        ("integer", Value::String(s)) => {
            if let Ok(n) = s.trim().parse::<i64>() {
                *v = n.into();
            } else if let Ok(n) = s.trim().parse::<u64>() {
                *v = n.into();
            }
        }
        ("integer", Value::Number(n)) => {
            // 50.0 is 50; 50.5 is left for serde to refuse.
            if let Some(f) = n.as_f64().filter(|f| n.is_f64() && f.fract() == 0.0 && f.abs() < 9e15) {
                *v = (f as i64).into();
            }
        }
        ("number", Value::String(s)) => {
            if let Some(n) = s.trim().parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
                *v = Value::Number(n);
            }
        }
        ("boolean", Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => *v = true.into(),
            "false" => *v = false.into(),
            _ => {}
        },
        // Codex sends a command as an argv: `["bash", "-lc", "cargo test"]` is that script; any other argv is
        // quoted word by word, so bash runs exactly that program with exactly those arguments.
        ("string", Value::Array(words)) if name == "command" && words.iter().all(Value::is_string) => {
            let words: Vec<&str> = words.iter().filter_map(Value::as_str).collect();
            *v = Value::String(match words[..] {
                ["bash" | "sh", "-c" | "-lc", script] => script.to_string(),
                _ => words.iter().map(|w| shell_quote(w)).collect::<Vec<_>>().join(" "),
            });
        }
        ("array" | "object", Value::String(s)) => {
            let t = s.trim();
            if (t.starts_with('[') || t.starts_with('{'))
                && let Ok(parsed) = serde_json::from_str::<Value>(t)
            {
                *v = parsed;
            }
        }
        _ => {}
    }
    if let Some(Value::Array(allowed)) = schema.get("enum")
        && let Value::String(s) = &*v
        && !allowed.contains(v)
    {
        let s = VALUE_ALIASES.iter().find(|(a, _)| a.eq_ignore_ascii_case(s.trim())).map_or(s.trim(), |(_, to)| *to);
        let same: Vec<&Value> =
            allowed.iter().filter(|a| a.as_str().is_some_and(|a| a.eq_ignore_ascii_case(s))).collect();
        if let [one] = same[..] {
            *v = one.clone();
        } else {
            let listed: Vec<&str> = allowed.iter().filter_map(Value::as_str).collect();
            return Err(format!("{} {s:?} is not one of {}", at.trim_end_matches('.'), listed.join(", ")));
        }
    }
    match ty {
        "array" => {
            let item = schema.get("items").and_then(Value::as_object);
            if !v.is_array() {
                let one = std::mem::take(v);
                *v = match one {
                    Value::String(s) if COMMA_LISTS.contains(&name) => Value::Array(split_commas(&s)),
                    Value::Null => Value::Null,
                    other => Value::Array(vec![other]),
                };
            }
            if let (Some(item), Value::Array(items)) = (item, v) {
                for (i, it) in items.iter_mut().enumerate() {
                    value(it, item, name, &format!("{at}[{i}]."))?;
                }
            }
        }
        "object" => {
            if let Value::Object(o) = v {
                object(o, schema, at)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// One word for bash: unchanged when it holds only safe characters, else in single quotes.
fn shell_quote(w: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !w.is_empty() && w.chars().all(safe) { w.to_string() } else { format!("'{}'", w.replace('\'', "'\\''")) }
}

/// `*.py,*.txt` → ["*.py", "*.txt"]; commas inside `{a,b}` belong to the glob.
fn split_commas(s: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let (mut depth, mut cur) = (0i32, String::new());
    for c in s.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth <= 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter().map(|g| g.trim().to_string()).filter(|g| !g.is_empty()).map(Value::String).collect()
}

/// The known field closest to `name` by edit distance, when it is close enough to be the one meant.
fn closest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    let flat = flatten(name);
    known
        .iter()
        .map(|k| (distance(&flat, &flatten(k)), *k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(2) || flatten(k).contains(&flat) || flat.contains(&flatten(k)))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push((prev[j] + usize::from(ca != cb)).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Map<String, Value> {
        json!({"type": "object", "properties": {
            "path": {"type": "string"},
            "limit": {"type": "integer"},
            "flag": {"type": "boolean"},
            "case": {"type": "string", "enum": ["smart", "sensitive"]},
            "output": {"type": "string", "enum": ["content", "files", "count"]},
            "command": {"type": "string"},
            "glob": {"type": "array", "items": {"type": "string"}},
            "edits": {"type": "array", "items": {"type": "object", "properties": {
                "old_string": {"type": "string"}, "new_string": {"type": "string"}}}}
        }})
        .as_object()
        .unwrap()
        .clone()
    }

    #[track_caller]
    fn check(args: Value, want: Value) {
        let mut a = args.as_object().unwrap().clone();
        normalize(&mut a, &schema()).unwrap();
        assert_eq!(Value::Object(a), want);
    }

    #[test]
    fn forgives_what_is_unambiguous() {
        check(
            json!({"file_path": "a", "limit": "50", "flag": "True"}),
            json!({"path": "a", "limit": 50, "flag": true}),
        );
        check(
            json!({"glob": "*.py, src/{a,b}.rs", "case": "SMART"}),
            json!({"glob": ["*.py", "src/{a,b}.rs"], "case": "smart"}),
        );
        check(
            json!({"edits": "[{\"old_str\": \"a\", \"new_str\": \"b\"}]"}),
            json!({"edits": [{"old_string": "a", "new_string": "b"}]}),
        );
        check(
            json!({"edits": {"old_string": "a", "new_string": "b"}, "limit": null}),
            json!({"edits": [{"old_string": "a", "new_string": "b"}]}),
        );
        check(json!({"old_string": "a", "newString": "b"}), json!({"edits": [{"old_string": "a", "new_string": "b"}]}));
        check(json!({"limit": 5.0}), json!({"limit": 5}));
        check(json!({"output_mode": "files_with_matches"}), json!({"output": "files"}));
        check(json!({"command": ["bash", "-lc", "ls -l"]}), json!({"command": "ls -l"}));
        check(
            json!({"command": ["grep", "-n", "it's", "a b.txt"]}),
            json!({"command": "grep -n 'it'\\''s' 'a b.txt'"}),
        );
    }

    #[test]
    fn refuses_what_is_ambiguous() {
        let mut a = json!({"path": "a", "file_path": "b"}).as_object().unwrap().clone();
        assert!(normalize(&mut a, &schema()).unwrap_err().contains("send only `path`"));
        let mut a = json!({"limt": 3}).as_object().unwrap().clone();
        assert!(normalize(&mut a, &schema()).unwrap_err().contains("did you mean `limit`"));
        let mut a = json!({"limit": "fifty", "flag": "yes"}).as_object().unwrap().clone();
        normalize(&mut a, &schema()).unwrap();
        assert_eq!(Value::Object(a), json!({"limit": "fifty", "flag": "yes"}), "left for serde to refuse");
        let mut a = json!({"case": "loud"}).as_object().unwrap().clone();
        assert_eq!(normalize(&mut a, &schema()).unwrap_err(), "case \"loud\" is not one of smart, sensitive");
        let mut a = json!({"edits": [{"old_string": "x", "new_strng": "y"}]}).as_object().unwrap().clone();
        let e = normalize(&mut a, &schema()).unwrap_err();
        assert!(e.starts_with("edits.[0].unknown field `new_strng`; did you mean `new_string`?"), "{e}");
    }
}
