#!/bin/busybox sh
# tests/linux/nested-init.sh — /init of the nested machine tests/linux/nested.sh
# boots: loads kvm-amd and the 9p modules, mounts the host's root
# filesystem, and runs the job nested.sh left there in a chroot. The job's
# exit status goes back through a file in the job directory.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t devtmpfs dev /dev
# devtmpfs has neither: the mounts below need their directories.
mkdir -p /dev/pts /dev/shm
mount -t proc proc /proc
mount -t sysfs sys /sys
# What udev would add and bash's process substitution needs.
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
job=
for w in $(cat /proc/cmdline); do
  case "$w" in libvmm.nestedjob=*) job=${w#*=};; esac
done
for m in $(cat /etc/modules.order); do
  insmod "/lib/modules/$(uname -r)/$m" || echo "nested: insmod $m failed"
done
grep -q kvm-amd /etc/modules.order && [ ! -c /dev/kvm ] && echo "nested: there is no /dev/kvm (did kvm-amd load? is SVM in the CPU model?)"
mkdir -p /host
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=none host /host; then
  echo "nested: mounting the host's root over 9p failed"
  poweroff -f
fi
for d in proc sys dev; do mount --bind "/$d" "/host/$d"; done
mount -t devpts devpts /host/dev/pts 2>/dev/null
# /tmp on the host is 9p here, where unix sockets cannot be bound: give
# /dev/shm its own tmpfs.
mount -t tmpfs shm /host/dev/shm 2>/dev/null
chroot /host /bin/bash "$job/run"
sync
poweroff -f
