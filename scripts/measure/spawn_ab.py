#!/usr/bin/env python3
"""Spawn cost of a sandboxed command, two codebox binaries side by side (issue 21: the cgroup and the
allowlisted filesystem view against the binary before them).

Each binary serves a scratch workspace over stdio; after 3 warm-up calls, N sequential run_command("true")
calls are timed at the client (the whole round trip: MCP, helper, namespaces, view, cgroup, bash, exit).
Rounds alternate between the binaries so that machine load affects both alike. Prints the median of each
round, the median of medians, and the difference. A report: nothing is asserted.

Usage: scripts/measure/spawn_ab.py BEFORE_BIN AFTER_BIN [CALLS] [ROUNDS]
Example (the binary before issue 21):
  git worktree add /tmp/before bea736f && (cd /tmp/before && cargo build --release)
  cargo build --release && scripts/measure/spawn_ab.py /tmp/before/target/release/codebox target/release/codebox
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def medians(binary, root, calls):
    p = subprocess.Popen([binary, "serve", "--root", root], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)

    def send(m):
        p.stdin.write(json.dumps(m) + "\n")
        p.stdin.flush()

    def recv():
        while True:
            m = json.loads(p.stdout.readline())
            if "id" in m:
                return m

    send({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "spawn-ab", "version": "0"}}})
    recv()
    send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    times = []
    for i in range(calls + 3):
        t = time.perf_counter()
        send({"jsonrpc": "2.0", "id": i + 1, "method": "tools/call",
              "params": {"name": "run_command", "arguments": {"command": "true"}}})
        r = recv()
        text = r["result"]["content"][0]["text"]
        if "[exit 0" not in text:
            sys.exit(f"{binary}: the command did not run: {text}")
        if i >= 3:
            times.append((time.perf_counter() - t) * 1000)
    p.stdin.close()
    p.wait()
    return statistics.median(times)


def main():
    before, after = sys.argv[1], sys.argv[2]
    calls = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    with tempfile.TemporaryDirectory() as root:
        res = {before: [], after: []}
        for _ in range(rounds):
            for b in (before, after):
                res[b].append(medians(b, root, calls))
    mb, ma = statistics.median(res[before]), statistics.median(res[after])
    print(f"run_command(\"true\"), {calls} calls x {rounds} rounds, median of round medians:")
    print(f"  before {mb:.2f} ms  {['%.2f' % x for x in res[before]]}  ({before})")
    print(f"  after  {ma:.2f} ms  {['%.2f' % x for x in res[after]]}  ({after})")
    print(f"  difference {ma - mb:+.2f} ms (target: at most +2 ms)")


if __name__ == "__main__":
    main()
