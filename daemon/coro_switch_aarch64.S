/*
 * coro_switch_aarch64.S: the context switch for coro.c on aarch64 (AAPCS64).
 *
 * A suspended context is just a stack pointer; everything else it needs is
 * in a 176-byte frame on its own stack:
 *
 *	sp+0	x19 ... x28
 *	sp+80	x29 (frame pointer), x30 (return address)
 *	sp+96	d8 ... d15
 *	sp+160	FPCR, padding to keep sp 16-byte aligned
 *
 * These are the registers AAPCS64 makes callee-saved (only the low 64 bits
 * of v8-v15 are), plus FPCR, whose rounding and flush-to-zero modes a
 * callee must also preserve (so fesetround() in one coroutine stays there).
 */

#define CORO_FRAME	176

/*
 * void coro_switch(void **save_sp, void *load_sp)
 *
 * Saves the current context on the current stack, stores its stack pointer
 * in *save_sp, and continues the context whose stack pointer is load_sp.
 */
	.text
	.globl	coro_switch
	.hidden	coro_switch
	.type	coro_switch, %function
	.p2align 4
coro_switch:
	.cfi_startproc
	sub	sp, sp, #CORO_FRAME
	.cfi_adjust_cfa_offset CORO_FRAME
	stp	x19, x20, [sp, #0]
	stp	x21, x22, [sp, #16]
	stp	x23, x24, [sp, #32]
	stp	x25, x26, [sp, #48]
	stp	x27, x28, [sp, #64]
	stp	x29, x30, [sp, #80]
	.cfi_rel_offset x29, 80
	.cfi_rel_offset x30, 88
	stp	d8, d9, [sp, #96]
	stp	d10, d11, [sp, #112]
	stp	d12, d13, [sp, #128]
	stp	d14, d15, [sp, #144]
	mrs	x9, fpcr
	str	x9, [sp, #160]

	mov	x10, sp			/* the swap itself */
	str	x10, [x0]
	mov	sp, x1

	ldp	x19, x20, [sp, #0]
	ldp	x21, x22, [sp, #16]
	ldp	x23, x24, [sp, #32]
	ldp	x25, x26, [sp, #48]
	ldp	x27, x28, [sp, #64]
	ldp	x29, x30, [sp, #80]
	ldp	d8, d9, [sp, #96]
	ldp	d10, d11, [sp, #112]
	ldp	d12, d13, [sp, #128]
	ldp	d14, d15, [sp, #144]
	/* Writing FPCR can stall the pipeline; skip it when unchanged. */
	ldr	x10, [sp, #160]
	cmp	x9, x10
	b.eq	1f
	msr	fpcr, x10
1:	add	sp, sp, #CORO_FRAME
	.cfi_adjust_cfa_offset -CORO_FRAME
	ret
	.cfi_endproc
	.size	coro_switch, .-coro_switch

/*
 * void *coro_switch_make(void *top, void (*fn)(void *), void *arg)
 *
 * Builds the frame a new coroutine is first switched to, just below top
 * (aligned down to 16), and returns its stack pointer. Loading it leaves
 * x19 = arg, x20 = fn, x29 = 0 and returns (x30) to coro_switch_start.
 * The new context starts with the FPCR of its creator.
 */
	.globl	coro_switch_make
	.hidden	coro_switch_make
	.type	coro_switch_make, %function
	.p2align 4
coro_switch_make:
	.cfi_startproc
	and	x9, x0, #~15
	sub	x9, x9, #CORO_FRAME
	stp	x2, x1, [x9, #0]	/* x19 = arg, x20 = fn */
	stp	xzr, xzr, [x9, #16]
	stp	xzr, xzr, [x9, #32]
	stp	xzr, xzr, [x9, #48]
	stp	xzr, xzr, [x9, #64]
	adr	x10, coro_switch_start
	stp	xzr, x10, [x9, #80]	/* x29 = 0 ends frame-pointer walks */
	stp	xzr, xzr, [x9, #96]
	stp	xzr, xzr, [x9, #112]
	stp	xzr, xzr, [x9, #128]
	stp	xzr, xzr, [x9, #144]
	mrs	x10, fpcr
	stp	x10, xzr, [x9, #160]
	mov	x0, x9
	ret
	.cfi_endproc
	.size	coro_switch_make, .-coro_switch_make

/*
 * The bottom frame of every coroutine: calls fn(arg). fn (coro_entry) never
 * returns; it switches away for the last time. The undefined return address
 * tells debuggers and unwinders to stop here.
 */
	.type	coro_switch_start, %function
	.p2align 4
coro_switch_start:
	.cfi_startproc
	.cfi_undefined x30
	mov	x0, x19
	blr	x20
	brk	#1
	.cfi_endproc
	.size	coro_switch_start, .-coro_switch_start

	.section .note.GNU-stack, "", %progbits
