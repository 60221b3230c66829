#!/usr/bin/env bash
# tests/abi/check-headers.sh — public headers compile alone as strict C99 (and C++).
#
# usage: check-headers.sh SRCROOT BUILDROOT HEADER        one header, alone
#        check-headers.sh SRCROOT BUILDROOT --list H...   the header list is complete
# env:   CC_CMD   the C compiler command line (default: cc)
#        CXX_CMD  a C++ compiler; when empty the C++ pass is skipped
#
# "Alone" means: a translation unit that includes only this header (twice,
# to prove the include guard), built without _GNU_SOURCE or any other
# help, so a header that silently relies on another one, on a GNU extension
# or on a C11 feature fails here rather than in an embedder's build.
set -euo pipefail

die() { echo "FAIL: $*" >&2; exit 1; }
[ $# -ge 3 ] || die "usage: $0 SRCROOT BUILDROOT HEADER | --list HEADER..."
srcroot=$1 buildroot=$2
shift 2
srcdir=$srcroot/include/libvmm
gendir=$buildroot/include/libvmm

if [ "$1" = --list ]; then
  # Every header in include/libvmm must be in `public_headers` (and so be
  # tested and installed), and libvmm.h must include every other one.
  shift
  listed=" $* "
  rc=0
  for f in "$srcdir"/*.h "$srcdir"/*.h.in; do
    [ -e "$f" ] || continue
    name=$(basename "$f" .in)
    case $listed in
      *" $name "*) ;;
      *) echo "FAIL: include/libvmm/$(basename "$f") is not in public_headers" \
              "(include/libvmm/meson.build): it is neither tested nor installed" >&2
         rc=1 ;;
    esac
  done
  for name in "$@"; do
    [ -f "$srcdir/$name" ] || [ -f "$gendir/$name" ] ||
      { echo "FAIL: public header $name is in public_headers but exists in" \
             "neither $srcdir nor $gendir" >&2; rc=1; }
    [ "$name" = libvmm.h ] && continue
    grep -q "^#include <libvmm/$name>" "$srcdir/libvmm.h" ||
      { echo "FAIL: libvmm.h does not include <libvmm/$name>" >&2; rc=1; }
  done
  [ $rc -eq 0 ] && echo "ok: public_headers lists all $# headers and libvmm.h includes them"
  exit $rc
fi

header=$1
if [ -f "$srcdir/$header" ]; then
  path=$srcdir/$header
elif [ -f "$gendir/$header" ]; then
  path=$gendir/$header
else
  die "header $header not found in $srcdir or $gendir (has the build been configured?)"
fi

# Public headers may include each other and the C standard library only
# (DESIGN.md: no backend type in a public header; <uv.h> is allowed for the
# embedder's own uv_loop_t).
std_headers=" assert.h limits.h stdarg.h stdbool.h stddef.h stdint.h inttypes.h uv.h "
bad_includes=$(grep -E '^[[:space:]]*#[[:space:]]*include' "$path" |
  sed -E 's/^[^<"]*[<"]([^>"]*)[>"].*/\1/' |
  while read -r inc; do
    case $inc in
      libvmm/*) ;;
      *) case $std_headers in *" $inc "*) ;; *) echo "$inc" ;; esac ;;
    esac
  done)
[ -z "$bad_includes" ] ||
  die "$header includes non-public headers: ${bad_includes//$'\n'/ } — public headers may only include <libvmm/*.h> and standard C headers"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/libvmm-abi-headers.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
printf '#include <libvmm/%s>\n#include <libvmm/%s>\n' "$header" "$header" >"$tmp/tu.c"
cp "$tmp/tu.c" "$tmp/tu.cc"

incs=(-I"$srcroot/include" -I"$buildroot/include")
read -r -a cc <<<"${CC_CMD:-cc}"
cflags=(-std=c99 -pedantic -Werror -Wall -Wextra -Wstrict-prototypes -Wundef)

echo "C:   ${cc[*]} ${cflags[*]} -fsyntax-only <libvmm/$header>"
if ! "${cc[@]}" "${cflags[@]}" "${incs[@]}" -fsyntax-only "$tmp/tu.c" 2>"$tmp/err"; then
  cat "$tmp/err" >&2
  die "$header does not compile alone as strict C99"
fi

if [ -n "${CXX_CMD:-}" ]; then
  read -r -a cxx <<<"$CXX_CMD"
  cxxflags=(-std=c++11 -pedantic -Werror -Wall -Wextra -Wundef)
  echo "C++: ${cxx[*]} ${cxxflags[*]} -fsyntax-only <libvmm/$header>"
  if ! "${cxx[@]}" "${cxxflags[@]}" "${incs[@]}" -fsyntax-only "$tmp/tu.cc" 2>"$tmp/err"; then
    cat "$tmp/err" >&2
    die "$header does not compile alone as C++11"
  fi
else
  echo "C++: skipped (no C++ compiler found)"
fi
echo "ok: <libvmm/$header> is self-contained"
