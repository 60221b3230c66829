/* tests/guests/multiboot/crt0.S — the multiboot header and entry of the
 * multiboot test kernels. With -DMB_AOUT the header carries load
 * addresses (flag bit 16) and the kernel is linked as a flat binary. */
#define MB_MAGIC 0x1badb002
#ifdef MB_AOUT
#define MB_FLAGS 0x00010003 /* page-aligned modules, memory info, addresses */
#else
#define MB_FLAGS 0x00000003
#endif

	.section .multiboot, "a"
	.align 4
mb_header:
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)
#ifdef MB_AOUT
	.long mb_header		/* header_addr */
	.long __load_start	/* load_addr */
	.long _edata		/* load_end_addr */
	.long _end		/* bss_end_addr */
	.long _start		/* entry_addr */
#endif

/* Entered as the specification says: 32-bit protected mode, flat
 * segments that need not be backed by a GDT in memory, EAX the boot
 * magic, EBX the info block. The kernel loads its own GDT (which the APs
 * of the SMP kernel share) before touching a segment register. */
	.section .text.entry, "ax"
	.code32
	.globl _start
_start:
	cli
	mov %eax, %esi
	mov %ebx, %edi
	lgdt mb_gdt_desc
	ljmp $0x08, $1f
1:	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %fs
	mov %ax, %gs
	mov %ax, %ss
	mov $mb_stack_top, %esp
	push %edi
	push %esi
	call mb_main
2:	cli
	hlt
	jmp 2b

	.section .rodata
	.align 8
	.globl mb_gdt
mb_gdt:
	.quad 0
	.quad 0x00cf9a000000ffff /* 0x08: 32-bit code, base 0, 4 GiB */
	.quad 0x00cf92000000ffff /* 0x10: data, base 0, 4 GiB */
	.globl mb_gdt_desc
mb_gdt_desc:
	.word 23
	.long mb_gdt

	.bss
	.align 16
	.space 16384
mb_stack_top:

	.section .note.GNU-stack,"",@progbits
