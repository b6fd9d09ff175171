"""Drives an installed codebox over stdio with the official Python MCP SDK: initialize, tools/list, and a
run_command that must run inside the sandbox with every layer enforced.

Usage: check_installed.py --version V --root DIR -- COMMAND [ARG...]
       starts `COMMAND ARG... serve --root DIR` (COMMAND is the installed `codebox`, or `npx … codebox`) with this
       process's environment; exits 0 only when every check passed, else 1 naming the first that failed.
"""
import argparse
import asyncio
import os
import sys

from mcp import Client, StdioServerParameters

# Tools a client must see: one of each family.
EXPECTED_TOOLS = {"read_file", "edit_file", "search", "run_command", "run_tests", "git_status", "job_start"}
# Layers every sandboxed command reports as enforced on a machine that offers them all.
EXPECTED_LAYERS = ["namespaces", "landlock", "seccomp"]


def check(ok, what):
    if not ok:
        raise SystemExit(f"check_installed: FAILED: {what}")
    print(f"ok   {what.splitlines()[0][:150]}")


async def run(a):
    params = StdioServerParameters(
        command=a.command[0], args=[*a.command[1:], "serve", "--root", a.root], env=dict(os.environ)
    )
    async with Client(params, mode="auto") as c:
        info = c.session.initialize_result
        check(info is not None and info.server_info.name == "codebox", f"initialize: server {info.server_info}")
        check(info.server_info.version == a.version, f"the server is version {a.version}: {info.server_info.version}")
        tools = {t.name for t in (await c.list_tools()).tools}
        check(EXPECTED_TOOLS <= tools, f"tools/list: {len(tools)} tools, missing {sorted(EXPECTED_TOOLS - tools)}")
        # Inside: the command's own PID namespace (its init is the sandbox helper), a read-only /usr, no network.
        r = await c.call_tool(
            "run_command",
            {
                "command": "echo inside-$((6 * 7)); echo pid1=$(tr '\\0' ' ' < /proc/1/cmdline); "
                "touch /usr/codebox-probe 2>&1 | sed 's/^.*: /usr: /'; "
                "(echo > /dev/tcp/192.0.2.1/80) 2>&1 | tail -1"
            },
        )
        text = "\n".join(getattr(b, "text", "") for b in r.content)
        check(not r.is_error, f"run_command ran:\n{text}")
        check("inside-42" in text, f"the command's output came back:\n{text}")
        check("usr: Read-only file system" in text, f"/usr is read-only inside:\n{text}")
        check("Network is unreachable" in text, f"no route out of the command's network namespace:\n{text}")
        pid1 = next((l for l in text.splitlines() if l.startswith("pid1=")), "")
        check("codebox-sandbox" in pid1, f"the sandbox helper installed beside codebox runs the namespace: {pid1}")
        status = text.rsplit("sandbox: ", 1)[-1]
        check("SKIPPED" not in status, f"no sandbox layer was skipped: {status}")
        for layer in EXPECTED_LAYERS:
            check(layer in status, f"layer {layer} enforced: {status.strip()}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--version", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("command", nargs="+")
    a = ap.parse_args()
    try:
        asyncio.run(run(a))
    except SystemExit:
        raise
    except BaseException as e:  # an SDK error: name its first real cause, not an ExceptionGroup
        while getattr(e, "exceptions", None):
            e = e.exceptions[0]
        sys.exit(f"check_installed: FAILED: {type(e).__name__}: {e}")


if __name__ == "__main__":
    main()
