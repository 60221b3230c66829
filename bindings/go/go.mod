module libvmm/vmm

go 1.19
