//! JSON Schemas for tool inputs and outputs, generated from the parameter types and reduced to the portable
//! subset that every MCP client and function-calling API reads the same way: `type` (one), `properties`,
//! `required`, `items`, `enum`, `description`, `minimum`, `maximum`, `default`, all inline.
//!
//! Why: Gemini CLI and the Gemini API reject `$ref`s they cannot resolve, Copilot CLI cannot build arguments for
//! a schema with `$defs`, and agent frameworks that turn MCP tools into functions keep `properties` and drop
//! `$defs`, so the model sees `edits: [{"$ref": …}]` and no fields (issue 19). Every tool gets its schema through
//! `input`, so a new tool is born portable; `tests/it/schemas.rs` fails on any keyword outside the subset.

use std::path::Path;
use std::sync::Arc;

use rmcp::model::JsonObject;
use schemars::JsonSchema;
use serde_json::{Map, Value};

/// The input schema of a parameter type, portable and compact. Panics only on a type that is not an object or
/// that refers to itself: bugs in this crate that every test catches at the first tools/list, never a runtime
/// condition.
/// Also used for output schemas: the result types never serialise `null` (absent fields are left out), so a
/// nullable type would only cost tokens.
pub(crate) fn input<T: JsonSchema>() -> Arc<JsonObject> {
    let mut settings = schemars::generate::SchemaSettings::draft2020_12();
    // Nested types inline rather than under `$defs`; `portable` inlines whatever schemars still refers to.
    settings.inline_subschemas = true;
    settings.meta_schema = None;
    let schema = settings.into_generator().into_root_schema_for::<T>();
    let mut value = serde_json::to_value(schema).expect("schemas serialize");
    let name = std::any::type_name::<T>();
    let Value::Object(root) = &mut value else { panic!("input schema for {name} is not an object: {value}") };
    let mut defs = Map::new();
    for key in ["$defs", "definitions"] {
        if let Some(Value::Object(d)) = root.remove(key) {
            defs.extend(d);
        }
    }
    portable(&mut value, &defs, &mut Vec::new(), name);
    match value {
        Value::Object(map) => Arc::new(map),
        other => panic!("input schema for {name} is not an object: {other}"),
    }
}

/// `input::<T>()`, computed once per type: the forgiving pass reads it on every call.
pub(crate) fn cached<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    use std::any::TypeId;
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<TypeId, Arc<JsonObject>>>> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    cache.entry(TypeId::of::<T>()).or_insert_with(input::<T>).clone()
}

/// Sets `keyword` of one property of a tool's schema, for bounds that come from the configuration (the
/// generated schema states the defaults). Does nothing when the schema has no such property.
pub(crate) fn set_property_keyword(schema: &mut Arc<JsonObject>, property: &str, keyword: &str, value: Value) {
    let schema = Arc::make_mut(schema);
    if let Some(Value::Object(p)) = schema.get_mut("properties").and_then(|ps| ps.get_mut(property)) {
        p.insert(keyword.into(), value);
    }
}

/// Formats schemars puts on Rust numbers: the model needs "integer" and the bounds, not the machine width.
const NUMBER_FORMATS: &[&str] = &[
    "int", "int8", "int16", "int32", "int64", "int128", "uint", "uint8", "uint16", "uint32", "uint64", "uint128",
    "float", "double",
];

/// Rewrites one schema node (and everything beneath it) into the portable subset: `$ref`s replaced by the
/// definition, `[T, "null"]` by `T`, `anyOf`/`oneOf` of one real branch (an `Option` of a struct or an enum) by
/// that branch, a `oneOf` of constants (an enum with documented variants) by `enum`; `$schema`, titles,
/// `additionalProperties`, number formats and null defaults dropped. Anything else is left as it is, for the
/// schema test to name.
fn portable(v: &mut Value, defs: &Map<String, Value>, expanding: &mut Vec<String>, root: &str) {
    let Value::Object(map) = v else { return };
    if let Some(Value::String(r)) = map.remove("$ref") {
        let name = r.trim_start_matches("#/$defs/").trim_start_matches("#/definitions/").to_string();
        // `#` is the root type itself.
        assert!(
            name != "#" && !expanding.contains(&name),
            "schema of {root}: {name} refers to itself and cannot be inlined"
        );
        let Some(Value::Object(def)) = defs.get(&name) else { panic!("schema of {root}: unknown $ref {r}") };
        // The definition's own keywords, then the referring node's (its description is the field's doc).
        let mut merged = def.clone();
        merged.extend(std::mem::take(map));
        *map = merged;
        expanding.push(name);
        portable(v, defs, expanding, root);
        expanding.pop();
        return;
    }
    for key in ["$schema", "title", "additionalProperties"] {
        map.remove(key);
    }
    if map.get("default") == Some(&Value::Null) {
        map.remove("default");
    }
    for key in ["anyOf", "oneOf"] {
        let Some(Value::Array(branches)) = map.get_mut(key) else { continue };
        branches.retain(|b| b.get("type") != Some(&Value::from("null")));
        for b in branches.iter_mut() {
            portable(b, defs, expanding, root);
        }
        // A branch's `const` is already `enum: [value]` here.
        let consts: Option<Vec<Value>> = branches
            .iter()
            .map(|b| match b.get("enum") {
                Some(Value::Array(one)) if one.len() == 1 => Some(one[0].clone()),
                _ => None,
            })
            .collect();
        let types: Vec<Value> = branches.iter().filter_map(|b| b.get("type").cloned()).collect();
        if let Some(values) = consts.filter(|_| types.len() == branches.len() && types.windows(2).all(|w| w[0] == w[1]))
        {
            map.remove(key);
            map.insert("type".into(), types[0].clone());
            map.insert("enum".into(), Value::Array(values));
        } else if branches.len() == 1 {
            let Some(Value::Object(branch)) = branches.pop() else { unreachable!() };
            map.remove(key);
            for (k, val) in branch {
                // The field's own description wins over its type's.
                map.entry(k).or_insert(val);
            }
        }
    }
    if let Some(c) = map.remove("const") {
        map.insert("enum".into(), Value::Array(vec![c]));
    }
    // Optional fields are simply not required; `["string", "null"]` says nothing more than "string".
    if let Some(Value::Array(types)) = map.get("type") {
        let real: Vec<Value> = types.iter().filter(|t| *t != &Value::from("null")).cloned().collect();
        if real.len() == 1 {
            map.insert("type".into(), real[0].clone());
            if let Some(Value::Array(values)) = map.get_mut("enum") {
                values.retain(|x| !x.is_null());
            }
        }
    }
    if let Some(Value::String(f)) = map.get("format")
        && NUMBER_FORMATS.contains(&f.as_str())
    {
        map.remove("format");
    }
    // "minimum: 0" on unsigned integers says what the type already says.
    if map.get("minimum") == Some(&Value::from(0)) {
        map.remove("minimum");
    }
    if let Some(Value::Object(props)) = map.get_mut("properties") {
        for p in props.values_mut() {
            portable(p, defs, expanding, root);
        }
    }
    if let Some(items) = map.get_mut("items") {
        portable(items, defs, expanding, root);
    }
}

/// Writes one file per tool (`<name>.json`, holding input and output schema) into `dir`.
pub fn write_all(dir: &Path) -> std::io::Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for tool in super::CodeboxServer::tool_list() {
        let mut doc = serde_json::Map::new();
        doc.insert("name".into(), Value::from(tool.name.to_string()));
        doc.insert("inputSchema".into(), Value::Object((*tool.input_schema).clone()));
        if let Some(out) = &tool.output_schema {
            doc.insert("outputSchema".into(), Value::Object((**out).clone()));
        }
        let text = serde_json::to_string_pretty(&Value::Object(doc)).expect("json") + "\n";
        let file = dir.join(format!("{}.json", tool.name));
        std::fs::write(&file, text)?;
        written.push(file.display().to_string());
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    //! The pass on shapes codebox's tools do not have yet, so the next tool that uses one is portable too.

    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    /// How.
    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code)]
    enum Mode {
        /// The fast way.
        Fast,
        /// The careful way.
        Careful,
    }

    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Inner {
        name: String,
        size: Option<u32>,
    }

    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Outer {
        /// One inner.
        one: Option<Inner>,
        many: Vec<Inner>,
        mode: Option<Mode>,
        #[schemars(range(min = 1, max = 9))]
        bounded: Option<u8>,
        ratio: f64,
    }

    #[test]
    fn nested_optional_and_enum_types_come_out_inline_and_single_typed() {
        let inner = json!({
            "type": "object",
            "properties": {"name": {"type": "string"}, "size": {"type": "integer"}},
            "required": ["name"],
        });
        let mut one = inner.clone();
        one["description"] = json!("One inner.");
        let expected = json!({
            "type": "object",
            "properties": {
                "one": one,
                "many": {"type": "array", "items": inner},
                "mode": {"type": "string", "enum": ["Fast", "Careful"], "description": "How."},
                "bounded": {"type": "integer", "minimum": 1, "maximum": 9},
                "ratio": {"type": "number"},
            },
            "required": ["many", "ratio"],
        });
        assert_eq!(Value::Object((*input::<Outer>()).clone()), expected);
    }

    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Node {
        children: Vec<Node>,
    }

    #[test]
    #[should_panic(expected = "refers to itself")]
    fn a_recursive_type_is_refused_rather_than_left_with_a_ref() {
        input::<Node>();
    }

    #[test]
    fn a_configured_bound_replaces_the_default_one() {
        let mut s = input::<Outer>();
        set_property_keyword(&mut s, "bounded", "maximum", json!(5));
        assert_eq!(s["properties"]["bounded"]["maximum"], json!(5));
        set_property_keyword(&mut s, "absent", "maximum", json!(5));
        assert!(s["properties"].get("absent").is_none());
    }
}
