"""Issue 4 closing figure: edit_file end to end (MCP request to response over stdio) on a 10,000-line Rust file,
each edit valid (so the syntax gate parses the new text once). Median and p90 of 30 edits.

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
    times = []
    for i in range(30):
        old, new = (f"let y = x + {i};", f"let y = x + {i} + 0;")
        t = time.perf_counter()
        text, _, err = cb.call("edit_file", {"path": "big.rs", "edits": [{"old_string": old, "new_string": new}]})
        times.append(time.perf_counter() - t)
        assert not err, text
    cb.close()
    times.sort()
    lines = body.count("\n")
    print(f"edit_file on a {lines}-line Rust file: median {times[15] * 1e3:.1f} ms, p90 {times[27] * 1e3:.1f} ms (30 edits)")
