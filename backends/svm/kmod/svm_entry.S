/* SPDX-License-Identifier: GPL-2.0 */
/* backends/svm/kmod/svm_entry.S — one guest entry.
 *
 * void lvs_svm_enter(u64 vmcb_pa, u64 *gprs, u64 host_vmsave_pa)
 *
 * Called with GIF clear. Saves the host's VMLOAD/VMSAVE state (FS, GS,
 * TR, LDTR with their hidden parts, KernelGSBase, the SYSCALL and
 * SYSENTER MSRs), loads the guest's and its general registers (all but
 * RAX and RSP, which are in the VMCB), runs it, and puts everything back
 * in the reverse order. The host GS base (per-CPU data) is wrong between
 * VMRUN's return and the VMLOAD of the host area: nothing in between
 * touches memory through GS. gprs[] is indexed by register number. */
#include <linux/linkage.h>
#include <asm/nospec-branch.h>

#define R(n) (8 * (n))(%rax)
#define W(n) (8 * (n))(%rax)

.text
SYM_FUNC_START(lvs_svm_enter)
	push %rbp
	mov %rsp, %rbp
	push %r15
	push %r14
	push %r13
	push %r12
	push %rbx
	push %rdx		/* 16(%rsp): host VMSAVE area */
	push %rsi		/*  8(%rsp): gprs */
	push %rdi		/*  0(%rsp): VMCB */

	mov %rdx, %rax
	vmsave %rax

	mov 8(%rsp), %rax
	mov R(1), %rcx
	mov R(2), %rdx
	mov R(3), %rbx
	mov R(5), %rbp
	mov R(6), %rsi
	mov R(7), %rdi
	mov R(8), %r8
	mov R(9), %r9
	mov R(10), %r10
	mov R(11), %r11
	mov R(12), %r12
	mov R(13), %r13
	mov R(14), %r14
	mov R(15), %r15

	mov 0(%rsp), %rax
	vmload %rax
	vmrun %rax
	vmsave %rax

	mov 8(%rsp), %rax
	mov %rcx, W(1)
	mov %rdx, W(2)
	mov %rbx, W(3)
	mov %rbp, W(5)
	mov %rsi, W(6)
	mov %rdi, W(7)
	mov %r8, W(8)
	mov %r9, W(9)
	mov %r10, W(10)
	mov %r11, W(11)
	mov %r12, W(12)
	mov %r13, W(13)
	mov %r14, W(14)
	mov %r15, W(15)

	mov 16(%rsp), %rax
	vmload %rax

	/* Return predictions the guest trained must not steer the host's
	 * returns (as KVM does after #VMEXIT). */
	FILL_RETURN_BUFFER %rax, RSB_CLEAR_LOOPS, X86_FEATURE_RETPOLINE

	/* No guest value stays in a register the C code could use. */
	xor %ecx, %ecx
	xor %edx, %edx
	xor %esi, %esi
	xor %edi, %edi
	xor %r8d, %r8d
	xor %r9d, %r9d
	xor %r10d, %r10d
	xor %r11d, %r11d

	add $24, %rsp
	pop %rbx
	pop %r12
	pop %r13
	pop %r14
	pop %r15
	pop %rbp
	RET
SYM_FUNC_END(lvs_svm_enter)
