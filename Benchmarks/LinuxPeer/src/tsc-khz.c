/*
 * tsc-khz: prints the host's time-stamp-counter rate in kHz (median of five 20 ms samples against
 * CLOCK_MONOTONIC). A host-side helper, not a benchmark.
 *
 * Why: under QEMU TCG the guest's RDTSC returns the host's TSC, and a Linux guest on -M microvm has
 * neither HPET nor ACPI PM timer to calibrate it against. When the host is busy, the kernel's PIT-based
 * calibration fails, the kernel marks the TSC unusable and (seen here: 3 boots out of 12) hangs early
 * in boot. run.sh passes this value as tsc_early_khz=, which skips that calibration.
 */
#include "bench.h"

#include <x86intrin.h>

int main(void)
{
    double samples[5];
    for (int i = 0; i < 5; i++) {
        uint64_t start_ns = bench_now_ns(), start_ticks = __rdtsc(), now;
        while ((now = bench_now_ns()) - start_ns < 20000000)
            ;
        uint64_t ticks = __rdtsc() - start_ticks;
        samples[i] = (double)ticks * 1e6 / (double)(now - start_ns);
    }
    printf("%.0f\n", bench_median(samples, 5));
    return 0;
}
