"""Connect to codebox with the official Python MCP SDK, list its tools and call read_file.

Usage: py_check.py stdio CODEBOX_BIN ROOT
       py_check.py http URL            (the bearer token comes from CODEBOX_TOKEN)
Prints one JSON line: {"connected", "tools", "call", "protocol", "error"}; exit 0 only when all three worked.
"""
import asyncio
import json
import os
import sys

from mcp import Client, StdioServerParameters

out = {"connected": False, "tools": None, "call": False, "protocol": None, "error": ""}


async def run(client):
    async with client as c:
        out["connected"] = True
        ir = getattr(c.session, "initialize_result", None)
        if ir is not None:
            out["protocol"] = ir.protocol_version
        out["tools"] = len((await c.list_tools()).tools)
        r = await c.call_tool("read_file", {"path": "README.md"})
        text = r.content[0].text if r.content else ""
        if r.is_error:
            out["error"] = "read_file returned isError: " + text[:200]
        elif "codebox-clients-check" not in text:
            out["error"] = "read_file result lacks the README text: " + text[:200]
        else:
            out["call"] = True


async def main():
    kind = sys.argv[1]
    if kind == "stdio":
        await run(Client(StdioServerParameters(command=sys.argv[2], args=["serve", "--root", sys.argv[3]]), mode="auto"))
    else:
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        token = os.environ["CODEBOX_TOKEN"]
        async with create_mcp_http_client(headers={"Authorization": f"Bearer {token}"}) as http:
            await run(Client(streamable_http_client(sys.argv[2], http_client=http), mode="auto"))


try:
    asyncio.run(main())
except BaseException as e:  # report, never a traceback only
    msg = f"{type(e).__name__}: {e}"
    # ExceptionGroup from anyio: name the first real cause
    while getattr(e, "exceptions", None):
        e = e.exceptions[0]
        msg = f"{type(e).__name__}: {e}"
    out["error"] = out["error"] or msg
print(json.dumps(out))
sys.exit(0 if out["connected"] and out["tools"] and out["call"] else 1)
