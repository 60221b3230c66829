/* tests/guests/lib/crt0.S — entry of 64-bit guests. The host enters here
 * in 64-bit ring 0 (vmm_vcpu_setup_long_mode) with RSP = GUEST_STACK_TOP,
 * 16-byte aligned; the loader has already zeroed .bss. */
	.section .text.entry, "ax"
	.globl _start
_start:
	call exceptions_init
	call guest_main
1:	hlt
	jmp 1b

	.section .note.GNU-stack,"",@progbits
