"""Minimal MCP stdio client for measurement scripts: start `codebox serve`, call tools, read resources.
Standard library only, so it runs anywhere python3 does."""
import json
import subprocess


class Codebox:
    def __init__(self, binary, root, env=None):
        self.p = subprocess.Popen([binary, "serve", "--root", root], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True, env=env)
        self.n = 0
        self.request("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                    "clientInfo": {"name": "measure", "version": "1"}})
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def send(self, msg):
        self.p.stdin.write(json.dumps(msg) + "\n")
        self.p.stdin.flush()

    def request(self, method, params):
        self.n += 1
        self.send({"jsonrpc": "2.0", "id": self.n, "method": method, "params": params})
        while True:
            msg = json.loads(self.p.stdout.readline())
            if msg.get("id") == self.n:
                if "error" in msg:
                    raise RuntimeError(msg["error"])
                return msg["result"]

    def call(self, tool, args):
        r = self.request("tools/call", {"name": tool, "arguments": args})
        return r["content"][0]["text"], r.get("structuredContent"), r.get("isError", False)

    def resource(self, uri):
        return self.request("resources/read", {"uri": uri})["contents"][0]["text"]

    def close(self):
        self.p.stdin.close()
        self.p.wait()
