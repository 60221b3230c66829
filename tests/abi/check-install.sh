#!/usr/bin/env bash
# tests/abi/check-install.sh — install into a scratch DESTDIR and build a
# program against it the way an embedder would: pkg-config only.
#
# usage: check-install.sh BUILDROOT SRCROOT VERSION SOVERSION HEADER...
# env:   CC_CMD        C compiler command line (default: cc)
#        EXTRA_CFLAGS  added to the compile (the sanitizer flags of the build)
#        MESON         meson command (default: meson on PATH)
#        PKG_CONFIG    pkg-config command (default: pkg-config)
set -euo pipefail

die() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
[ $# -ge 4 ] || die "usage: $0 BUILDROOT SRCROOT VERSION SOVERSION HEADER..."
buildroot=$(cd "$1" && pwd) srcroot=$(cd "$2" && pwd) version=$3 soversion=$4
shift 4
headers=("$@")

read -r -a meson <<<"${MESON:-meson}"
read -r -a cc <<<"${CC_CMD:-cc}"
read -r -a extra <<<"${EXTRA_CFLAGS:-}"
pkgconfig=${PKG_CONFIG:-pkg-config}
command -v "${meson[0]}" >/dev/null || skip "meson not found (set MESON=...)"
command -v "$pkgconfig" >/dev/null || skip "pkg-config not found"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/libvmm-abi-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/dest

# 1. Install. --no-rebuild: meson test has already built everything, and a
# test must not run ninja inside the build directory it is testing.
echo "== ${meson[*]} install -C $buildroot --no-rebuild --destdir $dest"
if ! "${meson[@]}" install -C "$buildroot" --no-rebuild --destdir "$dest" \
    >"$tmp/install.log" 2>&1; then
  cat "$tmp/install.log" >&2
  die "meson install into a DESTDIR failed"
fi

# 2. What an embedder needs is there: the .pc file, the headers, the
# library under its soname with the development symlink.
mapfile -t pcs < <(find "$dest" -name libvmm.pc -path '*/pkgconfig/*')
[ ${#pcs[@]} -eq 1 ] || { cat "$tmp/install.log"; die "expected one installed libvmm.pc, found ${#pcs[@]}: ${pcs[*]:-none}"; }
pcdir=$(dirname "${pcs[0]}")
libdir=$(dirname "$pcdir")
echo "installed: ${pcs[0]#"$dest"}"

[ -L "$libdir/libvmm.so" ] || die "no libvmm.so development symlink in ${libdir#"$dest"}"
[ -e "$libdir/libvmm.so.$soversion" ] || die "no libvmm.so.$soversion in ${libdir#"$dest"}"
if command -v readelf >/dev/null; then
  soname=$(readelf -d "$libdir/libvmm.so" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
  [ "$soname" = "libvmm.so.$soversion" ] ||
    die "installed library has SONAME '$soname', expected libvmm.so.$soversion"
  echo "SONAME: $soname"
fi

incdir=$(find "$dest" -type d -path '*/include/libvmm' | head -n 1)
[ -n "$incdir" ] || die "no include/libvmm directory installed"
for h in "${headers[@]}"; do
  [ -f "$incdir/$h" ] || die "public header $h is not installed (in ${incdir#"$dest"})"
done
echo "headers: ${#headers[@]} installed in ${incdir#"$dest"}"

# 3. pkg-config sees the installed .pc only, with its paths moved into the
# DESTDIR by the sysroot; system -I/-L paths are kept so that a /usr
# prefix still points into the DESTDIR.
export PKG_CONFIG_LIBDIR=$pcdir PKG_CONFIG_PATH=$pcdir PKG_CONFIG_SYSROOT_DIR=$dest
export PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 PKG_CONFIG_ALLOW_SYSTEM_LIBS=1
pc_version=$("$pkgconfig" --modversion libvmm) || die "pkg-config cannot read the installed libvmm.pc"
[ "$pc_version" = "$version" ] || die "pkg-config says version $pc_version, the project is $version"
read -r -a pc_flags <<<"$("$pkgconfig" --cflags --libs libvmm)"
echo "pkg-config --cflags --libs libvmm: ${pc_flags[*]}"
case " ${pc_flags[*]} " in
  *" -I$dest/"*) ;;
  *) die "pkg-config --cflags does not point into the DESTDIR" ;;
esac

# 4. Build the program from the installed files only: strict C99, and the
# libvmm headers it used must all come from the DESTDIR.
prog=$tmp/install-test
cflags=(-std=c99 -pedantic -Wall -Wextra -Werror "${extra[@]}")
echo "== ${cc[*]} ${cflags[*]} install-test.c \$(pkg-config --cflags --libs libvmm)"
"${cc[@]}" "${cflags[@]}" -o "$prog" "$srcroot/tests/abi/install-test.c" "${pc_flags[@]}" ||
  die "cannot build a program against the installed libvmm"
"${cc[@]}" "${cflags[@]}" -M "$srcroot/tests/abi/install-test.c" "${pc_flags[@]}" >"$tmp/deps" ||
  die "cannot list the program's header dependencies"
stray=$(tr -s '\\ ' '\n' <"$tmp/deps" | grep '/libvmm/' | grep -v "^$dest/" || true)
[ -z "$stray" ] || die "the program used libvmm headers from outside the DESTDIR: $stray"

# 5. Run it against the installed library.
# Only the DESTDIR: meson test points LD_LIBRARY_PATH at the build tree.
export LD_LIBRARY_PATH=$libdir
if command -v ldd >/dev/null; then
  resolved=$(ldd "$prog" | sed -n 's/^[[:space:]]*libvmm\.so[^ ]* => \([^ ]*\).*/\1/p')
  case $resolved in
    "$dest"/*) echo "libvmm resolved to ${resolved#"$dest"} in the DESTDIR" ;;
    *) die "the program loads libvmm from '${resolved:-nowhere}', not from the DESTDIR" ;;
  esac
fi
out=$("$prog" 2>&1) || { echo "$out" >&2; die "the installed-libvmm program failed"; }
echo "program says: $out"
case $out in
  "libvmm $version, "*" backend(s)") ;;
  *) die "unexpected output, wanted 'libvmm $version, N backend(s)'" ;;
esac
echo "ok: libvmm $version installs and links through pkg-config"
