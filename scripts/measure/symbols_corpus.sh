#!/usr/bin/env bash
# Builds target/symbols-corpus for the symbols accuracy check and benchmark (issue 15): the crates of the local
# Cargo registry cache (hard links, no copy) and the sources of a Python sdist fetched with pip. Third-party code
# stays under target/ and is never committed.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=target/symbols-corpus
mkdir -p "$out/dl" "$out/python"
if [ ! -d "$out/registry" ]; then
    src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/ | head -1)
    cp -al "$src" "$out/registry" 2>/dev/null || cp -a "$src" "$out/registry"
fi
if [ -z "$(ls "$out/python")" ]; then
    pip download -q --no-deps --no-binary :all: django==5.1.4 -d "$out/dl"
    tar -xzf "$out"/dl/Django-5.1.4.tar.gz -C "$out/python"
fi
echo "$out: $(find "$out/registry" "$out/python" -type f | wc -l) files"
