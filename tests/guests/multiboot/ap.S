/* tests/guests/multiboot/ap.S — the application processors' way in: a
 * real-mode trampoline the BSP copies to MB_SMP_TRAMPOLINE (the SIPI
 * vector's page), which loads the kernel's GDT, enters protected mode and
 * jumps to ap_entry32 in the kernel; that marks the AP's APIC ID in
 * ap_mask, counts it in ap_count (both locked) and halts for good. */
	.section .rodata
	.code16
	.globl tramp_start, tramp_end
tramp_start:
	cli
	mov %cs, %ax
	mov %ax, %ds
	lgdtl tramp_gdt_desc - tramp_start
	mov %cr0, %eax
	or $1, %eax
	mov %eax, %cr0
	ljmpl $0x08, $ap_entry32
	.align 4
tramp_gdt_desc:
	.word 23
	.long mb_gdt
tramp_end:

	.text
	.code32
ap_entry32:
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov 0xfee00020, %eax	/* local APIC ID register */
	shr $24, %eax
	lock btsl %eax, ap_mask
	lock incl ap_count
1:	cli
	hlt
	jmp 1b

	.data
	.align 4
	.globl ap_mask, ap_count
ap_mask:
	.long 0
ap_count:
	.long 0

	.section .note.GNU-stack,"",@progbits
