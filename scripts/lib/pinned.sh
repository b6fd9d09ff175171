# Sourced by scripts/test and scripts/test-packages: the pinned Python packages the tests drive, and the one way
# they are installed into a venv under target/test-tools (remade only when the pins change).

# The MCP Python SDK, google-genai (the converter test in tests/it/schemas.rs), mcp-runtime-check (mcp-fuzz).
PY_PACKAGES="mcp==2.3.0 google-genai==3.3.0 mcp-runtime-check==0.10.1"

# pinned_venv DIR "PACKAGES": DIR is a venv holding exactly PACKAGES.
pinned_venv() {
  local dir=$1 packages=$2
  if [ "$(cat "$dir/.installed" 2>/dev/null)" != "$packages" ]; then
    rm -rf "$dir"
    python3 -m venv "$dir"
    # shellcheck disable=SC2086 # one argument per package
    "$dir/bin/pip" install --quiet --disable-pip-version-check $packages
    echo "$packages" > "$dir/.installed"
  fi
}
