//! A small, readable coding agent on top of codebox.
//!
//! Run with: `OPENAI_BASE_URL=https://api.example.com/v1 OPENAI_API_KEY=… cargo run --example agent_loop -- DIR "fix the failing test"`
//!
//! It starts `codebox serve --root DIR` over stdio (rmcp client), offers codebox's tools to any OpenAI-compatible
//! chat-completions endpoint as function-calling tools, and loops: the model explores, edits, runs the tests,
//! fixes, and commits on a new branch; every tool call goes through codebox. It stops when the model says
//! `TASK COMPLETE` or after `AGENT_MAX_ITERATIONS` (default 30), then prints a summary.
//!
//! Environment: OPENAI_BASE_URL (required), OPENAI_API_KEY, AGENT_MODEL (default `glm-5`), CODEBOX_BIN (default
//! `codebox` on PATH), AGENT_MAX_ITERATIONS.

use std::time::{Duration, Instant};

use rmcp::model::{CallToolRequestParams, Tool};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

/// The model ends the loop by saying this.
const DONE_MARKER: &str = "TASK COMPLETE";
/// Characters of conversation kept verbatim; older turns are folded into a summary.
const HISTORY_BUDGET: usize = 60_000;
/// Retries of a chat request that got 429 or 5xx, with exponential backoff from 500 ms.
const MAX_RETRIES: u32 = 5;

const SYSTEM: &str = "You are a careful coding agent working through codebox's tools. Explore with list_directory, \
search and read_file; change code with edit_file; check with run_tests; when the tests pass, create a branch with \
git_branch and commit with git_commit. Say TASK COMPLETE when you are done.";

type Client = RunningService<RoleClient, ()>;

struct Stats {
    iterations: usize,
    tool_calls: usize,
    retries: usize,
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: agent_loop DIR TASK")?;
    let task = args.next().ok_or("usage: agent_loop DIR TASK")?;
    let base = std::env::var("OPENAI_BASE_URL").map_err(|_| "set OPENAI_BASE_URL")?;
    let key = std::env::var("OPENAI_API_KEY").unwrap_or_default();
    let model = std::env::var("AGENT_MODEL").unwrap_or_else(|_| "glm-5".into());
    let max_iterations: usize = std::env::var("AGENT_MAX_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    let bin = std::env::var("CODEBOX_BIN").unwrap_or_else(|_| "codebox".into());

    let mut cmd = tokio::process::Command::new(bin);
    cmd.args(["serve", "--root", &dir]).stderr(std::process::Stdio::inherit());
    let codebox: Client =
        ().serve(TokioChildProcess::new(cmd).map_err(|e| e.to_string())?).await.map_err(|e| e.to_string())?;
    let tools = codebox.peer().list_all_tools().await.map_err(|e| e.to_string())?;
    let functions: Vec<Value> = tools.iter().map(function_tool).collect();

    let http = reqwest::Client::new();
    let start = Instant::now();
    let mut stats = Stats { iterations: 0, tool_calls: 0, retries: 0 };
    let mut messages = vec![json!({"role": "system", "content": SYSTEM}), json!({"role": "user", "content": task})];
    let mut finished = false;
    while stats.iterations < max_iterations {
        stats.iterations += 1;
        bound_history(&mut messages);
        let body = json!({"model": model, "messages": messages, "tools": functions});
        let reply = chat(&http, &base, &key, &body, &mut stats).await?;
        let msg = reply.pointer("/choices/0/message").cloned().ok_or_else(|| format!("no message in {reply}"))?;
        messages.push(msg.clone());
        let calls = msg.get("tool_calls").and_then(Value::as_array).cloned().unwrap_or_default();
        if calls.is_empty() {
            let text = msg.get("content").and_then(Value::as_str).unwrap_or("");
            println!("model: {text}");
            if text.contains(DONE_MARKER) {
                finished = true;
                break;
            }
            messages.push(json!({"role": "user", "content": format!("Continue, or say {DONE_MARKER} when done.")}));
            continue;
        }
        for call in calls {
            stats.tool_calls += 1;
            let name = call.pointer("/function/name").and_then(Value::as_str).unwrap_or_default().to_string();
            let raw = call.pointer("/function/arguments").and_then(Value::as_str).unwrap_or("{}");
            let result = call_tool(&codebox, &name, raw).await;
            println!("tool {name}({raw}) -> {}", result.lines().next().unwrap_or(""));
            messages.push(json!({"role": "tool", "tool_call_id": call["id"], "content": result}));
        }
    }
    println!(
        "summary: {} after {} iterations, {} tool calls, {} retries, {:.1} s",
        if finished { "finished" } else { "stopped at the iteration cap" },
        stats.iterations,
        stats.tool_calls,
        stats.retries,
        start.elapsed().as_secs_f64()
    );
    let _ = codebox.cancel().await;
    if finished { Ok(()) } else { Err("the task was not completed".into()) }
}

/// An MCP tool as an OpenAI function tool: same name, description and JSON Schema.
fn function_tool(t: &Tool) -> Value {
    json!({"type": "function", "function": {
        "name": t.name,
        "description": t.description.clone().unwrap_or_default(),
        "parameters": Value::Object((*t.input_schema).clone()),
    }})
}

/// Calls a codebox tool; errors come back as text, so the model can read them and correct itself.
async fn call_tool(codebox: &Client, name: &str, raw_args: &str) -> String {
    let args = match serde_json::from_str::<Value>(raw_args) {
        Ok(Value::Object(m)) => m,
        _ => return format!("error: the arguments for {name} are not a JSON object: {raw_args}"),
    };
    match codebox.peer().call_tool(CallToolRequestParams::new(name.to_string()).with_arguments(args)).await {
        Ok(r) => {
            let text: Vec<String> = r.content.iter().filter_map(|c| c.as_text().map(|t| t.text.clone())).collect();
            let prefix = if r.is_error == Some(true) { "error: " } else { "" };
            format!("{prefix}{}", text.join("\n"))
        }
        Err(e) => format!("error: the call failed: {e}"),
    }
}

/// POSTs a chat request, retrying 429 and 5xx with exponential backoff (honouring Retry-After when given).
async fn chat(http: &reqwest::Client, base: &str, key: &str, body: &Value, stats: &mut Stats) -> Result<Value, String> {
    let url = format!("{}/chat/completions", base.trim_end_matches('/'));
    let mut delay = Duration::from_millis(500);
    for attempt in 0..=MAX_RETRIES {
        let resp = http.post(&url).bearer_auth(key).json(body).send().await.map_err(|e| format!("POST {url}: {e}"))?;
        let status = resp.status();
        if status.is_success() {
            return resp.json().await.map_err(|e| format!("bad JSON from {url}: {e}"));
        }
        let retryable = status.as_u16() == 429 || status.is_server_error();
        if !retryable || attempt == MAX_RETRIES {
            return Err(format!("{url} answered {status}: {}", resp.text().await.unwrap_or_default()));
        }
        let wait = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_secs)
            .unwrap_or(delay);
        stats.retries += 1;
        eprintln!("{status}; retrying in {:.1} s", wait.as_secs_f64());
        tokio::time::sleep(wait).await;
        delay *= 2;
    }
    unreachable!("the loop returns on its last attempt")
}

/// Keeps the conversation within HISTORY_BUDGET: the oldest turns after the task are replaced by one summary
/// line each (what was called, and the first line of what came back). A tool result is never separated from
/// the assistant message that asked for it.
fn bound_history(messages: &mut Vec<Value>) {
    let size = |m: &[Value]| m.iter().map(|v| v.to_string().len()).sum::<usize>();
    if size(messages) <= HISTORY_BUDGET {
        return;
    }
    let mut summary = String::from("Summary of earlier steps:\n");
    while size(messages) > HISTORY_BUDGET && messages.len() > 4 {
        let m = messages.remove(2);
        if let Some(calls) = m.get("tool_calls").and_then(Value::as_array) {
            for c in calls {
                summary.push_str(&format!(
                    "- called {}\n",
                    c.pointer("/function/name").and_then(Value::as_str).unwrap_or("?")
                ));
            }
            // Drop the tool results that answered this message.
            while messages.len() > 3 && messages[2]["role"] == "tool" {
                let r = messages.remove(2);
                let first = r["content"]
                    .as_str()
                    .unwrap_or("")
                    .lines()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(120)
                    .collect::<String>();
                summary.push_str(&format!("  -> {first}\n"));
            }
        } else if let Some(text) = m["content"].as_str() {
            summary.push_str(&format!(
                "- {}: {}\n",
                m["role"].as_str().unwrap_or("?"),
                text.chars().take(200).collect::<String>()
            ));
        }
    }
    messages.insert(2, json!({"role": "user", "content": summary}));
}
