#!/usr/bin/env python3
"""tests/abi/check-symbols.py — the exported API is what the headers declare.

Three lists must be the same set of names:
  1. the functions marked VMM_EXPORT in the public headers,
  2. the names under `global:` in the version script src/libvmm.sym,
  3. the dynamic symbols the built libvmm.so defines (nm -D --defined-only),
and nothing else may leak (no vmm__* internals, no libc or helper symbols).
The version script itself must follow the append-only policy's shape:
`local: *;` in the first node, each later node inheriting the previous one,
no name listed twice, and every exported symbol bound to one of its nodes.

usage: check-symbols.py --sym SRC/libvmm.sym --lib BUILD/libvmm.so [--nm nm]
                        HEADER...
"""

import argparse
import difflib
import os
import re
import subprocess
import sys

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, file=sys.stderr)


def strip_c_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def header_exports(paths):
    """name -> header for every declaration that starts with VMM_EXPORT."""
    names = {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            text = strip_c_comments(f.read())
        # Drop preprocessor lines (with continuations), e.g. the
        # `#define VMM_EXPORT ...` itself.
        text = re.sub(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", " ", text, flags=re.M)
        for m in re.finditer(r"\bVMM_EXPORT\b([^;{]*)[;{]", text):
            decl = " ".join(m.group(1).split())
            head = decl.split("(", 1)[0] if "(" in decl else decl
            ident = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*$", head)
            returns_fnptr = "(" in decl and \
                decl.split("(", 1)[1].lstrip().startswith("*")
            if not ident or returns_fnptr:
                # e.g. a function returning a function pointer: declare it
                # through a typedef instead.
                fail(f"{os.path.basename(path)}: cannot find the name in "
                     f"'VMM_EXPORT {decl}'")
                continue
            name = ident.group(1)
            if name in names:
                fail(f"{name} is marked VMM_EXPORT twice "
                     f"({names[name]} and {os.path.basename(path)})")
            names[name] = os.path.basename(path)
    return names


def version_script(path):
    """(ordered [(node, parent)], name -> node, has_local_star)."""
    with open(path, encoding="utf-8") as f:
        text = strip_c_comments(f.read())
    text = re.sub(r"#[^\n]*", " ", text)
    nodes, names, local_star = [], {}, False
    for m in re.finditer(r"([A-Za-z0-9_.]+)\s*\{(.*?)\}\s*([A-Za-z0-9_.]*)\s*;",
                         text, flags=re.S):
        node, body, parent = m.group(1), m.group(2), m.group(3) or None
        nodes.append((node, parent))
        section = "global"
        for tok in re.findall(r"[^\s;]+:|[^\s;]+", body):
            if tok.endswith(":"):
                section = tok[:-1]
                continue
            if section == "local":
                if tok == "*":
                    local_star = True
                continue
            if tok in names:
                fail(f"{path}: {tok} is listed twice "
                     f"(in {names[tok]} and {node})")
            names[tok] = node
    if not nodes:
        fail(f"{path}: no version node found")
    return nodes, names, local_star


def dynamic_symbols(nm, lib):
    """name -> (type, version) for the library's defined dynamic symbols."""
    cmd = [nm, "-D", "--defined-only", "--with-symbol-versions", lib]
    try:
        out = subprocess.run(cmd, check=True, capture_output=True,
                             text=True).stdout
    except OSError as e:
        fail(f"cannot run {' '.join(cmd)}: {e}")
        return None, None
    except subprocess.CalledProcessError as e:
        fail(f"{' '.join(cmd)} failed: {e.stderr.strip()}")
        return None, None
    syms, version_nodes = {}, set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        typ, full = parts[-2], parts[-1]
        name, _, version = full.partition("@")
        version = version.lstrip("@")
        if typ == "A" and not version:
            version_nodes.add(name)  # the version definition itself
            continue
        syms[name] = (typ, version)
    return syms, version_nodes


def show_diff(title_a, a, title_b, b):
    diff = list(difflib.unified_diff(sorted(a), sorted(b), title_a, title_b,
                                     lineterm="", n=0))
    if diff:
        print("\n".join(diff), file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sym", required=True)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--nm", default="nm")
    ap.add_argument("headers", nargs="+")
    args = ap.parse_args()

    hdr = header_exports(args.headers)
    nodes, sym, local_star = version_script(args.sym)
    dyn, dyn_nodes = dynamic_symbols(args.nm, args.lib)
    if dyn is None:  # without the library's symbols there is nothing to compare
        return 1
    print(f"headers: {len(hdr)} VMM_EXPORT functions in {len(args.headers)} "
          f"files; {os.path.basename(args.sym)}: {len(sym)} names in "
          f"{len(nodes)} node(s); {os.path.basename(args.lib)}: {len(dyn)} "
          f"defined dynamic symbols")

    # The version script's shape (append-only policy, DESIGN.md).
    if not local_star:
        fail(f"{args.sym}: no `local: *;` — everything not listed must be "
             f"hidden")
    for i, (node, parent) in enumerate(nodes):
        if i > 0 and parent != nodes[i - 1][0]:
            fail(f"{args.sym}: node {node} must inherit the one before it "
                 f"(`}} {nodes[i - 1][0]};`), found {parent or 'nothing'}")
    if len({n for n, _ in nodes}) != len(nodes):
        fail(f"{args.sym}: a version node name is used twice")

    # Naming: public names are vmm_<object>_<verb>, internals vmm__*.
    for name, where in sorted(hdr.items()):
        if not name.startswith("vmm_") or name.startswith("vmm__"):
            fail(f"{where}: exported {name} is not a public vmm_* name")

    if set(hdr) != set(sym):
        fail("the VMM_EXPORT functions in the headers and the names in "
             f"{os.path.basename(args.sym)} differ:")
        show_diff("headers (VMM_EXPORT)", hdr, os.path.basename(args.sym), sym)
    if set(sym) != set(dyn):
        fail(f"the names in {os.path.basename(args.sym)} and the symbols "
             f"{os.path.basename(args.lib)} exports differ "
             "(+ exported but not listed = leak; - listed but not defined = "
             "missing implementation):")
        show_diff(os.path.basename(args.sym), sym,
                  os.path.basename(args.lib) + " (nm -D)", dyn)
    leaks = sorted(n for n in dyn if n.startswith("vmm__"))
    if leaks:
        fail("internal vmm__* symbols are exported: " + ", ".join(leaks))

    # Every exported symbol carries the version node the script gives it.
    wrong = [f"{name}@{version or '(none)'} (script: {sym[name]})"
             for name, (typ, version) in sorted(dyn.items())
             if name in sym and version != sym[name]]
    if wrong:
        fail(f"{len(wrong)} symbol(s) exported with another version than the "
             "script gives them (is the library linked with "
             "-Wl,--version-script?): " + ", ".join(wrong[:5])
             + (", ..." if len(wrong) > 5 else ""))
    for name, (typ, version) in sorted(dyn.items()):
        if typ not in "TtWi":
            fail(f"{name} is exported as nm type {typ}, not as a function "
                 "(public data would freeze its layout in the ABI)")
    missing_nodes = {n for n, _ in nodes} - dyn_nodes
    if missing_nodes:
        fail("version nodes without a definition in the library: "
             + ", ".join(sorted(missing_nodes)))

    if failures:
        print(f"\n{len(failures)} problem(s) with the exported ABI",
              file=sys.stderr)
        return 1
    print(f"ok: {len(sym)} symbols agree across headers, version script and "
          "library; nothing else is exported")
    return 0


if __name__ == "__main__":
    sys.exit(main())
