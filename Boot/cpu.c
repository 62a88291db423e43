/*
 * cpu.c: the final GDT (with a 64-bit TSS) and the IDT, installed once by the 64-bit entry before Swift runs.
 *
 * GDT (Intel SDM Vol. 3A, 3.4.5 and 7.2.3): 0x00 null, 0x08 kernel code (64-bit), 0x10 kernel data,
 * 0x18 TSS (a 16-byte system descriptor). The TSS carries the interrupt stack table: IST1 double fault,
 * IST2 NMI, IST3 machine check, IST4 page fault, each a separate stack with an unmapped guard page below it
 * (Memory leaves the pages named by shim_ist_guard unmapped), so a fault on an overflowed stack still has a
 * good stack to run on. The IDT sends all 256 vectors to the stubs in traps.S as interrupt gates (IF cleared).
 */
#if !defined(__linux__)
#include "BootShim.h"

struct __attribute__((packed)) tss64 {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
};

struct __attribute__((packed)) idt_gate {
    uint16_t offset_low;
    uint16_t selector;
    uint8_t ist;
    uint8_t type_attr;
    uint16_t offset_mid;
    uint32_t offset_high;
    uint32_t reserved;
};

struct __attribute__((packed)) table_pointer {
    uint16_t limit;
    uint64_t base;
};

/* Each IST stack: one guard page, then the stack. The linker script places section .bss.ist on a page boundary,
 * and every member is a whole number of pages, so each guard page can be unmapped on its own. */
struct ist_stack {
    uint8_t guard[4096];
    uint8_t stack[SHIM_IST_STACK_SIZE];
};

static struct ist_stack ist_stacks[SHIM_IST_COUNT] __attribute__((section(".bss.ist"), aligned(16)));
static struct tss64 tss;
static uint64_t gdt[5];
static struct idt_gate idt[256];
extern char isr_stubs[];

uint64_t shim_ist_guard(int index) {
    if (index < 0 || index >= SHIM_IST_COUNT) return 0;
    return (uint64_t)(uintptr_t)ist_stacks[index].guard;
}

static void set_gate(int vector, int ist) {
    uint64_t handler = (uint64_t)(uintptr_t)(isr_stubs + 16 * vector);
    idt[vector].offset_low = (uint16_t)handler;
    idt[vector].selector = 0x08;
    idt[vector].ist = (uint8_t)ist;
    idt[vector].type_attr = 0x8E; /* present, DPL 0, 64-bit interrupt gate */
    idt[vector].offset_mid = (uint16_t)(handler >> 16);
    idt[vector].offset_high = (uint32_t)(handler >> 32);
    idt[vector].reserved = 0;
}

void shim_set_gate_ist(int vector, int ist) {
    if (vector < 0 || vector > 255 || ist < 0 || ist > SHIM_IST_COUNT) return;
    idt[vector].ist = (uint8_t)ist;
}

void shim_cpu_init(void) {
    for (int i = 0; i < SHIM_IST_COUNT; i++)
        tss.ist[i] = (uint64_t)(uintptr_t)(ist_stacks[i].stack + SHIM_IST_STACK_SIZE);
    tss.iomap_base = sizeof(tss); /* no I/O permission bitmap */

    uint64_t base = (uint64_t)(uintptr_t)&tss;
    uint64_t limit = sizeof(tss) - 1;
    gdt[0] = 0;
    gdt[1] = 0x00af9a000000ffffULL; /* code: present, DPL 0, executable, L=1 */
    gdt[2] = 0x00cf92000000ffffULL; /* data: present, writable */
    gdt[3] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ULL << 40) /* present, available 64-bit TSS */
           | (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
    gdt[4] = base >> 32;

    struct table_pointer gp = { sizeof(gdt) - 1, (uint64_t)(uintptr_t)gdt };
    __asm__ volatile("lgdt %0" ::"m"(gp));
    /* Reload CS through a far return, then the data segments, then the task register. */
    __asm__ volatile(
        "pushq $0x08\n"
        "leaq 1f(%%rip), %%rax\n"
        "pushq %%rax\n"
        "lretq\n"
        "1:\n"
        "movl $0x10, %%eax\n"
        "movl %%eax, %%ds\n"
        "movl %%eax, %%es\n"
        "movl %%eax, %%ss\n"
        ::: "rax", "memory");
    __asm__ volatile("ltr %w0" ::"r"(0x18));

    for (int v = 0; v < 256; v++) set_gate(v, 0);
    set_gate(8, 1);  /* #DF */
    set_gate(2, 2);  /* NMI */
    set_gate(18, 3); /* #MC */
    set_gate(14, 4); /* #PF: a stack overflow must not need the overflowed stack */
    struct table_pointer ip = { sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };
    __asm__ volatile("lidt %0" ::"m"(ip));
}
#endif

#if !defined(__linux__)
/* Memory for allocations made before the application's main starts (start info copies, the memory map, the
 * frame allocator's range list) and while the chosen heap object itself is being created. Never freed. */
static uint8_t bootstrap_arena[32768] __attribute__((aligned(16)));
void *shim_bootstrap_arena(void) { return bootstrap_arena; }
size_t shim_bootstrap_arena_size(void) { return sizeof(bootstrap_arena); }
#endif
