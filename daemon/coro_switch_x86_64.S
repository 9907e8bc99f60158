/*
 * coro_switch_x86_64.S: the context switch for coro.c on x86_64 (SysV ABI).
 *
 * A suspended context is just a stack pointer; everything else it needs is
 * in a 64-byte frame on its own stack:
 *
 *	sp+0	MXCSR (4 bytes), x87 control word (2 bytes), padding
 *	sp+8	r15, r14, r13, r12, rbx, rbp
 *	sp+56	return address
 *
 * These are exactly the registers the ABI makes callee-saved, plus the
 * control bits of MXCSR and the x87 control word, which it also asks a
 * callee to preserve (so fesetround() in one coroutine stays there).
 */

/*
 * void coro_switch(void **save_sp, void *load_sp)
 *
 * Saves the current context on the current stack, stores its stack pointer
 * in *save_sp, and continues the context whose stack pointer is load_sp.
 * Both stacks hold the same frame layout, so one set of CFI notes is true
 * on either side of the swap.
 */
	.text
	.globl	coro_switch
	.hidden	coro_switch
	.type	coro_switch, @function
	.p2align 4
coro_switch:
	.cfi_startproc
	pushq	%rbp
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset rbp, 0
	pushq	%rbx
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset rbx, 0
	pushq	%r12
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset r12, 0
	pushq	%r13
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset r13, 0
	pushq	%r14
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset r14, 0
	pushq	%r15
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset r15, 0
	subq	$8, %rsp
	.cfi_adjust_cfa_offset 8
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)

	movq	%rsp, (%rdi)		/* the swap itself */
	movq	%rsi, %rsp

	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	addq	$8, %rsp
	.cfi_adjust_cfa_offset -8
	popq	%r15
	.cfi_adjust_cfa_offset -8
	popq	%r14
	.cfi_adjust_cfa_offset -8
	popq	%r13
	.cfi_adjust_cfa_offset -8
	popq	%r12
	.cfi_adjust_cfa_offset -8
	popq	%rbx
	.cfi_adjust_cfa_offset -8
	popq	%rbp
	.cfi_adjust_cfa_offset -8
	ret
	.cfi_endproc
	.size	coro_switch, .-coro_switch

/*
 * void *coro_switch_make(void *top, void (*fn)(void *), void *arg)
 *
 * Builds the frame a new coroutine is first switched to, just below top
 * (aligned down to 16), and returns its stack pointer. Popping it leaves
 * r12 = arg, r13 = fn, rbp = 0 and "returns" to coro_switch_start with
 * rsp 16-byte aligned, as a call site needs. The new context starts with
 * the MXCSR and x87 control word of its creator.
 */
	.globl	coro_switch_make
	.hidden	coro_switch_make
	.type	coro_switch_make, @function
	.p2align 4
coro_switch_make:
	.cfi_startproc
	movq	%rdi, %rax
	andq	$-16, %rax
	subq	$64, %rax
	stmxcsr	(%rax)
	fnstcw	4(%rax)
	movw	$0, 6(%rax)
	movq	$0, 8(%rax)		/* r15 */
	movq	$0, 16(%rax)		/* r14 */
	movq	%rsi, 24(%rax)		/* r13 = fn */
	movq	%rdx, 32(%rax)		/* r12 = arg */
	movq	$0, 40(%rax)		/* rbx */
	movq	$0, 48(%rax)		/* rbp = 0 ends frame-pointer walks */
	leaq	coro_switch_start(%rip), %rcx
	movq	%rcx, 56(%rax)
	ret
	.cfi_endproc
	.size	coro_switch_make, .-coro_switch_make

/*
 * The bottom frame of every coroutine: calls fn(arg) with an aligned stack.
 * fn (coro_entry) never returns; it switches away for the last time. The
 * undefined return address tells debuggers and unwinders to stop here.
 */
	.type	coro_switch_start, @function
	.p2align 4
coro_switch_start:
	.cfi_startproc
	.cfi_undefined rip
	movq	%r12, %rdi
	call	*%r13
	ud2
	.cfi_endproc
	.size	coro_switch_start, .-coro_switch_start

	.section .note.GNU-stack, "", @progbits
