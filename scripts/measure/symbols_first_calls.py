#!/usr/bin/env python3
"""What a fresh server costs on its first symbol calls (issue 15): the resident memory a cold repo_map adds, and the
first outline of one file, on a server that has done nothing yet and on one that has already outlined another file of
the same language (its tags query then compiled).

Usage: scripts/measure/symbols_first_calls.py CODEBOX_BINARY ROOT FILE [OTHER_FILE_SAME_LANGUAGE]
  e.g. scripts/measure/symbols_first_calls.py target/release/codebox target/symbols-corpus \
       python/Django-5.1.4/django/contrib/admin/static/admin/js/vendor/jquery/jquery.js \
       python/Django-5.1.4/django/contrib/admin/static/admin/js/actions.js
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mcp_call import Codebox  # noqa: E402


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def timed(c, tool, args):
    t = time.perf_counter()
    c.call(tool, args)
    return (time.perf_counter() - t) * 1e3


def main():
    binary, root, path = sys.argv[1:4]
    other = sys.argv[4] if len(sys.argv) > 4 else None
    c = Codebox(binary, root)
    before = rss_mib(c.p.pid)
    cold = timed(c, "repo_map", {})
    after = rss_mib(c.p.pid)
    print(f"cold repo_map {cold:.0f} ms; VmRSS {before:.1f} -> {after:.1f} MiB (+{after - before:.1f})")
    c.p.stdin.close()
    c.p.wait()
    for warm in ([False, True] if other else [False]) * 2:
        c = Codebox(binary, root)
        pre = f"after outlining {other} ({timed(c, 'outline', {'path': other}):.1f} ms)" if warm else "fresh server"
        first = timed(c, "outline", {"path": path})
        again = timed(c, "outline", {"path": path})
        print(f"{pre}: first outline of {path} {first:.1f} ms, again {again:.1f} ms")
        c.p.stdin.close()
        c.p.wait()


if __name__ == "__main__":
    main()
