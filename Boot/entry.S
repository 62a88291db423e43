/*
 * entry.S: PVH entry point. The hypervisor (QEMU -kernel, Firecracker, Cloud Hypervisor) finds the
 * XEN_ELFNOTE_PHYS32_ENTRY note below and jumps to pvh_start32 in 32-bit protected mode with paging off,
 * %ebx = physical address of struct hvm_start_info (Xen's arch-x86/hvm/start_info.h, "PVH boot ABI").
 *
 * This code: records the entry TSC and the start-info address, zeroes .bss, builds identity page tables for
 * the first 4 GiB (2 MiB pages, except 4 KiB pages for the first 2 MiB and for the region holding the guard page
 * under the boot stack, which is left absent), enables PAE/long mode/NX/SSE, and calls into C
 * (shim_cpu_init: GDT, TSS, IDT) and then Swift (unikernel_start). Swift later replaces these tables with
 * finer-grained ones (read-only text, NX data, page 0 absent so null dereferences fault) built by the Memory
 * module. Page 0 stays mapped until then because hypervisors put PVH structures there (QEMU's PVH option ROM
 * places the memory map at 0x5a8 on pc/q35).
 */
#if !defined(__linux__)

#define PTE_PRESENT   0x001
#define PTE_WRITABLE  0x002
#define PTE_HUGE      0x080
#define CR0_PE        0x00000001
#define CR0_MP        0x00000002
#define CR0_EM        0x00000004
#define CR0_TS        0x00000008
#define CR0_NE        0x00000020
#define CR0_WP        0x00010000
#define CR0_PG        0x80000000
#define CR4_PAE       0x00000020
#define CR4_OSFXSR    0x00000200
#define CR4_OSXMMEXCPT 0x00000400
#define MSR_EFER      0xC0000080
#define EFER_LME      0x00000100
#define EFER_NXE      0x00000800
#define EXIT_PORT     0xf4
#define STATUS_RETURNED 106       /* ExitStatus.bootReturned: unikernel_start came back */

/* ---------------------------------------------------------------------------------------------- PVH note */
    .section .note.Xen, "a", @note
    .p2align 2
    .long 4                 /* namesz: "Xen\0" */
    .long 4                 /* descsz */
    .long 18                /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .long pvh_start32

/* ---------------------------------------------------------------------------------------------- values kept */
    .section .data.boot, "aw", @progbits
    .p2align 3
    .globl boot_entry_tsc_value
boot_entry_tsc_value:   .quad 0
    .globl boot_start_info_paddr
boot_start_info_paddr:  .quad 0

/* Boot GDT: null, 64-bit code (0x08), data (0x10). shim_cpu_init installs the final GDT with a TSS. */
    .p2align 3
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff
    .quad 0x00cf92000000ffff
boot_gdt_end:
boot_gdt_ptr:
    .word boot_gdt_end - boot_gdt - 1
    .long boot_gdt

/* ---------------------------------------------------------------------------------------------- 32-bit entry */
    .section .text.boot32, "ax", @progbits
    .code32
    .globl pvh_start32
    .type pvh_start32, @function
pvh_start32:
    cli
    cld
    rdtsc                                   /* first: boot time is measured from this instruction */
    mov %eax, boot_entry_tsc_value
    mov %edx, boot_entry_tsc_value + 4
    mov %ebx, boot_start_info_paddr

    /* Zero .bss: page tables and stacks live there. Nothing below has used it yet. The linker script makes
       both bounds 16-byte aligned, so it is cleared 4 bytes at a time (a quarter of the iterations). */
    mov $__bss_start, %edi
    mov $__bss_end, %ecx
    sub %edi, %ecx
    shr $2, %ecx
    xor %eax, %eax
    rep stosl

    /* PML4[0] -> PDPT; PDPT[0..3] -> 4 page directories covering 0..4 GiB. */
    mov $boot_pdpt, %eax
    or $(PTE_PRESENT | PTE_WRITABLE), %eax
    mov %eax, boot_pml4
    mov $boot_pd, %eax
    or $(PTE_PRESENT | PTE_WRITABLE), %eax
    mov $boot_pdpt, %edi
    mov $4, %ecx
1:  mov %eax, (%edi)
    add $4096, %eax
    add $8, %edi
    loop 1b

    /* 2048 PD entries x 2 MiB, identity. */
    mov $boot_pd, %edi
    mov $(PTE_PRESENT | PTE_WRITABLE | PTE_HUGE), %eax
    mov $2048, %ecx
1:  mov %eax, (%edi)
    add $0x200000, %eax
    add $8, %edi
    loop 1b

    /* First 2 MiB in 4 KiB pages (the guard page below may fall in it). */
    mov $boot_pt_low, %edi
    mov $(PTE_PRESENT | PTE_WRITABLE), %eax
    mov $512, %ecx
1:  mov %eax, (%edi)
    add $4096, %eax
    add $8, %edi
    loop 1b
    mov $boot_pt_low, %eax
    or $(PTE_PRESENT | PTE_WRITABLE), %eax
    mov %eax, boot_pd

    /* The 2 MiB region holding the boot-stack guard page also gets 4 KiB pages, guard absent. */
    mov $boot_stack_guard, %edx
    mov %edx, %esi
    shr $21, %esi                           /* PD index of the guard page */
    mov $boot_pt_low, %edi
    test %esi, %esi
    jz 2f
    mov %esi, %eax
    shl $21, %eax
    or $(PTE_PRESENT | PTE_WRITABLE), %eax
    mov $boot_pt_stack, %edi
    mov $512, %ecx
1:  mov %eax, (%edi)
    add $4096, %eax
    add $8, %edi
    loop 1b
    mov $boot_pt_stack, %eax
    or $(PTE_PRESENT | PTE_WRITABLE), %eax
    mov %eax, boot_pd(, %esi, 8)
    mov $boot_pt_stack, %edi
2:  shr $12, %edx
    and $511, %edx
    movl $0, (%edi, %edx, 8)

    /* Paging structures ready: PAE + SSE bits, EFER.LME (+NXE when the CPU has NX), then paging on. */
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov %cr4, %eax
    or $(CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT), %eax
    mov %eax, %cr4
    mov $0x80000001, %eax
    cpuid
    xor %esi, %esi
    bt $20, %edx                            /* CPUID.80000001H:EDX.NX */
    jnc 3f
    mov $EFER_NXE, %esi
3:  mov $MSR_EFER, %ecx
    rdmsr
    or $EFER_LME, %eax
    or %esi, %eax
    wrmsr
    mov %cr0, %eax
    and $~(CR0_EM | CR0_TS), %eax
    or $(CR0_PE | CR0_MP | CR0_NE | CR0_WP | CR0_PG), %eax
    mov %eax, %cr0
    lgdt boot_gdt_ptr
    ljmp $0x08, $long_mode_entry

/* ---------------------------------------------------------------------------------------------- 64-bit */
    .code64
long_mode_entry:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    xor %eax, %eax
    mov %eax, %fs
    mov %eax, %gs
    mov $boot_stack_top, %rsp
    xor %ebp, %ebp                          /* a zero frame pointer ends every backtrace */
    fninit
    call shim_cpu_init                      /* Boot/cpu.c: final GDT + TSS + IDT */
    mov boot_start_info_paddr(%rip), %rdi
    call unikernel_start                    /* Runtime (Swift); does not return */
    mov $STATUS_RETURNED, %eax
    mov $EXIT_PORT, %dx
    outl %eax, %dx
1:  cli
    hlt
    jmp 1b

/* ---------------------------------------------------------------------------------------------- boot memory */
    .section .bss.boot, "aw", @nobits
    .p2align 4                              /* the linker script puts .bss.boot at the start of .bss, page-aligned */
boot_pml4:      .skip 4096
boot_pdpt:      .skip 4096
boot_pd:        .skip 4096 * 4
boot_pt_low:    .skip 4096
boot_pt_stack:  .skip 4096
    .globl boot_stack_guard
boot_stack_guard: .skip 4096                /* never mapped: running off the boot stack faults */
    .globl boot_stack_bottom
boot_stack_bottom: .skip 65536
    .globl boot_stack_top
boot_stack_top:

    .section .note.GNU-stack, "", @progbits
#endif
