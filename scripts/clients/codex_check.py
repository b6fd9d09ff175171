"""Drive `codex app-server` (JSON-RPC lines on stdio): list MCP server status, then call one tool.

Usage: codex_check.py CODEX_BIN SERVER_NAME ROOT LOG
The codebox servers must already be in $HOME/.codex/config.toml. Prints one JSON line
{"connected", "tools", "call", "error"}; exit 0 only when all worked.
"""
import json
import subprocess
import sys
import threading
import time

codex, server, root, log = sys.argv[1:5]
out = {"connected": False, "tools": None, "call": False, "error": ""}
proc = subprocess.Popen([codex, "app-server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                        stderr=open(log + ".stderr", "w"), text=True, bufsize=1)
logf = open(log, "w")
lines = []
cond = threading.Condition()


def reader():
    for line in proc.stdout:
        logf.write("<- " + line)
        logf.flush()
        with cond:
            lines.append(line)
            cond.notify_all()
    with cond:
        lines.append(None)
        cond.notify_all()


threading.Thread(target=reader, daemon=True).start()
next_id = [0]


def send(method, params=None, notify=False):
    msg = {"method": method}
    if params is not None:
        msg["params"] = params
    if not notify:
        next_id[0] += 1
        msg["id"] = next_id[0]
    text = json.dumps(msg)
    logf.write("-> " + text + "\n")
    proc.stdin.write(text + "\n")
    proc.stdin.flush()
    return msg.get("id")


def wait(rid, timeout=60):
    deadline = time.time() + timeout
    seen = 0
    with cond:
        while True:
            while seen < len(lines):
                line = lines[seen]
                seen += 1
                if line is None:
                    raise RuntimeError("codex app-server exited (see %s.stderr)" % log)
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if msg.get("id") == rid and "method" not in msg:
                    if "error" in msg:
                        raise RuntimeError("error from codex: " + json.dumps(msg["error"])[:300])
                    return msg["result"]
            left = deadline - time.time()
            if left <= 0:
                raise RuntimeError("no answer from codex app-server within %ds" % timeout)
            cond.wait(left)


try:
    wait(send("initialize", {"clientInfo": {"name": "codebox-clients-check", "title": None, "version": "1"},
                             "capabilities": None}))
    send("initialized", notify=True)
    status = wait(send("mcpServerStatus/list", {"serverName": server}), 90)
    entry = next((s for s in status.get("data", []) if s.get("name") == server), None)
    if entry is None:
        raise RuntimeError("server %r not in mcpServerStatus/list: %s" % (server, json.dumps(status)[:300]))
    if entry.get("toolsError"):
        raise RuntimeError("toolsError: " + str(entry["toolsError"]))
    out["connected"] = entry.get("serverInfo") is not None or bool(entry.get("tools"))
    out["tools"] = len(entry.get("tools") or {})
    if not out["connected"]:
        raise RuntimeError("not connected: " + json.dumps(entry)[:300])
    thread = wait(send("thread/start", {"cwd": root, "ephemeral": True}), 90)
    tid = thread["thread"]["id"]
    r = wait(send("mcpServer/tool/call", {"threadId": tid, "server": server, "tool": "read_file",
                                          "arguments": {"path": "README.md"}}), 90)
    text = " ".join(c.get("text", "") for c in r.get("content", []) if isinstance(c, dict))
    if r.get("isError"):
        out["error"] = "read_file returned isError: " + text[:200]
    elif "codebox-clients-check" not in text:
        out["error"] = "read_file result lacks the README text: " + text[:200]
    else:
        out["call"] = True
except Exception as e:
    out["error"] = out["error"] or str(e)
finally:
    try:
        proc.stdin.close()
        proc.wait(10)
    except Exception:
        proc.kill()
        proc.wait()
print(json.dumps(out))
sys.exit(0 if out["connected"] and out["tools"] and out["call"] else 1)
