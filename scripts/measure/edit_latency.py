"""Issue 4 closing figure: edit_file end to end (MCP request to response over stdio) on a 10,000-line Rust file,
each edit valid. As an agent works: read_file first (which parses the file in the background while the model
thinks; 1 s here), then 30 edits, each checked by an incremental reparse. Median and p90 of the 30, and the first
edit on its own; then, for comparison, an edit sent right after the read (it waits for the background parse) and one
of a file never read (a full parse).

Run with: python3 scripts/measure/edit_latency.py [path/to/codebox]"""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from mcp_call import Codebox  # noqa: E402

repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(repo, "target/release/codebox")
with tempfile.TemporaryDirectory() as tmp:
    root = os.path.join(tmp, "proj")
    os.makedirs(root)
    body = "".join(f"pub fn f{i}(x: u32) -> u32 {{\n    let y = x + {i};\n    y * 2\n}}\n\n" for i in range(2000))
    open(os.path.join(root, "big.rs"), "w").write(body)
    cb = Codebox(binary, root, dict(os.environ, XDG_STATE_HOME=os.path.join(tmp, "state")))
    for name in ("cold.rs", "eager.rs"):
        open(os.path.join(root, name), "w").write(body)
    cb.call("read_file", {"path": "big.rs", "limit": 50})
    time.sleep(1)  # the model reading and deciding; not a synchronisation
    times = []
    for i in range(30):
        old, new = (f"let y = x + {i};", f"let y = x + {i} + 0;")
        t = time.perf_counter()
        text, _, err = cb.call("edit_file", {"path": "big.rs", "edits": [{"old_string": old, "new_string": new}]})
        times.append(time.perf_counter() - t)
        assert not err, text
    t = time.perf_counter()
    text, _, err = cb.call("edit_file", {"path": "cold.rs", "edits": [{"old_string": "let y = x + 7;", "new_string": "let y = x + 8;"}]})
    cold = time.perf_counter() - t
    assert not err, text
    cb.call("read_file", {"path": "eager.rs", "limit": 50})
    t = time.perf_counter()
    text, _, err = cb.call("edit_file", {"path": "eager.rs", "edits": [{"old_string": "let y = x + 7;", "new_string": "let y = x + 8;"}]})
    eager = time.perf_counter() - t
    assert not err, text
    cb.close()
    first = times[0]
    times.sort()
    lines = body.count("\n")
    print(
        f"edit_file on a {lines}-line Rust file after read_file: median {times[15] * 1e3:.1f} ms, "
        f"p90 {times[27] * 1e3:.1f} ms (30 edits), first edit {first * 1e3:.1f} ms; "
        f"an edit right after its read: {eager * 1e3:.1f} ms; an edit of a file never read: {cold * 1e3:.1f} ms"
    )
