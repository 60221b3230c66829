/* tests/guests/realmode.S — a 16-bit boot sector: loaded flat at 0x7c00,
 * started with CS:IP = 0:0x7c00, it prints "Hello from real mode\n" on
 * port 0xE9 and halts. 512 bytes ending in the 0x55 0xAA signature. */
	.code16
	.text
	.globl _start
_start:
	cli
	xor %ax, %ax
	mov %ax, %ds
	mov $msg, %si
	cld
1:	lodsb
	test %al, %al
	jz 2f
	out %al, $0xe9
	jmp 1b
2:	hlt
	jmp 2b

msg:	.asciz "Hello from real mode\n"

	.org 510
	.byte 0x55, 0xaa

	.section .note.GNU-stack,"",@progbits
