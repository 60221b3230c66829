module libvmm/bench/binding_exit_go

go 1.19

require libvmm/vmm v0.0.0

replace libvmm/vmm => ../../bindings/go
