//! Issue 19, tool schemas every client and model API can read: only the portable subset of JSON Schema, all
//! inline (no `$ref`), the bounds and choices the tools check stated in the schema, and a real model SDK's
//! converter keeping every field.

use serde_json::{Map, Value, json};

use crate::harness::*;

/// The keywords a schema node may use: what function-calling APIs accept everywhere.
const PORTABLE: &[&str] =
    &["type", "properties", "required", "items", "enum", "description", "minimum", "maximum", "default"];
const TYPES: &[&str] = &["object", "array", "string", "integer", "number", "boolean"];

/// Every way `schema` (at JSON pointer `path`) leaves the portable subset, as "path: what".
fn violations(schema: &Value, path: &str, out: &mut Vec<String>) {
    let Value::Object(node) = schema else {
        out.push(format!("{path}: not an object schema: {schema}"));
        return;
    };
    for (key, value) in node {
        if !PORTABLE.contains(&key.as_str()) {
            out.push(format!("{path}/{key}: keyword {key:?} is outside the portable subset"));
        }
        match key.as_str() {
            "type" if !value.as_str().is_some_and(|t| TYPES.contains(&t)) => {
                out.push(format!("{path}/type: {value} is not one plain type"));
            }
            "properties" => match value {
                Value::Object(props) => {
                    for (name, sub) in props {
                        violations(sub, &format!("{path}/properties/{name}"), out);
                    }
                }
                _ => out.push(format!("{path}/properties: not an object")),
            },
            "items" => violations(value, &format!("{path}/items"), out),
            "required" => {
                let props = node.get("properties").and_then(Value::as_object);
                for r in value.as_array().into_iter().flatten() {
                    if !r.as_str().is_some_and(|r| props.is_some_and(|p| p.contains_key(r))) {
                        out.push(format!("{path}/required: {r} is not a property"));
                    }
                }
            }
            "enum" if !value.as_array().is_some_and(|v| !v.is_empty() && v.iter().all(Value::is_string)) => {
                out.push(format!("{path}/enum: {value} is not a list of strings"));
            }
            "minimum" | "maximum" if !value.is_number() => out.push(format!("{path}/{key}: {value} is not a number")),
            _ => {}
        }
    }
    if !node.contains_key("type") {
        out.push(format!("{path}: no type"));
    }
    if node.get("type") == Some(&json!("array")) && !node.contains_key("items") {
        out.push(format!("{path}: an array without items"));
    }
}

/// Every tool's input and output schema, as `(tool, "inputSchema" | "outputSchema", schema)`.
fn schemas(tools: &[rmcp::model::Tool]) -> Vec<(String, &'static str, Value)> {
    let mut all = Vec::new();
    for t in tools {
        all.push((t.name.to_string(), "inputSchema", Value::Object((*t.input_schema).clone())));
        if let Some(out) = &t.output_schema {
            all.push((t.name.to_string(), "outputSchema", Value::Object((**out).clone())));
        }
    }
    all
}

#[tokio::test]
async fn every_schema_uses_only_the_portable_subset() {
    let p = Project::new();
    let c = stdio(&p.root, &[]).await;
    let tools = c.peer().list_all_tools().await.unwrap();
    let all = schemas(&tools);
    assert!(all.iter().any(|(_, kind, _)| *kind == "outputSchema"), "no output schema was checked");
    let mut found = Vec::new();
    for (tool, kind, schema) in &all {
        let mut v = Vec::new();
        violations(schema, "", &mut v);
        found.extend(v.into_iter().map(|v| format!("{tool} {kind} {v}")));
    }
    assert!(found.is_empty(), "schemas outside the portable subset:\n{}", found.join("\n"));
    // The nested fields are there, inline, where a model looks for them.
    let edit = &all.iter().find(|(t, k, _)| t == "edit_file" && *k == "inputSchema").unwrap().2;
    let item = &edit["properties"]["edits"]["items"];
    assert_eq!(item["required"], json!(["old_string", "new_string"]), "{edit}");
    assert_eq!(item["properties"]["replace_all"]["type"], "boolean", "{edit}");
}

/// The check itself: the schema edit_file had before issue 19 fails it, naming the tool and the JSON path.
#[test]
fn the_subset_check_names_each_violation_and_its_path() {
    let before = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": {"EditParam": {"type": "object", "properties": {"old_string": {"type": "string"}}}},
        "type": "object",
        "properties": {
            "edits": {"type": "array", "items": {"$ref": "#/$defs/EditParam"}},
            "glob": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "depth": {"type": ["integer", "null"], "format": "uint"},
            "env": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        "required": ["path"],
    });
    let mut v = Vec::new();
    violations(&before, "", &mut v);
    for expected in [
        "/$schema: keyword",
        "/$defs: keyword",
        "/properties/edits/items/$ref: keyword",
        "/properties/edits/items: no type",
        "/properties/glob/anyOf: keyword",
        "/properties/glob: no type",
        "/properties/depth/type: [\"integer\",\"null\"] is not one plain type",
        "/properties/depth/format: keyword",
        "/properties/env/additionalProperties: keyword",
        "/required: \"path\" is not a property",
    ] {
        assert!(v.iter().any(|v| v.starts_with(expected)), "{expected:?} not reported; got:\n{}", v.join("\n"));
    }
    assert_eq!(v.len(), 10, "{v:#?}");
}

/// Base arguments under which each tool with a bounded field gets as far as checking that field.
fn base_arguments(tool: &str, spilled: &str) -> Value {
    match tool {
        "read_file" => json!({"path": "f.txt"}),
        "list_directory" | "git_diff" => json!({}),
        "read_output" => json!({"id": spilled}),
        "run_command" => json!({"command": "true"}),
        "search" => json!({"pattern": "x"}),
        "job_start" => json!({"command": "true"}),
        // j1 is `cat`, started by the test: reads from offset 0 answer at once, input is echoed at once.
        "job_output" => json!({"id": "j1", "cursor": 0}),
        "job_input" => json!({"id": "j1", "text": "x"}),
        other => panic!("{other} has a bounded field: give it base arguments in schemas::base_arguments"),
    }
}

/// Every `minimum`/`maximum` a schema states is the tool's own: the value just outside is refused with a message
/// naming the field, the bound itself is accepted. The configured largest timeout (not the default) is stated.
#[tokio::test]
async fn stated_bounds_are_the_ones_the_tools_check() {
    let p = Project::new();
    p.write("f.txt", "x\n");
    p.write("codebox.toml", "[sandbox]\ntimeout_secs = 30\nmax_timeout_secs = 30\n[tests]\ntimeout_secs = 30\n");
    // git_diff reaches its budget check in a repository.
    let init = std::process::Command::new("git").args(["init", "-q"]).current_dir(&p.root).status().unwrap();
    assert!(init.success());
    let c = stdio(&p.root, &[]).await;
    let tools = c.peer().list_all_tools().await.unwrap();
    let run = tools.iter().find(|t| t.name == "run_command").unwrap();
    assert_eq!(run.input_schema["properties"]["timeout_secs"]["maximum"], json!(30), "the configured maximum");
    // read_output needs a real id to reach its bounds: a cut result names one.
    let long = ok(&c, "run_command", json!({"command": "seq 1 200000"})).await;
    let spilled = long.split("read_output(id=\"").nth(1).and_then(|s| s.split('"').next()).expect(&long).to_string();
    ok(&c, "job_start", json!({"command": "cat", "name": "echo"})).await;
    let mut checked = 0;
    for t in &tools {
        let props = t.input_schema.get("properties").and_then(Value::as_object).cloned().unwrap_or_else(Map::new);
        for (field, schema) in props {
            for (bound, outside) in [("minimum", -1), ("maximum", 1)] {
                let Some(b) = schema.get(bound).and_then(Value::as_i64) else { continue };
                let mut args = base_arguments(&t.name, &spilled);
                args[&field] = json!(b + outside);
                let refused = err(&c, &t.name, args.clone()).await;
                assert!(refused.contains(&field), "{} {args}: the message does not name {field}: {refused}", t.name);
                args[&field] = json!(b);
                let at = call(&c, &t.name, args.clone()).await;
                assert!(!at.is_error, "{} {args}: the stated {bound} is refused: {}", t.name, at.text);
                checked += 1;
            }
        }
    }
    // read_file offset and limit, list_directory depth, read_output offset and max_output_chars, run_command
    // timeout_secs (both ends) and max_output_chars, search context, max_results (both ends) and
    // max_output_chars, git_diff max_output_chars; job_start wait_secs and timeout_secs, job_output wait_secs,
    // tail (both ends) and max_output_chars, job_input wait_secs.
    assert_eq!(checked, 22, "bounds checked");
}

/// search's `case` and `output` list their choices as `enum`: each listed value works, and the error for any
/// other names exactly the listed ones.
#[tokio::test]
async fn search_choices_are_listed_and_are_exactly_what_the_tool_takes() {
    let p = Project::new();
    p.write("a.txt", "needle\n");
    let c = stdio(&p.root, &[]).await;
    let tools = c.peer().list_all_tools().await.unwrap();
    let search = tools.iter().find(|t| t.name == "search").unwrap();
    for field in ["case", "output"] {
        let listed: Vec<String> = serde_json::from_value(search.input_schema["properties"][field]["enum"].clone())
            .unwrap_or_else(|e| panic!("search {field} has no enum ({e}): {:?}", search.input_schema));
        assert_eq!(listed.len(), 3, "{listed:?}");
        for v in &listed {
            ok(&c, "search", json!({"pattern": "needle", (field): v})).await;
        }
        let msg = err(&c, "search", json!({"pattern": "needle", (field): "lines"})).await;
        assert!(msg.contains(&format!("{field} \"lines\" is not one of {}", listed.join(", "))), "{msg}");
    }
}

/// The Python venv `scripts/test` installs the converter test's packages into (pinned there).
fn test_python() -> std::path::PathBuf {
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-tools/pyvenv");
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/test once (it installs the MCP Python SDK and google-genai there)",
        python.display()
    );
    python
}

/// The official MCP Python SDK lists the tools from the real binary over stdio; google-genai turns each into a
/// Gemini function declaration (the SDK's own MCP conversion, and its strict JSON Schema conversion for input and
/// output); every property, type, enum, bound and required list, down to edit_file's edits[].old_string, must come
/// through unchanged. Offline: a local child process and pure Python.
#[test]
fn a_model_sdk_converts_every_tool_and_keeps_every_field() {
    let p = Project::new();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/clients/convert_check.py");
    let mut cmd = std::process::Command::new(test_python());
    private_dirs(&mut cmd, &p.root);
    let out = cmd.arg(script).arg(BIN).arg(&p.root).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    let report: Value = serde_json::from_str(last).unwrap_or_else(|e| {
        panic!("no report ({e}); stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr))
    });
    assert_eq!(report["problems"], json!([]), "fields lost or changed in conversion: {report:#}");
    assert!(out.status.success(), "{report}");
    // Every schema node (root, properties, items, nested fields) was compared: each input schema through both
    // conversions, each output schema through the strict one.
    let (tools, nodes) = tools_and_nodes();
    assert_eq!(report["tools"], json!(tools), "{report}");
    assert_eq!(report["fields"], json!(nodes), "{report}");
}

/// How many tools `codebox schemas` writes (every tool), and how many schema nodes the converter test compares.
fn tools_and_nodes() -> (usize, usize) {
    fn count(s: &Value) -> usize {
        let props = s.get("properties").and_then(Value::as_object).into_iter().flat_map(|p| p.values());
        1 + props.map(count).sum::<usize>() + s.get("items").map_or(0, count)
    }
    let dir = tempfile::tempdir().unwrap();
    let st = std::process::Command::new(BIN).args(["schemas", "--out"]).arg(dir.path()).output().unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let (mut tools, mut nodes) = (0, 0);
    for f in std::fs::read_dir(dir.path()).unwrap() {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(f.unwrap().path()).unwrap()).unwrap();
        // Listed only to a connection bound to a workspace; the script's server serves the main checkout.
        if doc["name"] == "workspace_status" {
            continue;
        }
        tools += 1;
        nodes += 2 * count(&doc["inputSchema"]) + doc.get("outputSchema").map_or(0, count);
    }
    (tools, nodes)
}
