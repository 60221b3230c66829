/* tests/guests/lib/crt0_32.S — entry of 32-bit protected-mode guests
 * (vmm_vcpu_setup_protected_mode: flat segments, paging off, ESP set). */
	.section .text.entry, "ax"
	.globl _start
_start:
	and $-16, %esp
	call guest_pre_main
	call guest_main
1:	hlt
	jmp 1b

/* A hook that runs before any C code has written a register; a guest may
 * override this empty default. */
	.weak guest_pre_main
guest_pre_main:
	ret

	.section .note.GNU-stack,"",@progbits
