"""Issue 7 closing figures: for each fixture's failing variant, the raw output of the runner (as codebox kept it)
against the characters of run_tests' result text.

Run with: python3 scripts/measure/run_tests_sizes.py [path/to/codebox]"""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from mcp_call import Codebox  # noqa: E402

repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(repo, "target/debug/codebox")
print(f"{'fixture':<12} {'framework':<14} {'status':<7} {'raw chars':>10} {'result chars':>13} {'ratio':>6}")
for name in ["rs_fail", "py_fail", "go_fail", "node_fail", "rs_broken", "py_syntax", "go_broken", "node_broken"]:
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "proj")
        shutil.copytree(os.path.join(repo, "tests/fixtures/projects", name), root)
        env = dict(os.environ, XDG_STATE_HOME=os.path.join(tmp, "state"))
        cb = Codebox(binary, root, env)
        text, structured, _ = cb.call("run_tests", {})
        raw = cb.resource(f"codebox://output/{structured['output_id']}")
        cb.close()
        print(f"{name:<12} {structured['framework']:<14} {structured['status']:<7} {len(raw):>10} {len(text):>13} "
              f"{len(text) / max(len(raw), 1):>6.2f}")
