//! Issue 18, the stdio path: codebox reads stdin itself and answers pings and most tool calls without rmcp's
//! request machinery, handing everything else to rmcp. These tests speak raw lines, as a client that is not rmcp
//! would, and hold the behaviour that must not change: every request answered once on a whole line however many
//! arrive in one write, lines too long to peek at, invalid lines, calls before `initialize`, cancellation and the
//! end of input.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::harness::*;

fn call(id: Value, name: &str, args: Value) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":name,"arguments":args}})
}

/// Lines as one write, each request's JSON on a line of its own.
fn batch(msgs: &[Value]) -> Vec<u8> {
    msgs.iter().flat_map(|m| format!("{m}\n").into_bytes()).collect()
}

/// Closes stdin, then reads every line until stdout closes, each parsed: a line cut or interleaved with another
/// fails here.
async fn end_input(raw: Raw) -> (tokio::process::Child, Vec<Value>) {
    let Raw { child, stdin, mut lines } = raw;
    drop(stdin);
    let mut all = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        all.push(serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a whole JSON line ({e}): {line:.300}")));
    }
    (child, all)
}

/// Hundreds of requests in one write (pings, small and 100 KB reads, listings, searches, and tools/list, which rmcp
/// answers, in between) are each answered exactly once, on a whole line, with what a lone request gets.
#[tokio::test]
async fn a_pipelined_batch_is_answered_completely_on_whole_lines() {
    let p = Project::new();
    let line = "the quick brown fox jumps over the lazy dog, again and again.\n";
    p.write("small.txt", format!("small-marker\n{}", line.repeat(16)));
    p.write("big.txt", format!("big-marker\n{}", line.repeat(1700)));
    p.write("src/lib.rs", "pub fn needle() {}\n");
    let mut raw = Raw::start(&p.root);
    raw.initialize().await;
    let mut msgs = Vec::new();
    for i in 0..400u64 {
        let id = json!(100 + i);
        msgs.push(match i % 8 {
            0 => json!({"jsonrpc":"2.0","id":id,"method":"ping"}),
            1 | 5 => call(id, "read_file", json!({"path":"small.txt"})),
            2 => call(id, "read_file", json!({"path":"big.txt"})),
            3 => call(id, "list_directory", json!({})),
            4 => call(id, "search", json!({"pattern":"needle"})),
            6 => json!({"jsonrpc":"2.0","id":id,"method":"tools/list"}),
            _ => call(id, "read_file", json!({"path":"missing.txt"})),
        });
    }
    let bytes = batch(&msgs);
    // The whole batch in one write, while the responses are read: neither side waits for the other.
    let Raw { child: _child, mut stdin, mut lines } = raw;
    let writer = tokio::spawn(async move {
        tokio::io::AsyncWriteExt::write_all(&mut stdin, &bytes).await.unwrap();
        stdin
    });
    let mut seen: HashMap<u64, Value> = HashMap::new();
    while seen.len() < msgs.len() {
        let line = lines.next_line().await.unwrap().expect("server closed stdout before answering everything");
        let v: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a whole JSON line ({e}): {line:.300}"));
        let Some(id) = v["id"].as_u64() else { continue };
        assert!(seen.insert(id, v).is_none(), "id {id} answered twice");
    }
    drop(writer.await.unwrap());
    for i in 0..400u64 {
        let v = &seen[&(100 + i)];
        let text = v["result"]["content"][0]["text"].as_str().unwrap_or_default();
        match i % 8 {
            0 => assert_eq!(v["result"], json!({}), "{v}"),
            1 | 5 => {
                assert!(text.contains("small-marker"), "{v}");
                assert_eq!(v["result"]["structuredContent"]["path"], "small.txt", "{v}");
            }
            2 => assert!(text.contains("big-marker"), "{v:.300}"),
            3 => assert!(text.contains("small.txt") && text.contains("src"), "{v}"),
            4 => assert!(text.contains("lib.rs"), "{v}"),
            6 => assert!(v["result"]["tools"].as_array().is_some_and(|t| t.len() > 10), "{v:.300}"),
            _ => {
                assert_eq!(v["result"]["isError"], true, "{v}");
                assert_eq!(v["result"]["_meta"]["codebox/error"]["kind"], "not_found", "{v}");
            }
        }
        if i % 8 != 0 && i % 8 != 6 {
            assert!(v["result"].get("resultType").is_none(), "no resultType for a 2025 client: {v:.300}");
        }
    }
}

/// A line longer than the reader peeks at (a 2 MiB write_file) still reaches rmcp whole and is answered; one over
/// rmcp's 16 MiB limit is dropped without an answer, and the session goes on.
#[tokio::test]
async fn long_lines_reach_rmcp_and_overlong_ones_are_dropped() {
    let p = Project::new();
    let mut raw = Raw::start(&p.root);
    raw.initialize().await;
    let content = "0123456789abcdef\n".repeat(2 << 20 >> 4);
    raw.send(call(json!(2), "write_file", json!({"path":"long.txt","content":content}))).await;
    let r = raw.reply(json!(2)).await;
    assert!(r["result"]["isError"] != true, "{r:.300}");
    assert_eq!(std::fs::read_to_string(p.root.join("long.txt")).unwrap(), content);
    let overlong = call(json!(3), "write_file", json!({"path":"huge.txt","content":"x".repeat(17 << 20)}));
    raw.send(overlong).await;
    raw.send(json!({"jsonrpc":"2.0","id":4,"method":"ping"})).await;
    assert_eq!(raw.reply(json!(4)).await["result"], json!({}));
    let (_child, rest) = end_input(raw).await;
    assert!(rest.iter().all(|v| v["id"] != 3), "the overlong line was answered: {rest:?}");
    assert!(!p.root.join("huge.txt").exists());
}

/// Lines that are not JSON get no answer; JSON that is not a request gets rmcp's Invalid Request; requests that are
/// almost ordinary (a string id, a float-form id, an escaped method name, CRLF, params on a ping, an unknown field)
/// are answered as rmcp answers them.
#[tokio::test]
async fn invalid_and_unusual_lines_are_answered_as_rmcp_answers_them() {
    let p = Project::new();
    p.write("small.txt", "small-marker\n");
    let mut raw = Raw::start(&p.root);
    raw.initialize().await;
    let mut bytes = b"this is not json\n\n[1,2]\n{\"jsonrpc\":\"2.0\",\"id\":40}\n".to_vec();
    bytes.extend(batch(&[
        call(json!("s41"), "read_file", json!({"path":"small.txt"})),
        json!({"jsonrpc":"2.0","id":42,"method":"ping","params":{}}),
        json!({"jsonrpc":"2.0","id":43,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"small.txt"}},"extra":1}),
        json!({"jsonrpc":"2.0","id":44,"method":"tools/call"}),
        call(json!(45), "no_such_tool", json!({})),
        call(json!(46), "read_file", json!({"path":5})),
    ]));
    bytes.extend(b"{\"jsonrpc\":\"2.0\",\"id\":47,\"method\":\"tools\\/call\",\"params\":{\"name\":\"read_file\",\"arguments\":{\"path\":\"small.txt\"}}}\r\n");
    bytes.extend(b"{\"jsonrpc\":\"2.0\",\"id\":48.0,\"method\":\"ping\"}\n");
    bytes.extend(batch(&[json!({"jsonrpc":"2.0","id":49,"method":"ping"})]));
    raw.send_bytes(&bytes).await;
    let (_child, all) = end_input(raw).await;
    let by_id = |id: Value| -> Vec<&Value> { all.iter().filter(|v| v["id"] == id).collect() };
    let invalid = by_id(Value::Null);
    assert_eq!(invalid.len(), 2, "Invalid Request for the array and for the object without a method: {all:?}");
    assert_eq!(invalid[0]["error"]["code"], -32600, "{all:?}");
    for id in [json!("s41"), json!(43), json!(47)] {
        let r = by_id(id.clone());
        assert_eq!(r.len(), 1, "{id}: {all:?}");
        assert!(r[0]["result"]["content"][0]["text"].as_str().unwrap().contains("small-marker"), "{id}: {all:?}");
    }
    for id in [json!(42), json!(48), json!(49)] {
        assert_eq!(by_id(id.clone()).first().map(|r| r["result"].clone()), Some(json!({})), "{id}: {all:?}");
    }
    assert!(by_id(json!(44))[0]["error"].is_object(), "tools/call without params is a protocol error: {all:?}");
    assert!(by_id(json!(45))[0]["error"].is_object(), "an unknown tool is a protocol error: {all:?}");
    let bad = by_id(json!(46));
    assert_eq!(bad[0]["result"]["_meta"]["codebox/error"]["kind"], "invalid_argument", "{all:?}");
}

/// Before `initialize`, a ping is answered and a call is refused (rmcp's handshake decides); after it, the same
/// call works.
#[tokio::test]
async fn calls_before_initialize_get_the_handshake_answers() {
    let p = Project::new();
    p.write("small.txt", "small-marker\n");
    let mut raw = Raw::start(&p.root);
    raw.send(json!({"jsonrpc":"2.0","id":"early","method":"ping"})).await;
    assert_eq!(raw.reply(json!("early")).await["result"], json!({}));
    raw.send(call(json!(90), "read_file", json!({"path":"small.txt"}))).await;
    let early = raw.reply(json!(90)).await;
    assert!(early["error"].is_object(), "a call before initialize is refused: {early}");
    raw.initialize().await;
    raw.send(call(json!(91), "read_file", json!({"path":"small.txt"}))).await;
    let r = raw.reply(json!(91)).await;
    assert!(r["result"]["content"][0]["text"].as_str().unwrap().contains("small-marker"), "{r}");
}

/// A call on the blocking pool cancelled in the same write that made it is never answered (as rmcp drops a
/// cancelled request's response); the session goes on.
#[tokio::test]
async fn a_cancelled_call_is_never_answered() {
    let p = Project::new();
    p.write("src/lib.rs", "pub fn f() {}\n");
    let mut raw = Raw::start(&p.root);
    raw.initialize().await;
    raw.send_bytes(&batch(&[
        call(json!(7), "list_directory", json!({})),
        json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7,"reason":"changed my mind"}}),
    ]))
    .await;
    raw.send(json!({"jsonrpc":"2.0","id":8,"method":"ping"})).await;
    assert_eq!(raw.reply(json!(8)).await["result"], json!({}));
    let (_child, rest) = end_input(raw).await;
    assert!(rest.iter().all(|v| v["id"] != 7), "the cancelled call was answered: {rest:?}");
}

/// Calls still running when input ends are answered before codebox exits.
#[tokio::test]
async fn calls_in_flight_at_end_of_input_are_answered() {
    let p = Project::new();
    p.write("src/lib.rs", "pub fn needle() {}\n");
    let mut raw = Raw::start(&p.root);
    raw.initialize().await;
    raw.send_bytes(&batch(&[
        call(json!(5), "list_directory", json!({})),
        call(json!(6), "search", json!({"pattern":"needle"})),
        json!({"jsonrpc":"2.0","id":7,"method":"tools/list"}),
    ]))
    .await;
    let (mut child, rest) = end_input(raw).await;
    for id in [5, 6, 7] {
        assert_eq!(rest.iter().filter(|v| v["id"] == id).count(), 1, "{id}: {rest:?}");
    }
    assert!(child.wait().await.unwrap().success());
}
