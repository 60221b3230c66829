/* tests/guests/boot/pvh_head.S — entry of the PVH test kernel (32-bit
 * protected mode, paging off, EBX = hvm_start_info) and its ELF note
 * XEN_ELFNOTE_PHYS32_ENTRY ("Xen", type 18). */
	.section .note.Xen, "a", @note
	.balign 4
	.long 4			/* namesz */
	.long 4			/* descsz */
	.long 18		/* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.balign 4
	.long pvh_start

	.section .text.entry, "ax"
	.code32
	.globl pvh_start
pvh_start:
	movl %ebx, boot_ebx
	movl %esp, boot_esp
	pushfl
	popl boot_eflags
	movl $stack_top, %esp
	call pvh_main
1:	hlt
	jmp 1b

	.data
	.balign 4
	.globl boot_ebx, boot_esp, boot_eflags
boot_ebx:	.long 0
boot_esp:	.long 0
boot_eflags:	.long 0

	.bss
	.balign 16
	.space 16384
stack_top:

	.section .note.GNU-stack,"",@progbits
