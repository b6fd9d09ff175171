#!/usr/bin/env python3
"""Definitions found by codebox's symbol index against universal-ctags (issue 15), per language.

Usage: scripts/measure/symbols_accuracy.py CORPUS_DIR [--examples N]

Both tools get the same file list: every file of at most 1 MiB (as the index parses) under CORPUS_DIR whose
extension both know, hidden directories skipped. A definition is (path, line of its name, name). Recall: of
ctags' function, method, class, struct, enum, trait and interface definitions, the share codebox also reports
(any kind). Precision: of codebox's definitions of those kinds, the share ctags reports too (any kind, all its
default kinds enabled). Prints a table and, with --examples, the first N misses each way per language.

Needs `ctags` (Debian package universal-ctags) and builds the symbols_tags example in release mode.
"""
import collections
import json
import os
import subprocess
import sys
import tempfile
import time

# extension -> language name (codebox's); only languages both tools parse.
LANGS = {
    ".rs": "Rust", ".py": "Python", ".c": "C", ".h": "C", ".cc": "C++", ".cpp": "C++", ".hpp": "C++", ".cxx": "C++",
    ".js": "JavaScript", ".mjs": "JavaScript", ".ts": "TypeScript", ".go": "Go", ".java": "Java", ".cs": "C#",
    ".rb": "Ruby", ".php": "PHP", ".kt": "Kotlin", ".sh": "Bash",
}
# ctags kinds counted for recall: functions, methods and type definitions.
CTAGS_KINDS = {"function", "method", "member", "class", "struct", "enum", "interface", "trait", "func", "singletonMethod",
               "module", "implementation"}
OURS_KINDS = {"function", "method", "class", "struct", "enum", "trait", "interface"}
# ctags kinds outside the target, per language: Rust's impl blocks and modules, Ruby's modules, and `member`
# where it means a struct or class field (C, C++, Go, JS; in Python it means a method and counts).
SKIP = {("Rust", "implementation"), ("Ruby", "module"), ("Rust", "module"), ("C", "member"), ("C++", "member"),
        ("Go", "member"), ("JavaScript", "member"), ("TypeScript", "member")}


def main():
    root = os.path.abspath(sys.argv[1])
    n_examples = int(sys.argv[sys.argv.index("--examples") + 1]) if "--examples" in sys.argv else 0
    files = []
    for d, dirs, names in os.walk(root):
        dirs[:] = sorted(x for x in dirs if not x.startswith("."))
        for n in sorted(names):
            ext = os.path.splitext(n)[1]
            p = os.path.join(d, n)
            if ext in LANGS and os.path.isfile(p) and not os.path.islink(p) and os.path.getsize(p) <= 1 << 20:
                files.append(p)
    lang_of = {p: LANGS[os.path.splitext(p)[1]] for p in files}
    with tempfile.NamedTemporaryFile("w", delete=False) as lst:
        lst.write("\n".join(files) + "\n")
    subprocess.run(["cargo", "build", "-q", "--release", "--example", "symbols_tags"], check=True)
    t = time.time()
    ours_out = subprocess.run(["target/release/examples/symbols_tags"], stdin=open(lst.name), capture_output=True,
                              text=True, check=True).stdout
    ours_time = time.time() - t
    t = time.time()
    ct = subprocess.run(["ctags", "--output-format=json", "--fields=+nK", "-L", lst.name, "-f", "-"],
                        capture_output=True, text=True, check=True).stdout
    ctags_time = time.time() - t
    os.unlink(lst.name)

    ctags_all = collections.defaultdict(set)
    ctags_target = collections.defaultdict(set)
    for line in ct.splitlines():
        try:
            e = json.loads(line)
        except json.JSONDecodeError:
            continue
        if e.get("_type") != "tag" or "line" not in e:
            continue
        path = e["path"]
        lang = lang_of.get(path)
        if not lang:
            continue
        key = (path, e["line"], e["name"])
        # ctags names anonymous functions by a hash; they are not definitions a model asks for by name.
        if e["name"].startswith("AnonymousFunction") or e["name"].startswith("__anon"):
            continue
        ctags_all[lang].add(key)
        kind = e.get("kind", "")
        if kind in CTAGS_KINDS and (lang, kind) not in SKIP:
            ctags_target[lang].add(key)
    ours_all = collections.defaultdict(set)
    ours_target = collections.defaultdict(set)
    for line in ours_out.splitlines():
        path, ln, kind, name = line.split("\t", 3)
        lang = lang_of.get(path)
        if not lang:
            continue
        key = (path, int(ln), name)
        ours_all[lang].add(key)
        if kind in OURS_KINDS:
            ours_target[lang].add(key)

    counts = collections.Counter(lang_of.values())
    print(f"corpus {root}: {len(files)} files; codebox {ours_time:.1f} s (release, "
          f"{os.cpu_count()} threads), ctags {ctags_time:.1f} s (1 thread)")
    print(f"{'language':<12}{'files':>7}{'ctags defs':>12}{'recall':>9}{'codebox defs':>14}{'precision':>11}")
    for lang in sorted(counts, key=lambda l: -counts[l]):
        ct_t, our_t = ctags_target[lang], ours_target[lang]
        if not ct_t and not our_t:
            continue
        recall = len(ct_t & ours_all[lang]) / len(ct_t) if ct_t else float("nan")
        precision = len(our_t & ctags_all[lang]) / len(our_t) if our_t else float("nan")
        print(f"{lang:<12}{counts[lang]:>7}{len(ct_t):>12}{recall:>9.1%}{len(our_t):>14}{precision:>11.1%}")
        if n_examples:
            for k in sorted(ct_t - ours_all[lang])[:n_examples]:
                print(f"    missed (ctags only): {k}")
            for k in sorted(our_t - ctags_all[lang])[:n_examples]:
                print(f"    extra (codebox only): {k}")


if __name__ == "__main__":
    main()
