/*
 * libc.c: the freestanding C library functions that Embedded Swift and clang's code generation call
 * (DESIGN.md, "Symbols the Swift runtime and stdlib pull in"): memset, memcpy, memmove, memcmp, strlen, ceil.
 * The allocation, console and entropy symbols (posix_memalign, malloc, free, putchar, arc4random_buf, ...) are
 * defined in Swift by the Runtime module, which routes them to the components the application chose.
 *
 * The string instructions are used directly (writing them as asm keeps the compiler from turning these loops back
 * into calls), eight bytes per iteration (`rep movsq`/`rep stosq`) and the last n % 8 bytes one at a time. Under
 * QEMU TCG each iteration of a `rep` string instruction is a separate pass through the translated block, so the
 * byte forms cost one such pass per byte: copying a 1,460-byte segment took ~1,460 of them instead of ~183. On
 * hardware with ERMSB the two forms perform alike for these sizes.
 */
#if !defined(__linux__)
#include <stddef.h>
#include <stdint.h>

void *memset(void *dst, int c, size_t n) {
    void *d = dst;
    size_t words = n >> 3, tail = n & 7;
    uint64_t pattern = (uint64_t)(unsigned char)c * 0x0101010101010101ull;
    __asm__ volatile("rep stosq" : "+D"(d), "+c"(words) : "a"(pattern) : "memory");
    __asm__ volatile("rep stosb" : "+D"(d), "+c"(tail) : "a"(pattern) : "memory");
    return dst;
}

/* Forward copy of n bytes (no harmful overlap): 8 bytes per iteration, then the tail. */
static inline __attribute__((always_inline)) void copy_forward(void *dst, const void *src, size_t n) {
    size_t words = n >> 3, tail = n & 7;
    __asm__ volatile("rep movsq" : "+D"(dst), "+S"(src), "+c"(words) : : "memory");
    __asm__ volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(tail) : : "memory");
}

void *memcpy(void *restrict dst, const void *restrict src, size_t n) {
    copy_forward(dst, src, n);
    return dst;
}

void *memmove(void *dst, const void *src, size_t n) {
    uintptr_t d = (uintptr_t)dst, s = (uintptr_t)src;
    if (d == s || n == 0) return dst;
    if (d < s || d >= s + n) {
        /* No harmful overlap: copying forwards never reads a byte already overwritten (with d < s, each 8-byte
           word is read before any byte of it is written, since the destination trails the source). */
        copy_forward(dst, src, n);
    } else {
        /* dst overlaps the tail of src: copy backwards (direction flag set only for this instruction). */
        void *dp = (char *)dst + n - 1;
        const void *sp = (const char *)src + n - 1;
        __asm__ volatile("std\n\trep movsb\n\tcld" : "+D"(dp), "+S"(sp), "+c"(n) : : "memory");
    }
    return dst;
}

int memcmp(const void *a, const void *b, size_t n) {
    const unsigned char *p = a, *q = b;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != q[i]) return (int)p[i] - (int)q[i];
    }
    return 0;
}

size_t strlen(const char *s) {
    size_t n = 0;
    while (s[n] != 0) n++;
    return n;
}

/* ceil for IEEE 754 binary64, by clearing fraction bits (no FPU rounding-mode dependence). */
double ceil(double x) {
    union { double d; uint64_t u; } v = { x };
    int exponent = (int)((v.u >> 52) & 0x7ff) - 1023;
    if (exponent >= 52) return x;                 /* already integral, or inf/nan */
    if (exponent < 0) {                           /* |x| < 1 */
        if ((v.u << 1) == 0) return x;            /* +0 or -0 */
        return (v.u >> 63) ? -0.0 : 1.0;
    }
    uint64_t fraction = 0x000fffffffffffffULL >> exponent;
    if ((v.u & fraction) == 0) return x;          /* integral */
    if (!(v.u >> 63)) v.u += fraction + 1;         /* positive: round the magnitude up */
    v.u &= ~fraction;
    return v.d;
}
#endif

#if !defined(__linux__)
/* ---- The C library entry points the Swift runtime calls, forwarded to the Runtime module (Swift). ---- */
void *unikernel_heap_allocate(size_t size, size_t alignment);
void unikernel_heap_free(void *pointer);
void *unikernel_heap_reallocate(void *pointer, size_t size);
void unikernel_console_write(uint8_t byte);
void unikernel_random_fill(void *buffer, size_t count);

int posix_memalign(void **result, size_t alignment, size_t size) {
    if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment % sizeof(void *) != 0) return 22; /* EINVAL */
    *result = unikernel_heap_allocate(size, alignment);
    return 0;
}

void *malloc(size_t size) { return unikernel_heap_allocate(size, 16); }

void *aligned_alloc(size_t alignment, size_t size) {
    if (alignment == 0 || (alignment & (alignment - 1)) != 0) return 0;
    return unikernel_heap_allocate(size, alignment);
}

void *calloc(size_t count, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) return 0;
    void *p = unikernel_heap_allocate(total, 16);
    memset(p, 0, total);
    return p;
}

void *realloc(void *pointer, size_t size) { return unikernel_heap_reallocate(pointer, size); }

void free(void *pointer) { unikernel_heap_free(pointer); }

int putchar(int c) {
    unikernel_console_write((uint8_t)c);
    return (unsigned char)c;
}

void arc4random_buf(void *buffer, size_t count) { unikernel_random_fill(buffer, count); }
#endif

#if !defined(__linux__)
/* ---- 128-bit integer division (compiler-rt's __udivti3 family). LLVM lowers i128 division to these calls;
 * Swift reaches them through Int128/UInt128 and Duration arithmetic (Duration is a 128-bit count). ---- */
typedef unsigned __int128 u128;
typedef __int128 i128;

/* Quotient and remainder of n / d, d != 0: the 64-bit `div` instruction when the quotient fits, otherwise
 * shift-and-subtract one bit at a time (at most 128 steps). */
static u128 udivmod128(u128 n, u128 d, u128 *remainder) {
    uint64_t nh = (uint64_t)(n >> 64), nl = (uint64_t)n;
    uint64_t dh = (uint64_t)(d >> 64), dl = (uint64_t)d;
    if (dh == 0 && nh < dl) {
        uint64_t q, r;
        __asm__("divq %4" : "=a"(q), "=d"(r) : "a"(nl), "d"(nh), "r"(dl) : "cc");
        if (remainder) *remainder = r;
        return q;
    }
    u128 q = 0, r = 0;
    for (int i = 127; i >= 0; i--) {
        r = (r << 1) | ((n >> i) & 1);
        if (r >= d) { r -= d; q |= (u128)1 << i; }
    }
    if (remainder) *remainder = r;
    return q;
}

u128 __udivti3(u128 n, u128 d) { return udivmod128(n, d, 0); }
u128 __umodti3(u128 n, u128 d) { u128 r; udivmod128(n, d, &r); return r; }

i128 __divti3(i128 n, i128 d) {
    int negative = (n < 0) != (d < 0);
    u128 q = udivmod128(n < 0 ? -(u128)n : (u128)n, d < 0 ? -(u128)d : (u128)d, 0);
    return negative ? -(i128)q : (i128)q;
}

i128 __modti3(i128 n, i128 d) {
    u128 r;
    udivmod128(n < 0 ? -(u128)n : (u128)n, d < 0 ? -(u128)d : (u128)d, &r);
    return n < 0 ? -(i128)r : (i128)r;  /* the remainder takes the dividend's sign */
}
#endif
