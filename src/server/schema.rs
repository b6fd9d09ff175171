//! JSON Schemas for tool inputs and outputs, generated from the parameter types and trimmed of what costs
//! tokens without telling the model anything (`$schema`, titles, numeric `format`s).

use std::path::Path;
use std::sync::Arc;

use rmcp::model::JsonObject;
use schemars::JsonSchema;
use serde_json::Value;

/// The input schema of a parameter type, compacted. Panics only on a type that is not an object: a bug
/// in this crate that the schema test catches, never a runtime condition.
/// Also used for output schemas: the result types never serialise `null` (absent fields are left out), so a
/// nullable type would only cost tokens.
pub fn input<T: JsonSchema>() -> Arc<JsonObject> {
    let schema = schemars::generate::SchemaSettings::draft2020_12().into_generator().into_root_schema_for::<T>();
    let mut value = serde_json::to_value(schema).expect("schemas serialize");
    compact(&mut value);
    match value {
        Value::Object(map) => Arc::new(map),
        other => panic!("input schema for {} is not an object: {other}", std::any::type_name::<T>()),
    }
}

fn compact(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.remove("$schema");
            map.remove("title");
            // Unknown fields are refused when arguments are parsed; saying so in every schema costs tokens.
            map.remove("additionalProperties");
            // Optional fields are simply not required; `["string", "null"]` says nothing more than "string".
            if let Some(Value::Array(types)) = map.get("type")
                && types.len() == 2
                && types.contains(&Value::from("null"))
            {
                let t = types.iter().find(|t| *t != &Value::from("null")).cloned().unwrap_or(Value::Null);
                map.insert("type".into(), t);
            }
            if let Some(Value::String(f)) = map.get("format")
                && matches!(f.as_str(), "uint" | "uint64" | "uint32" | "int64" | "int32" | "uint8" | "double" | "float")
            {
                map.remove("format");
            }
            // "minimum: 0" on unsigned integers says what the type already says.
            if map.get("minimum") == Some(&Value::from(0)) {
                map.remove("minimum");
            }
            for (_, child) in map.iter_mut() {
                compact(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(compact),
        _ => {}
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
