#!/usr/bin/env python3
"""Writes codebox's wheel: the release binaries as the wheel's scripts, nothing else.

A wheel is a zip (PEP 427); files under NAME-VERSION.data/scripts/ are installed into the environment's bin
directory, byte for byte (only a `#!python` first line would be rewritten, and a binary has none). This is what
maturin's `bindings = "bin"` produces, without compiling anything a second time: the binaries come from the one
release build that the npm packages also take.

Usage: build_wheel.py --version V --tag manylinux_2_XX_x86_64 --summary TEXT --license EXPR --out DIR BINARY...
Prints the wheel's path.
"""

import argparse
import base64
import hashlib
import os
import re
import sys
import zipfile

NAME = "codebox"
# The zip's timestamps: fixed, so the same binaries give the same wheel (SOURCE_DATE_EPOCH overrides it).
EPOCH = int(os.environ.get("SOURCE_DATE_EPOCH", "315532800"))  # 1980-01-01, the earliest a zip can say


def pep440(cargo_version: str) -> str:
    """Cargo's semver as a PEP 440 version: 1.2.3, 1.2.3-alpha.1 -> 1.2.3a1, -beta.2 -> b2, -rc.3 -> rc3."""
    m = re.fullmatch(r"(\d+\.\d+\.\d+)(?:-(alpha|beta|rc)\.?(\d+))?", cargo_version)
    if not m:
        sys.exit(
            f"build_wheel.py: Cargo.toml's version {cargo_version!r} has no PEP 440 form; use MAJOR.MINOR.PATCH "
            "with an optional -alpha.N, -beta.N or -rc.N"
        )
    base, pre, n = m.groups()
    return base + ({"alpha": "a", "beta": "b", "rc": "rc"}[pre] + n if pre else "")


def digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--version", required=True)
    ap.add_argument("--tag", required=True, help="platform tag, e.g. manylinux_2_34_x86_64")
    ap.add_argument("--summary", required=True)
    ap.add_argument("--license", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("binaries", nargs="+")
    a = ap.parse_args()
    version = pep440(a.version)
    data_dir = f"{NAME}-{version}.data"
    info_dir = f"{NAME}-{version}.dist-info"
    # py3-none: no Python code or ABI inside; the platform tag says which machines can run the binary.
    tag = f"py3-none-{a.tag}"
    metadata = (
        "Metadata-Version: 2.1\n"
        f"Name: {NAME}\n"
        f"Version: {version}\n"
        f"Summary: {a.summary}\n"
        f"License: {a.license}\n"
        "Classifier: Operating System :: POSIX :: Linux\n"
        "Classifier: Programming Language :: Rust\n"
        "Description-Content-Type: text/markdown\n"
        "\n"
        "The `codebox` MCP server as a prebuilt binary, with its sandbox helper `codebox-sandbox` beside it.\n"
        "`uvx codebox serve` or `pipx run codebox serve` serves the current directory over stdio.\n"
    )
    wheel = f"Wheel-Version: 1.0\nGenerator: codebox scripts/package\nRoot-Is-Purelib: false\nTag: {tag}\n"
    entries = []
    for path in a.binaries:
        with open(path, "rb") as f:
            entries.append((f"{data_dir}/scripts/{os.path.basename(path)}", f.read(), 0o755))
    entries.append((f"{info_dir}/METADATA", metadata.encode(), 0o644))
    entries.append((f"{info_dir}/WHEEL", wheel.encode(), 0o644))
    record = "".join(f"{name},{digest(data)},{len(data)}\n" for name, data, _ in entries)
    record += f"{info_dir}/RECORD,,\n"
    entries.append((f"{info_dir}/RECORD", record.encode(), 0o644))

    os.makedirs(a.out, exist_ok=True)
    out = os.path.join(a.out, f"{NAME}-{version}-{tag}.whl")
    stamp = __import__("time").gmtime(max(EPOCH, 315532800))[:6]
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name, date_time=stamp)
            # The Unix mode sits in the high 16 bits; installers keep the executable bit from it.
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    print(out)


if __name__ == "__main__":
    main()
