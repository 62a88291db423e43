/*
 * BootShim.h: the only C interface between the boot shim (the .S and .c files in Boot/) and Swift.
 *
 * Two kinds of declarations live here:
 *   1. `static inline` CPU helpers (port I/O, MMIO, cpuid, MSRs, control registers, TSC, RDRAND/RDSEED, hlt,
 *      interrupt flag). They compile on the host as well, so the Swift modules that use them build for
 *      `swift test`; they are only *executed* inside the guest.
 *   2. Symbols defined by the bare-metal shim and the linker script (section bounds, boot stacks, the ISR stub
 *      table, the context switch). On the host those objects do not exist, so this header gives each one a
 *      host fallback that traps: host code never calls them, and if it did it would stop at once instead of
 *      touching memory it does not own.
 *
 * Invariant: every function here is safe to *compile* everywhere; only Hardware and Boot call into it.
 *
 * The helpers are always inlined (Swift would otherwise call each one, and under QEMU's TCG every call and
 * return costs a translation-block lookup). Inlined, an asm statement is no longer a call the compiler must
 * treat as reading and writing memory, so every helper that orders against memory (port I/O that notifies a
 * device after a ring update, cpuid, MSRs, the interrupt flag, the TSC around measured code, pause in a spin
 * loop) carries a "memory" clobber, making it a compiler barrier.
 */
#ifndef BOOTSHIM_H
#define BOOTSHIM_H

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every helper defined in this header: inlined at each call, never called (see the note above). */
#define SHIM_INLINE static inline __attribute__((always_inline))

/* ---------------------------------------------------------------- port I/O */
SHIM_INLINE void shim_outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port) : "memory"); }
SHIM_INLINE void shim_outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port) : "memory"); }
SHIM_INLINE void shim_outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port) : "memory"); }
SHIM_INLINE uint8_t shim_inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port) : "memory"); return v; }
SHIM_INLINE uint16_t shim_inw(uint16_t port) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port) : "memory"); return v; }
SHIM_INLINE uint32_t shim_inl(uint16_t port) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port) : "memory"); return v; }

/* ---------------------------------------------------------------- MMIO (volatile, no reordering by the compiler) */
SHIM_INLINE uint8_t shim_mmio_read8(uint64_t a) { return *(volatile uint8_t *)(uintptr_t)a; }
SHIM_INLINE uint16_t shim_mmio_read16(uint64_t a) { return *(volatile uint16_t *)(uintptr_t)a; }
SHIM_INLINE uint32_t shim_mmio_read32(uint64_t a) { return *(volatile uint32_t *)(uintptr_t)a; }
SHIM_INLINE uint64_t shim_mmio_read64(uint64_t a) { return *(volatile uint64_t *)(uintptr_t)a; }
SHIM_INLINE void shim_mmio_write8(uint64_t a, uint8_t v) { *(volatile uint8_t *)(uintptr_t)a = v; }
SHIM_INLINE void shim_mmio_write16(uint64_t a, uint16_t v) { *(volatile uint16_t *)(uintptr_t)a = v; }
SHIM_INLINE void shim_mmio_write32(uint64_t a, uint32_t v) { *(volatile uint32_t *)(uintptr_t)a = v; }
SHIM_INLINE void shim_mmio_write64(uint64_t a, uint64_t v) { *(volatile uint64_t *)(uintptr_t)a = v; }
/* Compiler + CPU ordering fences for device memory shared through virtqueues. */
SHIM_INLINE void shim_memory_fence(void) { __asm__ volatile("mfence" ::: "memory"); }
SHIM_INLINE void shim_compiler_fence(void) { __asm__ volatile("" ::: "memory"); }

/* ---------------------------------------------------------------- CPU */
typedef struct { uint32_t eax, ebx, ecx, edx; } shim_cpuid_result;
SHIM_INLINE shim_cpuid_result shim_cpuid(uint32_t leaf, uint32_t subleaf) {
    shim_cpuid_result r;
    __asm__ volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx) : "a"(leaf), "c"(subleaf) : "memory");
    return r;
}
SHIM_INLINE uint64_t shim_rdtsc(void) {
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi) :: "memory");
    return ((uint64_t)hi << 32) | lo;
}
SHIM_INLINE uint64_t shim_rdmsr(uint32_t msr) {
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr) : "memory");
    return ((uint64_t)hi << 32) | lo;
}
SHIM_INLINE void shim_wrmsr(uint32_t msr, uint64_t v) {
    __asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}
SHIM_INLINE uint64_t shim_read_cr0(void) { uint64_t v; __asm__ volatile("mov %%cr0, %0" : "=r"(v) :: "memory"); return v; }
SHIM_INLINE uint64_t shim_read_cr2(void) { uint64_t v; __asm__ volatile("mov %%cr2, %0" : "=r"(v) :: "memory"); return v; }
SHIM_INLINE uint64_t shim_read_cr3(void) { uint64_t v; __asm__ volatile("mov %%cr3, %0" : "=r"(v) :: "memory"); return v; }
SHIM_INLINE uint64_t shim_read_cr4(void) { uint64_t v; __asm__ volatile("mov %%cr4, %0" : "=r"(v) :: "memory"); return v; }
SHIM_INLINE void shim_write_cr3(uint64_t v) { __asm__ volatile("mov %0, %%cr3" ::"r"(v) : "memory"); }
SHIM_INLINE void shim_invlpg(uint64_t a) { __asm__ volatile("invlpg (%0)" ::"r"((uintptr_t)a) : "memory"); }
SHIM_INLINE uint64_t shim_read_rbp(void) { uint64_t v; __asm__ volatile("mov %%rbp, %0" : "=r"(v) :: "memory"); return v; }
SHIM_INLINE uint64_t shim_read_rsp(void) { uint64_t v; __asm__ volatile("mov %%rsp, %0" : "=r"(v) :: "memory"); return v; }
SHIM_INLINE uint64_t shim_read_rflags(void) { uint64_t v; __asm__ volatile("pushfq; popq %0" : "=r"(v) :: "memory"); return v; }
SHIM_INLINE void shim_cli(void) { __asm__ volatile("cli" ::: "memory"); }
SHIM_INLINE void shim_sti(void) { __asm__ volatile("sti" ::: "memory"); }
/* Enables interrupts and halts in one step: an interrupt between the two cannot be lost (sti shadow). */
SHIM_INLINE void shim_sti_hlt(void) { __asm__ volatile("sti; hlt" ::: "memory"); }
SHIM_INLINE void shim_hlt(void) { __asm__ volatile("hlt" ::: "memory"); }
SHIM_INLINE void shim_pause(void) { __asm__ volatile("pause" ::: "memory"); }
/* Unsigned division with the hardware's own behaviour: a zero divisor raises #DE (vector 0). Swift's `/` checks
 * the divisor itself and traps first, so this is how a divide error is produced on purpose (boot tests). */
SHIM_INLINE uint64_t shim_hardware_divide(uint64_t dividend, uint64_t divisor) {
    uint64_t quotient, remainder = 0;
    __asm__ volatile("divq %2" : "=a"(quotient), "+d"(remainder) : "r"(divisor), "a"(dividend) : "cc");
    return quotient;
}
/* RDRAND / RDSEED: return 1 and store a value when the CPU delivered one (CF=1), 0 otherwise. */
SHIM_INLINE int shim_rdrand64(uint64_t *out) {
    unsigned char ok; uint64_t v;
    __asm__ volatile("rdrand %0; setc %1" : "=r"(v), "=qm"(ok) :: "cc");
    *out = v; return ok;
}
SHIM_INLINE int shim_rdseed64(uint64_t *out) {
    unsigned char ok; uint64_t v;
    __asm__ volatile("rdseed %0; setc %1" : "=r"(v), "=qm"(ok) :: "cc");
    *out = v; return ok;
}

/* ---------------------------------------------------------------- trap frame
 * Layout written by the common ISR stub (Boot/traps.S), lowest address first. The stub pushes the general
 * registers after the CPU's interrupt frame, and saves SSE state (fxsave64) below this structure.
 */
typedef struct {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error_code;
    uint64_t rip, cs, rflags, rsp, ss;
} shim_trap_frame;

/* The runtime's thread system, created on first use (defined by the Runtime module with @_cdecl, on both the
 * guest and the host). The Scheduler module calls it the first time a thread operation needs the system, so
 * images that never use threads do not link the thread machinery. Returns a retained Swift object. */
void *unikernel_thread_system(void);

/* Number of IST stacks set up by the shim: 1 double fault, 2 NMI, 3 machine check, 4 page fault. */
#define SHIM_IST_COUNT 4
#define SHIM_IST_STACK_SIZE 16384

#if defined(__linux__)
/* Host build: the bare-metal objects do not exist. Each accessor traps if it is ever called. */
SHIM_INLINE uint64_t shim_boot_entry_tsc(void) { __builtin_trap(); }
SHIM_INLINE uint64_t shim_boot_start_info(void) { __builtin_trap(); }
SHIM_INLINE uint64_t shim_symbol_kernel_start(void) { __builtin_trap(); }
SHIM_INLINE uint64_t shim_symbol_kernel_end(void) { __builtin_trap(); }
SHIM_INLINE uint64_t shim_symbol_text_start(void) { __builtin_trap(); }
SHIM_INLINE uint64_t shim_symbol_text_end(void) { __builtin_trap(); }
SHIM_INLINE uint64_t shim_symbol_rodata_start(void) { __builtin_trap(); }
SHIM_INLINE uint64_t shim_symbol_rodata_end(void) { __builtin_trap(); }
SHIM_INLINE uint64_t shim_symbol_data_start(void) { __builtin_trap(); }
SHIM_INLINE uint64_t shim_symbol_bss_end(void) { __builtin_trap(); }
SHIM_INLINE uint64_t shim_symbol_embedded_start(void) { __builtin_trap(); }
SHIM_INLINE uint64_t shim_boot_stack_guard(void) { __builtin_trap(); }
SHIM_INLINE uint64_t shim_boot_stack_top(void) { __builtin_trap(); }
SHIM_INLINE uint64_t shim_ist_guard(int index) { (void)index; __builtin_trap(); }
SHIM_INLINE void shim_set_gate_ist(int vector, int ist) { (void)vector; (void)ist; __builtin_trap(); }
SHIM_INLINE void shim_context_switch(uint64_t *save_sp, uint64_t new_sp) { (void)save_sp; (void)new_sp; __builtin_trap(); }
SHIM_INLINE void shim_context_start(uint64_t new_sp) { (void)new_sp; __builtin_trap(); }
SHIM_INLINE uint64_t shim_thread_trampoline_address(void) { __builtin_trap(); }
SHIM_INLINE void *shim_bootstrap_arena(void) { __builtin_trap(); }
SHIM_INLINE size_t shim_bootstrap_arena_size(void) { __builtin_trap(); }
SHIM_INLINE int shim_call_main(void) { __builtin_trap(); }
SHIM_INLINE void shim_boot_map_page_zero(int present) { (void)present; __builtin_trap(); }
#else
/* A static 32 KiB arena for allocations made before the heap exists (Boot/cpu.c). */
void *shim_bootstrap_arena(void);
size_t shim_bootstrap_arena_size(void);
/* The application's entry point: the `main` symbol Swift emits for its top-level code. */
int main(int argc, char **argv);
SHIM_INLINE int shim_call_main(void) { return main(0, 0); }
/* The boot page table for the first 2 MiB (Boot/entry.S). */
extern uint64_t boot_pt_low[512];
/* Maps (present != 0) or unmaps page 0 in the boot page tables, which must be the active ones. */
SHIM_INLINE void shim_boot_map_page_zero(int present) {
    boot_pt_low[0] = present ? 0x3 : 0;
    __asm__ volatile("invlpg (%0)" ::"r"((uintptr_t)0) : "memory");
}
/* Values recorded by the 32-bit entry (Boot/entry.S). */
extern uint64_t boot_entry_tsc_value;
extern uint64_t boot_start_info_paddr;
/* Section bounds from Linker/unikernel.ld. */
extern char __kernel_start[], __kernel_end[], __text_start[], __text_end[], __rodata_start[], __rodata_end[];
extern char __data_start[], __bss_end[];
/* The embedded-content archive (page-aligned, after __kernel_end); its length is in its own header. */
extern char __embedded_start[];
extern char boot_stack_guard[], boot_stack_top[];
uint64_t shim_ist_guard(int index);
void shim_set_gate_ist(int vector, int ist);
/* Saves callee-saved registers, MXCSR and the x87 control word on the current stack, stores the stack pointer
 * in *save_sp, switches to new_sp and restores the same state from there (Boot/traps.S). */
void shim_context_switch(uint64_t *save_sp, uint64_t new_sp);
/* Switches to new_sp without saving the current context (the first switch away from a dead thread). */
void shim_context_start(uint64_t new_sp);
/* First instruction of every new thread (Boot/traps.S); calls unikernel_thread_entry. */
extern char shim_thread_trampoline[];
SHIM_INLINE uint64_t shim_thread_trampoline_address(void) { return (uint64_t)(uintptr_t)shim_thread_trampoline; }
SHIM_INLINE uint64_t shim_boot_entry_tsc(void) { return boot_entry_tsc_value; }
SHIM_INLINE uint64_t shim_boot_start_info(void) { return boot_start_info_paddr; }
SHIM_INLINE uint64_t shim_symbol_kernel_start(void) { return (uint64_t)(uintptr_t)__kernel_start; }
SHIM_INLINE uint64_t shim_symbol_kernel_end(void) { return (uint64_t)(uintptr_t)__kernel_end; }
SHIM_INLINE uint64_t shim_symbol_text_start(void) { return (uint64_t)(uintptr_t)__text_start; }
SHIM_INLINE uint64_t shim_symbol_text_end(void) { return (uint64_t)(uintptr_t)__text_end; }
SHIM_INLINE uint64_t shim_symbol_rodata_start(void) { return (uint64_t)(uintptr_t)__rodata_start; }
SHIM_INLINE uint64_t shim_symbol_rodata_end(void) { return (uint64_t)(uintptr_t)__rodata_end; }
SHIM_INLINE uint64_t shim_symbol_data_start(void) { return (uint64_t)(uintptr_t)__data_start; }
SHIM_INLINE uint64_t shim_symbol_bss_end(void) { return (uint64_t)(uintptr_t)__bss_end; }
SHIM_INLINE uint64_t shim_symbol_embedded_start(void) { return (uint64_t)(uintptr_t)__embedded_start; }
SHIM_INLINE uint64_t shim_boot_stack_guard(void) { return (uint64_t)(uintptr_t)boot_stack_guard; }
SHIM_INLINE uint64_t shim_boot_stack_top(void) { return (uint64_t)(uintptr_t)boot_stack_top; }
#endif

#ifdef __cplusplus
}
#endif
#endif /* BOOTSHIM_H */
