/* tests/guests/lib/ring3.S — IRETQ into ring 3, SYSCALL back to ring 0.
 *
 * Two quirks of this machine's paravirtual KVM shape this file (a
 * conventional KVM needs neither workaround, and runs the same code):
 *  - ring 3 runs natively with IOPL 0 whatever RFLAGS says, and checks
 *    the guest TSS's I/O permission bitmap instead; libvmm's long-mode TSS
 *    has none, so ring3_init() installs its own TSS with an all-clear
 *    bitmap (and RSP0 for the way back below);
 *  - SYSCALL from ring 3 jumps to LSTAR and does RCX, R11 and FMASK, but
 *    leaves CS, SS and the CPL at ring 3 (CS reads 0x2b, HLT faults, and
 *    INT n raises #UD there). syscall_entry checks the CPL and, when it
 *    is still 3, finishes the trip with a deliberate UD2: the #UD goes
 *    through the IDT of exceptions.S to ring 0, whose handler recognises
 *    that UD2 and comes here (ring3_return).
 */

/* Selectors of vmm_vcpu_setup_long_mode()'s GDT (libvmm/vcpu.h). */
#define SEL_KCODE  0x08
#define SEL_CODE32 0x18
#define SEL_UDATA  0x20
#define SEL_UCODE  0x28
#define SEL_TSS    0x30

#define MSR_EFER   0xc0000080
#define MSR_STAR   0xc0000081
#define MSR_LSTAR  0xc0000082
#define MSR_FMASK  0xc0000084
#define EFER_SCE   1

/* RFLAGS in ring 3: reserved bit 1 and IOPL 3; IF stays clear (nothing
 * should interrupt a test guest). */
#define USER_RFLAGS 0x3002
/* SYSCALL clears TF, IF, DF and AC on the way into ring 0. */
#define FMASK_VALUE 0x40700

#define RING3_STACK_SIZE 65536
#define RING0_STACK_SIZE 4096
/* TSS: 104 bytes, then the I/O bitmap (65536 ports, one bit each, 0 =
 * allowed), then the 0xff byte the architecture wants after it. */
#define TSS_SIZE 104
#define IOBITMAP_SIZE 8192
#define TSS_LIMIT (TSS_SIZE + IOBITMAP_SIZE)

	.text
	.globl ring3_init
ring3_init:
	push %rbx
	/* Our TSS: RSP0 for exceptions in ring 3, the I/O bitmap offset. */
	lea ring0_stack_top(%rip), %rax
	mov %rax, tss+4(%rip)
	movw $TSS_SIZE, tss+102(%rip)
	movb $0xff, tss+TSS_LIMIT(%rip)
	/* Point the GDT's TSS descriptor at it (type 9: available, so that
	 * LTR accepts it) and load it. */
	sub $16, %rsp
	sgdt (%rsp)
	mov 2(%rsp), %rbx		/* GDT base */
	add $16, %rsp
	lea tss(%rip), %rax
	mov $TSS_LIMIT, %ecx		/* limit[15:0] */
	mov %eax, %edx
	and $0xffffff, %edx
	shl $16, %rdx
	or %rdx, %rcx			/* base[23:0] */
	mov $0x89, %edx			/* present, type 9 */
	shl $40, %rdx
	or %rdx, %rcx
	mov %eax, %edx
	shr $24, %edx
	and $0xff, %edx
	shl $56, %rdx
	or %rdx, %rcx			/* base[31:24] */
	mov %rcx, SEL_TSS(%rbx)
	shr $32, %rax
	mov %rax, SEL_TSS+8(%rbx)	/* base[63:32] */
	mov $SEL_TSS, %ax
	ltr %ax
	pop %rbx

	mov $MSR_EFER, %ecx
	rdmsr
	or $EFER_SCE, %eax
	wrmsr
	/* STAR[47:32]: SYSCALL CS (SS = CS + 8); STAR[63:48]: SYSRET base. */
	mov $MSR_STAR, %ecx
	xor %eax, %eax
	mov $((SEL_CODE32 | 3) << 16 | SEL_KCODE), %edx
	wrmsr
	mov $MSR_LSTAR, %ecx
	lea syscall_entry(%rip), %rax
	mov %rax, %rdx
	shr $32, %rdx
	wrmsr
	mov $MSR_FMASK, %ecx
	mov $FMASK_VALUE, %eax
	xor %edx, %edx
	wrmsr
	ret

/* uint64_t ring3_call(ring3_fn fn (rdi), uint64_t arg (rsi)) */
	.globl ring3_call
ring3_call:
	/* Callee-saved registers: we come back with ring-3 values in them. */
	push %rbx
	push %rbp
	push %r12
	push %r13
	push %r14
	push %r15
	mov %rsp, saved_rsp(%rip)
	mov %rdi, %r12			/* fn, kept across the IRETQ */
	mov %rsi, %rdi			/* arg */
	/* IRETQ frame: SS, RSP, RFLAGS, CS, RIP. */
	push $(SEL_UDATA | 3)
	lea ring3_stack_top(%rip), %rax
	push %rax
	push $USER_RFLAGS
	push $(SEL_UCODE | 3)
	lea ring3_trampoline(%rip), %rax
	push %rax
	iretq

/* Ring 3: call fn(arg), then leave with its result. The stack top is
 * 16-byte aligned, so fn sees the ABI's alignment after the CALL. */
ring3_trampoline:
	call *%r12
	mov %rax, %rdi
	syscall
	ud2				/* not reached */

/* Ring 0 (CS = SEL_KCODE, SS = SEL_KCODE + 8 = kernel data), or still
 * ring 3 on this machine's KVM (see the top of the file). */
syscall_entry:
	mov %cs, %eax
	test $3, %eax
	jz ring3_return
	.globl ring3_fallback_ud2
ring3_fallback_ud2:
	ud2

/* Ring 0, from SYSCALL or from the #UD handler (whose frame on the RSP0
 * stack is dropped with the rest of that stack). */
	.globl ring3_return
ring3_return:
	mov saved_rsp(%rip), %rsp
	mov %rdi, %rax
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbp
	pop %rbx
	ret

	.bss
	.balign 8
saved_rsp:
	.quad 0
	.balign 16
tss:
	.skip TSS_LIMIT + 1
	.balign 16
ring0_stack:
	.skip RING0_STACK_SIZE
ring0_stack_top:
	.balign 16
ring3_stack:
	.skip RING3_STACK_SIZE
ring3_stack_top:

	.section .note.GNU-stack,"",@progbits
