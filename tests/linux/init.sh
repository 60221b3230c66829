#!/bin/busybox sh
# tests/linux/init.sh — /init of the Linux boot test's initramfs (busybox).
# Checks the machine the host gave the stock kernel, then powers off; a
# failed check exits through the debug-exit port (0xf4) with the check's
# number, so the host's exit status names it (libvmm: 2 * number + 1).
#
# Kernel command line words it reads:
#   libvmm.mode=full|bench  full (default): every check; bench: print the
#                           init marker and power off at once
#   libvmm.cpus=N           the number of CPUs the guest must see
#   libvmm.token=WORD       the first line of /check/data on the disk
#   libvmm.boottime=PORT:BYTE  write BYTE to I/O PORT (the VMM's boot-time
#                           port) when init starts
#   libvmm.novirtio         skip the virtio checks (disk, rng, console)
#   libvmm.dmesg            bench mode: print the kernel log (dmesg) after
#                           the marker, before powering off (with
#                           initcall_debug printk.time=1: where boot went)
/bin/busybox --install -s /bin
export PATH=/bin

# Failure numbers (keep in step with tests/linux/run-linux.sh).
F_MODULE=1 F_NODISK=2 F_MOUNT=3 F_DATA=4 F_NORNG=5 F_RNGDATA=6 F_HVC=7
F_NPROC=8 F_BOOTTIME=9 F_POWEROFF=10 F_SETUP=11

mount -t devtmpfs dev /dev 2>/dev/null
mount -t proc proc /proc
mount -t sysfs sys /sys
cmdline=$(cat /proc/cmdline)
# The marker the host times "kernel to init" by: first thing init prints.
echo "LIBVMM-INIT: init started (uptime $(cut -d' ' -f1 /proc/uptime) s)" > /dev/console

arg() { # arg NAME — the value of libvmm.NAME= on the command line
  for w in $cmdline; do
    case "$w" in "libvmm.$1="*) echo "${w#*=}"; return 0;; esac
  done
  return 1
}

fail() { # fail NUMBER MESSAGE
  echo "LIBVMM-FAIL: check $1: $2" > /dev/console
  # isa-debug-exit: one byte written to port 0xf4 ends the VM.
  printf "\\$(printf "%03o" "$1")" | dd of=/dev/port bs=1 seek=244 count=1 conv=notrunc 2>/dev/console
  echo "LIBVMM-FAIL: the debug-exit port did not stop the VM" > /dev/console
  poweroff -f
  sleep 100000
}

bt=$(arg boottime) && {
  port=${bt%%:*} byte=${bt#*:}
  printf "\\$(printf '%03o' $((byte)))" |
    dd of=/dev/port bs=1 seek=$((port)) count=1 conv=notrunc 2>/dev/console ||
    fail $F_BOOTTIME "writing $byte to the boot-time port $port failed"
}

if [ "$(arg mode)" = bench ]; then
  if echo " $cmdline " | grep -q ' libvmm.dmesg '; then
    dmesg > /dev/console
  fi
  echo "LIBVMM-INIT: bench mode, powering off" > /dev/console
  poweroff -f
  fail $F_POWEROFF "poweroff -f returned"
fi

echo "LIBVMM-INIT: $(uname -r), $(nproc) CPU(s), cmdline: $cmdline" > /dev/console

want=$(arg cpus) || want=1
[ "$(nproc)" = "$want" ] ||
  fail $F_NPROC "nproc says $(nproc), the VM has $want vCPU(s)"

if ! echo " $cmdline " | grep -q ' libvmm.novirtio '; then
  for m in $(cat /etc/modules.order); do
    insmod "/lib/modules/$(uname -r)/$m" ||
      fail $F_MODULE "insmod $m failed"
  done
  echo "LIBVMM-INIT: modules loaded: $(cat /etc/modules.order | sed 's,.*/,,' | tr '\n' ' ')" > /dev/console
  mdev -s 2>/dev/null  # devtmpfs already has the nodes; harmless
  # Devices may appear a little after their driver loads.
  n=0
  while [ ! -b /dev/vda ] || [ ! -c /dev/hvc0 ] || [ ! -c /dev/hwrng ]; do
    n=$((n + 1)); [ $n -gt 50 ] && break
    sleep 0.1
  done

  # virtio-blk: the ext4 disk the host made, with the file it wrote.
  [ -b /dev/vda ] || fail $F_NODISK "no /dev/vda (virtio-blk not found: $(ls /sys/bus/virtio/devices 2>&1 | tr '\n' ' '))"
  mkdir -p /mnt
  mount -t ext4 /dev/vda /mnt || fail $F_MOUNT "mount -t ext4 /dev/vda failed"
  token=$(arg token) || fail $F_SETUP "no libvmm.token= on the command line"
  [ "$(head -n 1 /mnt/check/data)" = "$token" ] ||
    fail $F_DATA "/check/data does not start with the token $token"
  (cd /mnt/check && sha256sum -c data.sha256 > /dev/null) ||
    fail $F_DATA "/check/data does not match data.sha256"
  echo "LIBVMM-INIT: disk: /check/data has the token and its sha256 ($(wc -c < /mnt/check/data) bytes)" > /dev/console
  umount /mnt

  # virtio-rng: the current hwrng must be it, and its bytes must vary.
  cur=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)
  case "$cur" in virtio_rng*) ;; *) fail $F_NORNG "the current hwrng is '$cur', not virtio_rng";; esac
  bytes=$(timeout 20 dd if=/dev/hwrng bs=64 count=1 2>/dev/null | od -An -v -tx1 | tr -s ' \n' '  ')
  set -- $bytes
  [ $# -eq 64 ] || fail $F_RNGDATA "read $# bytes from /dev/hwrng, wanted 64"
  first=$1 same=1
  for b in "$@"; do [ "$b" = "$first" ] || same=0; done
  [ $same = 0 ] || fail $F_RNGDATA "64 bytes from /dev/hwrng are all 0x$first"
  echo "LIBVMM-INIT: rng: $cur gave 64 bytes: $(echo $bytes | cut -c1-47)..." > /dev/console

  # virtio-console: the marker line through /dev/hvc0.
  [ -c /dev/hvc0 ] || fail $F_HVC "no /dev/hvc0 (virtio-console not found)"
  echo "LIBVMM-LINUX-OK hvc0 $token" > /dev/hvc0 || fail $F_HVC "writing to /dev/hvc0 failed"
fi

# The UART (the kernel's console=ttyS0).
echo "LIBVMM-LINUX-OK uart $(arg token)" > /dev/console
sync
poweroff -f
fail $F_POWEROFF "poweroff -f returned"
