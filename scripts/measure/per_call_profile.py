"""Per-call cost of one stdio call kind (issue 18), in instructions or as a profile.

Run with: python3 scripts/measure/per_call_profile.py BINARY KIND [callgrind|perf]
  KIND: ping | read (1 KB file) | big (100 KB file) | list (list_directory of 20 files) | search (one literal)

callgrind (the default; deterministic, unlike time on a shared VM): runs `valgrind --tool=callgrind codebox serve`
for 100 and for 1,100 sequential calls and prints (Ir at 1,100 - Ir at 100) / 1,000, the instructions one call
costs, and the functions that cost the most per call. `--sandbox best-effort` because valgrind knows neither
openat2 nor landlock. perf: `perf record -e cpu-clock` (no hardware counters on a VM) over 20,000 calls, then the
top entries of `perf report --sort sym`, kernel included.
"""
import collections
import json
import os
import re
import subprocess
import sys
import tempfile

LINE = "the quick brown fox jumps over the lazy dog, again and again.\n"
CALLS = {
    "read": ("read_file", {"path": "small.txt"}),
    "big": ("read_file", {"path": "big.txt"}),
    "list": ("list_directory", {}),
    "search": ("search", {"pattern": "needle"}),
}


def make_root(root):
    os.makedirs(os.path.join(root, "src"), exist_ok=True)
    with open(os.path.join(root, "small.txt"), "w") as f:
        f.write("marker\n" + LINE * 16)
    with open(os.path.join(root, "big.txt"), "w") as f:
        f.write("marker\n" + LINE * (100 * 1024 // len(LINE)))
    for i in range(20):
        with open(os.path.join(root, "src", f"m{i}.rs"), "w") as f:
            f.write(f"pub fn f{i}() {{}}\n" + "// filler line\n" * 50 + ("fn needle() {}\n" if i == 7 else ""))


def drive(prefix, binary, root, kind, n):
    """n sequential calls of `kind`, each waiting for its answer, under the `prefix` command."""
    p = subprocess.Popen(prefix + [binary, "serve", "--sandbox", "best-effort", "--root", root],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def send(o):
        p.stdin.write((json.dumps(o) + "\n").encode())
        p.stdin.flush()

    def wait(i):
        while True:
            line = p.stdout.readline()
            if not line:
                raise SystemExit("codebox closed stdout")
            if f'"id":{i}'.encode() in line:
                return line

    send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "profile", "version": "0"}}})
    wait(1)
    send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    for i in range(2, 2 + n):
        if kind == "ping":
            send({"jsonrpc": "2.0", "id": i, "method": "ping"})
        else:
            name, args = CALLS[kind]
            send({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": name, "arguments": args}})
        answer = wait(i)
        if i == 2 and b'"isError":true' in answer:
            raise SystemExit(answer.decode())
    p.stdin.close()
    p.wait()


def functions(out):
    """Instructions per function of one callgrind output."""
    text = subprocess.run(["callgrind_annotate", "--threshold=100", out], capture_output=True, text=True).stdout
    costs = collections.Counter()
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+(.*)", line)
        if m and "PROGRAM TOTALS" not in line:
            costs[m.group(2)[:120]] += int(m.group(1).replace(",", ""))
    return costs


def main():
    binary, kind = sys.argv[1], sys.argv[2]
    tool = sys.argv[3] if len(sys.argv) > 3 else "callgrind"
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "root")
        make_root(root)
        if tool == "perf":
            data = os.path.join(tmp, "perf.data")
            drive(["perf", "record", "-q", "-e", "cpu-clock", "-F", "20000", "-o", data, "--"], binary, root, kind,
                  20000)
            report = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "sym", "--stdio"],
                                    capture_output=True, text=True).stdout
            print("\n".join([line for line in report.splitlines() if line.strip() and not line.startswith("#")][:20]))
            return
        runs = {}
        for n in (100, 1100):
            out = os.path.join(tmp, f"callgrind.{n}")
            drive(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out], binary, root, kind, n)
            runs[n] = functions(out)
        per_call = {k: (runs[1100][k] - runs[100].get(k, 0)) / 1000 for k in runs[1100]}
        print(f"{kind}: {sum(per_call.values()):.0f} Ir per call")
        for name, ir in sorted(per_call.items(), key=lambda kv: -kv[1])[:20]:
            print(f"{ir:10.0f}  {name}")


if __name__ == "__main__":
    main()
