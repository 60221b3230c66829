#!/usr/bin/env python3
"""tests/abi/check-doc-samples.py — the C samples in the docs build.

Every block fenced exactly as ```c in the given Markdown files is a whole
translation unit: it is compiled against the public headers with warnings
as errors and, when it defines main(), linked against the built libvmm.
Fragments that are not meant to compile use a plain ``` fence.

With --run GUEST, each linked sample is also run as `sample GUEST` where
/dev/kvm is usable, and must exit 0 printing the --expect text.

usage: check-doc-samples.py --lib BUILD/libvmm.so [--root SRC]
           [--run GUEST --expect TEXT] -I DIR... DOC.md...
env:   CC_CMD (default: cc), EXTRA_CFLAGS (the build's sanitizer flags)
"""

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile

FLAGS = ["-std=c11", "-pedantic", "-Wall", "-Wextra", "-Werror",
         "-D_POSIX_C_SOURCE=200809L"]


def blocks(path):
    """(line number, code) of each ```c block."""
    out, cur, start = [], None, 0
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if cur is None and re.match(r"^\s*```c\s*$", line):
                cur, start = [], n + 1
            elif cur is not None and line.lstrip().startswith("```"):
                out.append((start, "".join(cur)))
                cur = None
            elif cur is not None:
                cur.append(line)
    if cur is not None:
        print(f"FAIL: {path}:{start}: unterminated ```c block", file=sys.stderr)
        out.append((start, None))
    return out


PROBE = r"""
#include <libvmm/libvmm.h>
#include <stdio.h>
int main(void) {
  if (vmm_backend_probe("auto") == 0)
    return 0;
  printf("%s\n", vmm_last_error());
  return 77;
}
"""


def backend_usable(tmp, cmd_prefix, lib, env):
    """(True, "") when vmm_backend_probe("auto") succeeds, else the reason."""
    src = os.path.join(tmp, "probe.c")
    with open(src, "w", encoding="utf-8") as f:
        f.write(PROBE)
    r = subprocess.run(cmd_prefix + [src, "-o", src[:-2], lib],
                       capture_output=True, text=True)
    if r.returncode:
        return False, "cannot build the backend probe: " + r.stderr.strip()
    r = subprocess.run([src[:-2]], capture_output=True, text=True, env=env)
    return r.returncode == 0, r.stdout.strip() or r.stderr.strip()


def run_sample(exe, where, args, tmp, cmd_prefix):
    """Runs a linked sample with the guest; returns 1 on failure."""
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = os.path.dirname(os.path.abspath(args.lib))
    usable, why = backend_usable(tmp, cmd_prefix, args.lib, env)
    if not usable:
        print(f"note: {where} not run: no usable backend ({why})")
        return 0
    try:
        r = subprocess.run([exe, args.run], capture_output=True, text=True,
                           env=env, timeout=60)
    except subprocess.TimeoutExpired:
        print(f"FAIL: the sample at {where} ran for 60 s with "
              f"{os.path.basename(args.run)}", file=sys.stderr)
        return 1
    if r.returncode != 0 or args.expect not in r.stdout:
        print(f"FAIL: the sample at {where}, run with "
              f"{os.path.basename(args.run)}, exited {r.returncode} "
              f"(wanted 0 and {args.expect!r} on stdout):\n"
              f"{r.stdout}{r.stderr}", file=sys.stderr)
        return 1
    print(f"ok: {where} runs {os.path.basename(args.run)}: "
          f"{r.stdout.strip()!r}")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lib", required=True)
    ap.add_argument("-I", dest="incs", action="append", default=[])
    ap.add_argument("--root", default=".", help="show paths relative to it")
    ap.add_argument("--run", metavar="GUEST")
    ap.add_argument("--expect", default="")
    ap.add_argument("docs", nargs="+")
    args = ap.parse_args()
    cc = shlex.split(os.environ.get("CC_CMD") or "cc")
    extra = shlex.split(os.environ.get("EXTRA_CFLAGS", ""))
    incs = ["-I" + d for d in args.incs]

    bad = total = 0
    with tempfile.TemporaryDirectory(prefix="libvmm-abi-docs.") as tmp:
        for doc in args.docs:
            for line, code in blocks(doc):
                where = f"{os.path.relpath(doc, args.root)}:{line}"
                if code is None:
                    bad += 1
                    continue
                total += 1
                src = os.path.join(tmp, f"sample{total}.c")
                with open(src, "w", encoding="utf-8") as f:
                    f.write(f'#line {line} "{where.split(":")[0]}"\n{code}')
                if re.search(r"\bint\s+main\s*\(", code):
                    cmd = cc + FLAGS + extra + incs + [
                        src, "-o", src[:-2], args.lib, "-lpthread"]
                    what = "compiles and links"
                else:
                    cmd = cc + FLAGS + extra + incs + ["-fsyntax-only", src]
                    what = "compiles"
                r = subprocess.run(cmd, capture_output=True, text=True)
                if r.returncode:
                    bad += 1
                    print(f"FAIL: the sample at {where} does not build:\n"
                          f"  {' '.join(cmd)}\n{r.stdout}{r.stderr}",
                          file=sys.stderr)
                    continue
                print(f"ok: {where} {what}")
                if args.run and what == "compiles and links":
                    bad += run_sample(src[:-2], where, args, tmp,
                                      cc + FLAGS + extra + incs)
    if total == 0:
        print("FAIL: no ```c samples found in " + ", ".join(args.docs),
              file=sys.stderr)
        return 1
    if bad:
        print(f"{bad} problem(s) with {total} doc sample(s)", file=sys.stderr)
        return 1
    print(f"ok: all {total} doc sample(s) build against the public headers"
          + (" (and run where /dev/kvm is usable)" if args.run else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
