// RamFSGuestBench: the RamFS benchmark workload (Benchmarks/RamFSWorkload) inside a booted image, for reference
// beside the host numbers of RamFSBench. Prints BENCH lines (medians of the runs given as the first argument).
//
//   swift run unikernel build RamFSGuestBench
//   swift run unikernel run .build-guest/x86_64-unknown-none-elf/release/RamFSGuestBench --memory 512 --append 5
import Interfaces
import RamFS
import RamFSWorkload
import Runtime

let runs = System.arguments.first.flatMap { Int($0) } ?? 5
let workload = RamFSWorkload()
var samples: [RamFSTimings] = []
for _ in 0..<runs {
    let fs = RamFS(configuration: .init(memoryLimit: 256 << 20))
    do throws(FileSystemError) {
        samples.append(try workload.run(on: fs) { System.now.nanoseconds })
    } catch {
        print("RamFSGuestBench: " + error.description)
        System.exit(.failure)
    }
}

func median(_ values: [UInt64]) -> UInt64 { values.sorted()[values.count / 2] }
func perSecond(_ count: Int, _ nanoseconds: UInt64) -> UInt64 { UInt64(count) * 1_000_000_000 / max(nanoseconds, 1) }
func megabytesPerSecond(_ bytes: Int, _ nanoseconds: UInt64) -> UInt64 {
    UInt64(bytes) * 1_000_000_000 / max(nanoseconds, 1) / 1_000_000
}

print("BENCH ramfs_small_create_per_s \(perSecond(workload.smallFiles, median(samples.map { $0.create }))) ops/s")
print("BENCH ramfs_small_read_per_s \(perSecond(workload.smallFiles, median(samples.map { $0.read }))) ops/s")
print("BENCH ramfs_small_unlink_per_s \(perSecond(workload.smallFiles, median(samples.map { $0.unlink }))) ops/s")
print("BENCH ramfs_large_write_MBps \(megabytesPerSecond(workload.largeSize, median(samples.map { $0.largeWrite }))) MB/s")
print("BENCH ramfs_large_overwrite_MBps \(megabytesPerSecond(workload.largeSize, median(samples.map { $0.largeOverwrite }))) MB/s")
print("BENCH ramfs_large_read_MBps \(megabytesPerSecond(workload.largeSize, median(samples.map { $0.largeRead }))) MB/s")
