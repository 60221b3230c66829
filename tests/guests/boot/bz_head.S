/* tests/guests/boot/bz_head.S — entry points of the bzImage test kernel.
 * The payload starts with the 32-bit entry (unused: libvmm takes the
 * 64-bit one) and has the 64-bit entry at +0x200, as in Linux. */
	.section .text.head, "ax"
	.code32
	.globl startup_32
startup_32:
	ud2

	.org 0x200
	.code64
	.globl startup_64
startup_64:
	/* What the loader handed over, before anything changes it. */
	movq %rsi, boot_rsi(%rip)
	movq %rsp, boot_rsp(%rip)
	pushfq
	popq boot_rflags(%rip)
	leaq stack_top(%rip), %rsp
	call bz_main
1:	hlt
	jmp 1b

	.data
	.balign 8
	.globl boot_rsi, boot_rsp, boot_rflags
boot_rsi:	.quad 0
boot_rsp:	.quad 0
boot_rflags:	.quad 0

	.bss
	.balign 16
	.space 16384
stack_top:

	.section .note.GNU-stack,"",@progbits
