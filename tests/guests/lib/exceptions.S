/* tests/guests/lib/exceptions.S — an IDT for 64-bit guests: every CPU
 * exception becomes a ucall ABORT naming the vector, error code and RIP
 * (instead of a silent triple fault), except the one deliberate #UD that
 * ring3.S uses to get back to ring 0 on this machine's KVM. */

#define SEL_KCODE 0x08
#define VEC_UD 6

	.text
	.globl exceptions_init
exceptions_init:
	lea exc_stubs(%rip), %rsi	/* stub i at exc_stubs + 16 * i */
	lea idt(%rip), %rdx
	xor %ecx, %ecx
1:	mov %rsi, %rax
	mov %ax, (%rdx)			/* offset[15:0] */
	movw $SEL_KCODE, 2(%rdx)
	movw $0x8e00, 4(%rdx)		/* present, DPL 0, 64-bit interrupt gate */
	shr $16, %rax
	mov %ax, 6(%rdx)		/* offset[31:16] */
	shr $16, %rax
	mov %eax, 8(%rdx)		/* offset[63:32] */
	movl $0, 12(%rdx)
	add $16, %rsi
	add $16, %rdx
	inc %ecx
	cmp $32, %ecx
	jb 1b
	movw $(32*16-1), idtr(%rip)
	lea idt(%rip), %rax
	mov %rax, idtr+2(%rip)
	lidt idtr(%rip)
	ret

/* 32 stubs of 16 bytes each; the CPU pushes an error code for vectors 8,
 * 10-14, 17, 21, 29 and 30 only, so the others push a 0 to match. */
	.balign 16
exc_stubs:
	vec = 0
	.rept 32
	.balign 16
	.if vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 || vec == 21 || vec == 29 || vec == 30
	.else
	push $0
	.endif
	push $vec
	jmp exc_common
	vec = vec + 1
	.endr

/* Stack: vector, error code, RIP, CS, RFLAGS, RSP, SS. */
exc_common:
	cmpq $VEC_UD, (%rsp)
	jne 1f
	lea ring3_fallback_ud2(%rip), %rax
	cmp %rax, 16(%rsp)
	je ring3_return			/* ring3.S: the frame is dropped there */
1:	mov 0(%rsp), %rdi		/* vector */
	mov 8(%rsp), %rsi		/* error code */
	mov 16(%rsp), %rdx		/* RIP */
	mov 24(%rsp), %rcx		/* CS */
	mov %cr2, %r8
	and $-16, %rsp
	call guest_exception		/* guest.c: ABORT, never returns */
	ud2

	.bss
	.balign 16
idtr:
	.skip 16
	.balign 16
idt:
	.skip 32*16

	.section .note.GNU-stack,"",@progbits
