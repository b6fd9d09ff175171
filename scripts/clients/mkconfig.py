"""Turn one of examples/' client configs into the one a check uses, changing only what must change.

Usage: mkconfig.py EXAMPLE OUT CODEBOX_CMD ROOT URL
- the stdio command `codebox` becomes CODEBOX_CMD and `--root ROOT` is set;
- the example URL http://127.0.0.1:8765/mcp becomes URL;
- a token placeholder (for a client that cannot read the environment) becomes $CODEBOX_TOKEN's value.
Env-var references (${CODEBOX_TOKEN}, {env:CODEBOX_TOKEN}, bearer_token_env_var) are kept, so the check proves
that the client expands them.
"""
import json
import os
import re
import sys

example, out, cmd, root, url = sys.argv[1:6]
EXAMPLE_URL = "http://127.0.0.1:8765/mcp"
PLACEHOLDER = "PASTE_YOUR_CODEBOX_TOKEN_HERE"
token = os.environ.get("CODEBOX_TOKEN", "")


def with_root(args):
    args = list(args)
    if "--root" in args:
        args[args.index("--root") + 1] = root
    else:
        args += ["--root", root]
    return args


def walk(v):
    if isinstance(v, dict):
        r = {}
        for k, x in v.items():
            if k == "command" and x == "codebox":
                r[k] = cmd
            elif k == "command" and isinstance(x, list) and x and x[0] == "codebox":
                r[k] = [cmd] + with_root(x[1:])
            elif k == "args" and isinstance(x, list) and x and x[0] == "serve":
                r[k] = with_root(x)
            else:
                r[k] = walk(x)
        return r
    if isinstance(v, list):
        return [walk(x) for x in v]
    if isinstance(v, str):
        return v.replace(EXAMPLE_URL, url).replace(PLACEHOLDER, token)
    return v


text = open(example).read()
if example.endswith(".toml"):
    text = text.replace('command = "codebox"', "command = %s" % json.dumps(cmd))
    text = re.sub(r'args = \["serve"\]', "args = %s" % json.dumps(["serve", "--root", root]), text)
    text = text.replace(EXAMPLE_URL, url).replace(PLACEHOLDER, token)
else:
    text = json.dumps(walk(json.loads(text)), indent=2)
os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
open(out, "w").write(text + "\n")
