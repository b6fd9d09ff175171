#!/usr/bin/env python3
"""Issue 14 closing figures: the characters of text content returned to the model over the bug-fix flows of the
test suite's failing fixtures (tests/fixtures/projects/{py,rs,go,node}_fail), per tool, for two codebox binaries
(before and after a change). The flow is the one the example agent follows (tests/it/agent.rs): look around,
search, read the code and the test, run the tests, fix, run them again, look at the diff. Each run also checks
that every failure id, file:line and next-call hint the model needs is still in the text.

Run with: scripts/measure/flow_chars.py BEFORE_BIN AFTER_BIN
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mcp_call import Codebox  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(REPO, "tests", "fixtures", "projects")

# fixture: (symbol to search, source file, test file, edit that fixes one failure, what must survive in the text)
FLOWS = {
    "py_fail": ("parse_num", "calc/ops.py", "tests/test_calc.py",
                {"old_string": "    if value < 0:\n        raise ValueError(f\"negative not allowed: {value}\")\n",
                 "new_string": "    if value < 0:\n        value = -value\n"},
                ["test_add_wrong", "tests/test_calc.py:", "test_parse_negative"]),
    "rs_fail": ("divide", "src/lib.rs", "tests/integration.rs",
                {"old_string": "        panic!(\"division by zero: {a} / {b}\");", "new_string": "        return 0;"},
                ["adds_wrong", "src/lib.rs:29", "divides_by_zero", "integration_bad"]),
    "go_fail": ("Div", "calc.go", "calc_test.go",
                {"old_string": "func Add(a, b int) int { return a + b }", "new_string": "func Add(a, b int) int { return a + b + 0 }"},
                ["TestAdd", "calc_test.go:"]),
    "node_fail": ("parseNum", "src/calc.js", "test/calc.test.js",
                  {"old_string": "  return a + b;", "new_string": "  return a + b + 0;"},
                  ["add wrong", "calc.test.js:"]),
}


def flow(binary, name):
    sym, src, test, edit, must = FLOWS[name]
    work = tempfile.mkdtemp()
    root = os.path.join(work, "proj")
    shutil.copytree(os.path.join(FIXTURES, name), root)
    git = ["git", "-c", "user.name=m", "-c", "user.email=m@m", "-c", "init.defaultBranch=main"]
    subprocess.run(git + ["init", "-q"], cwd=root, check=True)
    subprocess.run(git + ["add", "-A"], cwd=root, check=True)
    subprocess.run(git + ["commit", "-qm", "start"], cwd=root, check=True)
    env = dict(os.environ, XDG_STATE_HOME=os.path.join(work, "state"), TMPDIR=work)
    cb = Codebox(binary, root, env)
    calls = [
        ("list_directory", {}),
        ("search", {"pattern": sym}),
        ("read_file", {"path": src}),
        ("read_file", {"path": test}),
        ("run_tests", {}),
        ("edit_file", {"path": src, "edits": [edit]}),
        ("run_tests", {}),
        ("run_command", {"command": "git status --short"}),
        ("run_command", {"command": "ls"}),
        ("git_diff", {}),
    ]
    sizes, texts = {}, []
    for tool, args in calls:
        text, _, is_error = cb.call(tool, args)
        if is_error:
            raise SystemExit(f"{name}: {tool} {args} failed: {text}")
        sizes[tool] = sizes.get(tool, 0) + len(text)
        texts.append(text)
    cb.close()
    shutil.rmtree(work, ignore_errors=True)
    joined = "\n".join(texts)
    missing = [m for m in must if m not in joined]
    return sizes, missing


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    before_bin, after_bin = sys.argv[1], sys.argv[2]
    totals = {"before": {}, "after": {}}
    for name in FLOWS:
        for label, binary in (("before", before_bin), ("after", after_bin)):
            sizes, missing = flow(binary, name)
            if missing:
                print(f"{label} {name}: MISSING from the text: {missing}")
            for tool, n in sizes.items():
                totals[label][tool] = totals[label].get(tool, 0) + n
    print(f"{'tool':<16} {'before':>8} {'after':>8} {'change':>8}")
    for tool in sorted(totals["before"]):
        b, a = totals["before"][tool], totals["after"].get(tool, 0)
        print(f"{tool:<16} {b:>8} {a:>8} {100 * (a - b) / b:>7.1f}%")
    b, a = sum(totals["before"].values()), sum(totals["after"].values())
    print(f"{'all':<16} {b:>8} {a:>8} {100 * (a - b) / b:>7.1f}%")


if __name__ == "__main__":
    main()
