/*
 * traps.S: the 256 interrupt/exception entry stubs, the common path into Swift, and the thread context switch.
 *
 * Every stub is 16 bytes long (isr_stubs + 16 * vector), pushes a zero error code where the CPU pushes none
 * (Intel SDM Vol. 3A, 6.13: vectors 8, 10-14, 17, 21, 29 and 30 push one), pushes its vector number and jumps
 * to isr_common, which saves all general registers (the layout of shim_trap_frame in BootShim.h), saves the
 * full SSE/x87 state with fxsave64 below them, and calls the Swift handler unikernel_trap(frame). Swift may
 * edit the frame; it is restored from there and the stub returns with iretq.
 */
#if !defined(__linux__)

    .section .text.traps, "ax", @progbits
    .code64
    .p2align 4
    .globl isr_stubs
isr_stubs:
    .set vec, 0
    .rept 256
    .p2align 4
    .if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
    pushq $vec
    .else
    pushq $0
    pushq $vec
    .endif
    jmp isr_common
    .set vec, vec + 1
    .endr

    .p2align 4
isr_common:
    /* On entry: [rsp] = vector, [rsp+8] = error code, then the CPU's RIP, CS, RFLAGS, RSP, SS.
       The CPU aligned RSP to 16 before pushing (SDM 6.14.2), so after 7 + 15 pushes RSP is 16-aligned. */
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, %rbx                  /* rbx (callee-saved) = frame */
    sub $512, %rsp
    and $-16, %rsp
    fxsave64 (%rsp)
    cld
    mov %rbx, %rdi
    call unikernel_trap
    fxrstor64 (%rsp)
    mov %rbx, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
    add $16, %rsp                   /* vector and error code */
    iretq

/*
 * void shim_context_switch(uint64_t *save_sp, uint64_t new_sp)
 * Saves the System V callee-saved state (rbx, rbp, r12-r15, MXCSR control/status, x87 control word) plus
 * RFLAGS (so the interrupt flag travels with the thread) on the current stack, stores RSP in *save_sp and
 * resumes the context saved at new_sp. Caller-saved registers, including all XMM registers, are dead across
 * a call by the ABI; an interrupted thread's full SSE state is already saved by isr_common.
 */
    .p2align 4
    .globl shim_context_switch
    .type shim_context_switch, @function
shim_context_switch:
    pushfq
    push %rbp
    push %rbx
    push %r12
    push %r13
    push %r14
    push %r15
    sub $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    mov %rsp, (%rdi)
    mov %rsi, %rsp
context_restore:
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    add $8, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbx
    pop %rbp
    popfq
    ret

/* void shim_context_start(uint64_t new_sp): resume new_sp without saving anything (the old stack is dead). */
    .p2align 4
    .globl shim_context_start
    .type shim_context_start, @function
shim_context_start:
    mov %rdi, %rsp
    jmp context_restore

/*
 * First code a new thread runs: shim_context_switch "returns" here on a stack prepared by the Scheduler
 * (Swift). rbp = 0 ends backtraces; the Swift entry never returns (it exits the thread and switches away).
 */
    .section .text.trampoline, "ax", @progbits
    .p2align 4
    .globl shim_thread_trampoline
    .type shim_thread_trampoline, @function
shim_thread_trampoline:
    xor %ebp, %ebp
    and $-16, %rsp
    call unikernel_thread_entry
    ud2

    .section .note.GNU-stack, "", @progbits
#endif
