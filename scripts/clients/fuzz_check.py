"""Read the --full-trace of `mcp-fuzz --include-destructive` (PyPI mcp-runtime-check) against codebox and check that
it built a well-formed call for every tool (issue 19): a "valid call" may fail only because of the synthetic values
the fuzzer invents (a file or output id named "test" that does not exist, nothing to commit), never because codebox
refused the call's shape, a value outside a stated bound or a choice outside a stated enum.

Usage: fuzz_check.py TRACE.jsonl TOOL_COUNT
Prints one line per tool and a summary; exit 0 only when every tool got a valid call and none was refused that way.
"""
import json
import sys

# What codebox answers when the arguments themselves are wrong: serde's refusal (server::parse) and the tools'
# own range and choice checks. A schema-derived call must never meet one of these.
SHAPE_REFUSALS = ("invalid arguments for", "must be between", "must be at most", "is too small", "is not one of",
                  "is empty", "1-based")

trace, expected = sys.argv[1], int(sys.argv[2])
valid, bad = {}, []
for line in open(trace):
    e = json.loads(line)
    if e.get("event") != "tool.call" or e.get("case") != "valid":
        continue
    tool, outcome, detail = e["tool"], e.get("outcome"), e.get("detail") or ""
    valid[tool] = outcome
    said = (" — " + detail.splitlines()[0][:120]) if detail else ""
    print(f"{tool}: {outcome}{said}  args={json.dumps(e.get('arguments'))[:160]}")
    if any(r in detail for r in SHAPE_REFUSALS):
        bad.append(f"{tool}: its valid call was refused for its shape or range: {detail[:200]}")
    elif outcome not in ("ok", "valid_call_errored"):
        bad.append(f"{tool}: valid call outcome {outcome}: {detail[:200]}")
if len(valid) != expected:
    bad.append(f"valid calls for {len(valid)} tools, expected {expected}: {sorted(valid)}")
for b in bad:
    print("FAIL", b)
errored = sum(1 for o in valid.values() if o != "ok")
if bad:
    print(f"mcp-fuzz valid calls: {len(bad)} problem(s)")
else:
    print(f"mcp-fuzz valid calls: {len(valid)} tools, {len(valid) - errored} succeeded, "
          f"{errored} failed on synthetic values only")
sys.exit(1 if bad else 0)
