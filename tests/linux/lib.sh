# tests/linux/lib.sh — helpers shared by the Linux boot test scripts
# (sourced, not run).

# The kernel cache: $LIBVMM_LINUX_CACHE, else ~/.cache/libvmm-linux.
linux_cache_dir() {
  echo "${LIBVMM_LINUX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/libvmm-linux}"
}

# linux_module_order KERNEL_DIR MODULE... — prints, one per line, the
# module files (paths relative to lib/modules/VERSION) to insmod, in an
# order that loads every dependency first, as modules.dep (made by depmod
# in fetch-kernel.sh) lists them. A module built into the kernel
# (modules.builtin) is left out; an unknown one is an error.
linux_module_order() {
  local kdir=$1; shift
  local mdir
  mdir=$kdir/root/lib/modules/$(cat "$kdir/version")
  awk -v want="$*" '
    BEGIN { n = split(want, w, " ") }
    FILENAME ~ /modules\.builtin$/ {
      f = $1; sub(/.*\//, "", f); sub(/\.ko$/, "", f); gsub(/-/, "_", f)
      builtin[f] = 1; next
    }
    {
      f = $1; sub(/:$/, "", f)
      name = f; sub(/.*\//, "", name); sub(/\.ko$/, "", name); gsub(/-/, "_", name)
      path[name] = f; deps[name] = ""
      for (i = NF; i >= 2; i--) deps[name] = deps[name] " " $i
    }
    function add(f,    name, d, k, i) {
      name = f; sub(/.*\//, "", name); sub(/\.ko$/, "", name); gsub(/-/, "_", name)
      if (seen[name]++) return
      k = split(deps[name], d, " ")
      for (i = 1; i <= k; i++) add(d[i])
      print f
    }
    END {
      for (i = 1; i <= n; i++) {
        m = w[i]; gsub(/-/, "_", m)
        if (m in builtin) continue
        if (!(m in path)) { print "unknown module " w[i] > "/dev/stderr"; exit 1 }
        add(path[m])
      }
    }' "$mdir/modules.builtin" "$mdir/modules.dep"
}
