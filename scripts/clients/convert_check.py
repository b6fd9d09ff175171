"""List codebox's tools with the official Python MCP SDK and convert each one with a model SDK's function-declaration
builder, then check that every field the listing describes is still there after the conversion (issue 19).

Usage: convert_check.py CODEBOX_BIN ROOT
The converter is google-genai: `_mcp_utils.mcp_to_gemini_tool`, the path the SDK itself takes when it is handed
MCP tools, and `types.Schema.from_json_schema(..., raise_error_on_unsupported_field=True)` for the input and output
schemas as a `types.FunctionDeclaration`. Both keep what the Gemini `Schema` knows and drop (or, strict, refuse)
the rest, so a `$ref` the converter cannot follow, an `anyOf`, a type list or an unknown keyword shows up as a
lost or changed field. Runs offline: the server is a local child process, the conversion is pure Python.
Prints one JSON line {"tools", "fields", "problems"}; exit 0 only when there are tools and no problems.
"""
import asyncio
import json
import os
import sys

from google.genai import _mcp_utils, types
from mcp import Client, StdioServerParameters

# JSON Schema keyword -> the Schema field it becomes; the portable subset has nothing else.
SCALARS = {"description": "description", "enum": "enum", "minimum": "minimum", "maximum": "maximum",
           "default": "default"}


def compare(want, got, path, problems):
    """Every keyword of `want` (a JSON Schema node) must be in `got` (a converted types.Schema), the same,
    and `got` must carry nothing `want` did not say. Returns how many fields were checked."""
    if got is None:
        problems.append(f"{path}: lost in conversion")
        return 0
    checked = 1
    t = want.get("type")
    got_t = got.type.value if got.type is not None else None
    if not isinstance(t, str) or got_t != t.upper():
        problems.append(f"{path}: type {t!r} became {got_t!r}")
    for key, field in SCALARS.items():
        w, g = want.get(key), getattr(got, field)
        if key in ("minimum", "maximum") and w is not None and g is not None:
            same = float(w) == float(g)
        else:
            same = w == g
        if not same:
            problems.append(f"{path}: {key} {w!r} became {g!r}")
    if sorted(want.get("required", [])) != sorted(got.required or []):
        problems.append(f"{path}: required {want.get('required')} became {got.required}")
    want_props, got_props = want.get("properties", {}), got.properties or {}
    if set(want_props) != set(got_props):
        problems.append(f"{path}: properties {sorted(want_props)} became {sorted(got_props)}")
    for name, sub in want_props.items():
        checked += compare(sub, got_props.get(name), f"{path}.{name}", problems)
    if "items" in want:
        checked += compare(want["items"], got.items, f"{path}[]", problems)
    elif got.items is not None:
        problems.append(f"{path}: items appeared from nowhere")
    if got.any_of:
        problems.append(f"{path}: became a union (any_of)")
    return checked


def strict(schema):
    return types.Schema.from_json_schema(json_schema=types.JSONSchema(**schema), api_option="GEMINI_API",
                                         raise_error_on_unsupported_field=True)


async def main(bin_path, root):
    problems, fields = [], 0
    # The SDK passes only a minimal environment to a stdio server unless told; the caller's TMPDIR and
    # XDG_STATE_HOME keep codebox's scratch and undo history next to the test project.
    params = StdioServerParameters(command=bin_path, args=["serve", "--root", root], env=dict(os.environ))
    async with Client(params, mode="auto") as c:
        tools = (await c.list_tools()).tools
    for tool in tools:
        name = tool.name
        input_schema = getattr(tool, "input_schema", None) or getattr(tool, "inputSchema", None)
        output_schema = getattr(tool, "output_schema", None) or getattr(tool, "outputSchema", None)
        try:
            via_mcp = _mcp_utils.mcp_to_gemini_tool(tool).function_declarations[0]
            fields += compare(input_schema, via_mcp.parameters, f"{name} (mcp_to_gemini_tool) input", problems)
            decl = types.FunctionDeclaration(name=name, description=tool.description, parameters=strict(input_schema),
                                             response=strict(output_schema) if output_schema else None)
            fields += compare(input_schema, decl.parameters, f"{name} (FunctionDeclaration) input", problems)
            if output_schema:
                fields += compare(output_schema, decl.response, f"{name} (FunctionDeclaration) output", problems)
        except Exception as e:  # the converter refused the schema: that is the finding
            problems.append(f"{name}: the converter refused it: {type(e).__name__}: {str(e)[:300]}")
    return {"tools": len(tools), "fields": fields, "problems": problems}


try:
    out = asyncio.run(main(sys.argv[1], sys.argv[2]))
except BaseException as e:  # report, never a traceback only
    while getattr(e, "exceptions", None):
        e = e.exceptions[0]
    out = {"tools": 0, "fields": 0, "problems": [f"could not list the tools: {type(e).__name__}: {e}"]}
print(json.dumps(out))
sys.exit(0 if out["tools"] and not out["problems"] else 1)
