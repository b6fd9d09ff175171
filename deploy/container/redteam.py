"""The red-team subset of the sandbox suite (tests/it/sandbox.rs, ATTACKS.md S2–S21) against a codebox serving
streamable HTTP in a container, through the official Python MCP SDK: each attack must be stopped, by the layer the
table names, with the container's own view checked from outside the sandbox (`podman exec`).

Usage: redteam.py URL EXEC...     (the token in CODEBOX_TOKEN; EXEC runs a command in the container, e.g.
                                   `podman exec NAME`, to check canaries and leftover processes)
Prints one line per attack; exits 0 only when every one was stopped.
"""
import asyncio
import os
import re
import subprocess
import sys

from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

URL = sys.argv[1]
EXEC = sys.argv[2:]
CANARY = "CANARY-redteam-outside-the-workspace"
failures = []


def inside_container(cmd):
    """Runs `cmd` in the container, outside codebox's sandbox (as the container's own user)."""
    return subprocess.run([*EXEC, "sh", "-c", cmd], capture_output=True, text=True).stdout


checks = 0


def expect(row, ok, text):
    global checks
    checks += 1
    print(f"{'ok  ' if ok else 'FAIL'} {row}")
    if not ok:
        failures.append(row)
        print("     " + text.replace("\n", "\n     ")[:2000])


def py(code):
    return f"python3 - <<'PY'\n{code}\nPY"


async def main():
    token = os.environ["CODEBOX_TOKEN"]
    # A canary outside the workspace, where a host unix socket or secret would be: the sandbox must not see it.
    inside_container(f"echo {CANARY} > /var/tmp/canary && echo {CANARY} > /home/codebox/.canary")
    async with create_mcp_http_client(headers={"Authorization": f"Bearer {token}"}) as http:
        async with Client(streamable_http_client(URL, http_client=http), mode="auto") as c:

            async def sh(command, timeout=None):
                args = {"command": command}
                if timeout:
                    args["timeout_secs"] = timeout
                r = await c.call_tool("run_command", args)
                text = "\n".join(getattr(b, "text", "") for b in r.content)
                if r.is_error:
                    raise SystemExit(f"run_command was refused (a layer is missing?):\n{text}")
                return text

            # The layers, as the first result of the session reports them: every one enforced, the per-command
            # cgroup aside (a non-root codebox has none to give; rlimits and the container's cgroup bound it).
            out = await sh("true")
            status = out.rsplit("sandbox: ", 1)[-1]
            on, _, skipped = status.partition("; SKIPPED")
            want = ["namespaces", "filesystem", "proc", "root", "no_new_privs", "landlock", "landlock-scope",
                    "capabilities", "rlimits", "seccomp", "session-network"]
            missing = [l for l in want if not re.search(rf"\b{re.escape(l)}\b", on)]
            skipped_names = re.sub(r"\([^()]*(\([^()]*\)[^()]*)*\)", "", skipped).strip(" :]")
            expect("layers: every layer enforced but the per-command cgroup",
                   not missing and skipped_names in ("", "cgroup"), f"missing {missing}: {status}")

            out = await sh("echo x > /etc/codebox-s2; echo y > /usr/codebox-s2; cat /var/tmp/canary; "
                           "cat ~/.canary; echo pwned >> ~/.bashrc && echo wrote-private-home")
            expect("S2 writes outside the workspace fail; S14 the container's files stay unseen",
                   out.count("Read-only file system") == 2 and CANARY not in out and "wrote-private-home" in out
                   and "pwned" not in inside_container("cat /home/codebox/.bashrc 2>/dev/null; echo"), out)

            out = await sh("echo x > /dev/tcp/1.1.1.1/80; echo rc=$?; "
                           "(echo > /dev/tcp/127.0.0.1/8765) 2>&1; echo own=$?")
            expect("S3 no TCP egress; S5 codebox's own port on the container's loopback unreachable",
                   "Network is unreachable" in out and "rc=1" in out and "own=1" in out, out)

            out = await sh(py("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ntry:\n"
                              "    s.sendto(b'x', ('1.1.1.1', 53))\n    print('SENT')\nexcept OSError as e:\n"
                              "    print('udp blocked', e.errno)\ntry:\n"
                              "    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)\n"
                              "    print('RAW')\nexcept OSError as e:\n    print('raw blocked', e.errno)"))
            expect("S4 no UDP or raw sockets", "udp blocked 101" in out and "raw blocked 1" in out, out)

            out = await sh(py("import fcntl, termios\ntry:\n    fcntl.ioctl(0, termios.TIOCSTI, b'x')\n"
                              "    print('INJECTED')\nexcept OSError as e:\n    print('tiocsti', e.errno)"))
            expect("S8 TIOCSTI refused", "INJECTED" not in out and "tiocsti" in out, out)

            out = await sh("cat /proc/1/cmdline | tr '\\0' ' '; echo; grep -l [s]erve /proc/[0-9]*/cmdline; "
                           "ls -d /proc/[0-9]* | wc -l; env; cat /var/lib/codebox/token; "
                           "grep -E '^(CapEff|NoNewPrivs)' /proc/self/status")
            expect("S9/S12 codebox's process invisible; S13 no token in the environment or on disk; "
                   "S10 no capabilities, no_new_privs",
                   "/cmdline" not in out and "CODEBOX" not in out
                   and "No such file or directory" in out and "CapEff:\t0000000000000000" in out
                   and "NoNewPrivs:\t1" in out, out)

            await sh("(sleep 987601 &) ; setsid nohup sleep 987602 >/dev/null 2>&1 & disown; echo started")
            left = inside_container("grep -l [9]8760 /proc/[0-9]*/cmdline 2>/dev/null")
            expect("S15 nothing outlives the call", left.strip() == "", left)

            r = await c.call_tool("run_command", {"command": "bomb() { bomb | bomb & }; bomb; wait", "timeout_secs": 5})
            text = "\n".join(getattr(b, "text", "") for b in r.content)
            alive = await sh("echo alive")
            expect("S16 a fork bomb ends with the call; codebox stays responsive",
                   not r.is_error and "alive" in alive and "bomb" not in inside_container(
                       "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '"), text)

            out = await sh("printf 'int main(void){int r; __asm__ volatile (\"int $0x80\" : \"=a\"(r) : \"a\"(20));"
                           " return 0;}' > /tmp/int80.c && cc -o /tmp/int80 /tmp/int80.c && /tmp/int80; echo rc=$?; "
                           + py("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                                "print('io_uring_setup', libc.syscall(425, 1, 0), ctypes.get_errno())"))
            expect("S19 io_uring and the 32-bit entry refused", "rc=159" in out and "io_uring_setup -1 1" in out, out)

            out = await sh(py("import socket\nfor fam, kind in [(40, socket.SOCK_STREAM), (16, socket.SOCK_RAW), "
                              "(17, socket.SOCK_RAW)]:\n    try:\n        socket.socket(fam, kind)\n"
                              "        print('OPENED', fam)\n    except OSError as e:\n"
                              "        print('refused', fam, e.errno)"))
            expect("S20 vsock, netlink and packet sockets refused",
                   all(f"refused {f} 1" in out for f in (40, 16, 17)), out)

            out = await sh("unshare -r true; echo unshare=$?; mount -o remount,rw /usr; echo remount=$?; "
                           "chroot / true; echo chroot=$?")
            expect("S21 the sandbox cannot be undone from inside",
                   all(s in out for s in ("unshare=1", "remount=32", "chroot=125")), out)

    print(f"\nred team: all {checks} checks passed" if not failures else f"\nred team: FAILED {failures}")
    sys.exit(1 if failures else 0)


try:
    asyncio.run(main())
except SystemExit:
    raise
except BaseException as e:
    while getattr(e, "exceptions", None):
        e = e.exceptions[0]
    sys.exit(f"redteam: FAILED: {type(e).__name__}: {e}")
