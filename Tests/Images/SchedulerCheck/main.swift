// SchedulerCheck: boot-test and benchmark image for interrupts, timers and threads. The first command-line
// argument names a scenario; Tests/GuestTests/SchedulerBootTests.swift runs them in QEMU.
import Hardware
import Interfaces
import Memory
import Runtime
import Scheduler

let arguments = System.arguments
let scenario = arguments.first ?? "pingpong"
func argument(_ i: Int, _ fallback: Int) -> Int { arguments.count > i ? Int(arguments[i]) ?? fallback : fallback }

/// Median of a list of samples.
func median(_ xs: [UInt64]) -> UInt64 { xs.sorted()[xs.count / 2] }

/// Nanoseconds from TSC ticks.
func nanoseconds(_ ticks: UInt64) -> UInt64 { ticks * 1_000_000_000 / System.tscFrequency! }

/// `threads` threads in pairs; each pair ping-pongs `messages` messages through two channels. Totals are checked.
func pingPong(threads: Int, messages: Int) {
    let pairs = threads / 2
    var totals = [Int](repeating: 0, count: pairs)
    var all: [Thread] = []
    let start = System.now
    for p in 0..<pairs {
        let ping = Channel<Int>(capacity: 1), pong = Channel<Int>(capacity: 1)
        all.append(Thread.spawn(name: "ping-\(p)", stackSize: 16 * 1024) {
            for i in 0..<messages {
                ping.send(i)
                totals[p] += pong.receive()!
            }
            ping.close()
        })
        all.append(Thread.spawn(name: "pong-\(p)", stackSize: 16 * 1024) {
            while let v = ping.receive() { pong.send(v + 1) }
        })
    }
    for t in all { t.join() }
    let expected = messages * (messages + 1) / 2
    let wrong = totals.filter { $0 != expected }.count
    print("pingpong: \(pairs * 2) threads, \(messages) messages each way per pair, \((System.now - start).millisecondsClamped) ms")
    print("pingpong: \(pairs - wrong)/\(pairs) pairs with the right total \(expected); switches \(ThreadSystem.current.statistics.switches)")
    if wrong != 0 { System.exit(.failure) }
}

/// Sleeps of 1 ... 20 ms in several threads at once; prints the distribution of lateness past each deadline.
func sleepAccuracy(samplesPerThread: Int) {
    var lateness: [UInt64] = []
    var threads: [Thread] = []
    for n in 0..<4 {
        threads.append(Thread.spawn(name: "sleeper-\(n)") {
            for i in 0..<samplesPerThread {
                let deadline = System.now + .milliseconds((i * 7 + n * 3) % 20 + 1)
                Thread.sleep(until: deadline)
                lateness.append(System.now.nanoseconds &- deadline.nanoseconds)
            }
        })
    }
    for t in threads { t.join() }
    let sorted = lateness.sorted()
    func us(_ v: UInt64) -> UInt64 { v / 1000 }
    print("sleep: \(sorted.count) sleeps, lateness min \(us(sorted.first!)) us, median \(us(sorted[sorted.count / 2])) us, "
          + "p99 \(us(sorted[sorted.count * 99 / 100])) us, max \(us(sorted.last!)) us")
    let early = lateness.filter { $0 > 1 << 63 }.count
    print("sleep: woke early \(early) times; within 2 ms: \(sorted.filter { $0 <= 2_000_000 }.count)/\(sorted.count)")
}

/// A thread that spins without yielding for about `milliseconds`, and one that counts while it spins.
func spinner(milliseconds: Int) {
    var otherRanWhileSpinning = 0
    var spinning = true
    let spin = Thread.spawn(name: "spinner") {
        let end = CPU.readTSC() + UInt64(milliseconds) * System.tscFrequency! / 1000
        while CPU.readTSC() < end { CPU.pause() }
        spinning = false
    }
    let counter = Thread.spawn(name: "counter") {
        while true {
            if withUnsafeMutablePointer(to: &spinning, { $0.pointee }) { otherRanWhileSpinning += 1 } else { break }
            Thread.yield()
            if otherRanWhileSpinning > 1_000_000 { break }
        }
    }
    spin.join()
    counter.join()
    print("spin: policy \(ThreadSystem.current.policy.name); the other thread ran \(otherRanWhileSpinning) times while the spinner spun; preemptions \(ThreadSystem.current.statistics.preemptions)")
}

@inline(never)
func touch(_ p: UnsafeMutableRawPointer, _ value: Int) { p.storeBytes(of: value, as: Int.self) }

@inline(never)
func recurse(_ depth: Int) -> Int {
    var frame = (depth, depth &+ 1, depth &+ 2, depth &+ 3)
    let below = depth < Int.max ? recurse(depth &+ 1) : 0
    withUnsafeMutableBytes(of: &frame) { touch($0.baseAddress!, below) }
    return frame.0
}

/// Creates and joins `cycles` threads; heap bytes in use must come back to the baseline.
func churn(cycles: Int) {
    Thread.spawn(name: "warm-up") {}.join()
    let before = System.heapStatistics!
    let start = System.now
    for i in 0..<cycles {
        let t = Thread.spawn(name: "t") { if i < 0 { print("never") } }
        t.join()
    }
    let after = System.heapStatistics!
    print("churn: \(cycles) create/join cycles in \((System.now - start).millisecondsClamped) ms; heap bytes in use \(before.bytesInUse) -> \(after.bytesInUse), live allocations \(before.liveAllocations) -> \(after.liveAllocations)")
    print("churn: threads alive \(ThreadSystem.current.threadCount), free memory \(System.memory!.freeBytes)")
    if after.bytesInUse != before.bytesInUse { System.exit(.failure) }
}

/// Context-switch and create+join costs, TSC-timed, medians of batches (machine-readable BENCH lines).
func benchmark() {
    let rounds = 2000
    var switchSamples: [UInt64] = []
    for _ in 0..<9 {
        let a = Channel<Int>(capacity: 1), b = Channel<Int>(capacity: 1)
        let peer = Thread.spawn(name: "peer") { while let v = a.receive() { b.send(v) } }
        let start = CPU.readTSC()
        for i in 0..<rounds { a.send(i); _ = b.receive() }
        let ticks = CPU.readTSC() - start
        a.close()
        peer.join()
        switchSamples.append(nanoseconds(ticks) / UInt64(rounds * 2))  // two switches per round trip
    }
    var semaphoreSamples: [UInt64] = []
    for _ in 0..<9 {
        let ping = Semaphore(value: 0), pong = Semaphore(value: 0)
        var running = true
        let peer = Thread.spawn(name: "peer") { while true { ping.wait(); if !running { break }; pong.signal() } }
        let start = CPU.readTSC()
        for _ in 0..<rounds { ping.signal(); pong.wait() }
        let ticks = CPU.readTSC() - start
        running = false
        ping.signal()
        peer.join()
        semaphoreSamples.append(nanoseconds(ticks) / UInt64(rounds * 2))
    }
    var yieldSamples: [UInt64] = []
    for _ in 0..<9 {
        var stop = false
        let other = Thread.spawn(name: "yielder") { while !stop { Thread.yield() } }
        Thread.yield()
        let start = CPU.readTSC()
        for _ in 0..<rounds { Thread.yield() }
        let ticks = CPU.readTSC() - start
        stop = true
        other.join()
        yieldSamples.append(nanoseconds(ticks) / UInt64(rounds * 2))
    }
    var createSamples: [UInt64] = []
    for _ in 0..<9 {
        let n = 500
        let start = CPU.readTSC()
        for _ in 0..<n { Thread.spawn(name: "c") {}.join() }
        createSamples.append(nanoseconds(CPU.readTSC() - start) / UInt64(n))
    }
    print("BENCH context_switch_ns \(median(switchSamples)) ns")
    print("BENCH semaphore_switch_ns \(median(semaphoreSamples)) ns")
    print("BENCH yield_switch_ns \(median(yieldSamples)) ns")
    print("BENCH create_join_ns \(median(createSamples)) ns")
}

switch scenario {
case "pingpong":
    pingPong(threads: argument(1, 1000), messages: argument(2, 1000))
case "sleep":
    sleepAccuracy(samplesPerThread: argument(1, 50))
case "spin-preemptive":
    System.use(scheduler: TimeSliceScheduler(quantum: .milliseconds(5)))
    spinner(milliseconds: argument(1, 200))
case "spin-cooperative":
    spinner(milliseconds: argument(1, 200))
case "overflow":
    let t = Thread.spawn(name: "recursor", stackSize: 16 * 1024) { print(recurse(0)) }
    t.join()
case "deadlock":
    let a = Mutex(), b = Mutex()
    let first = Thread.spawn(name: "first") { a.lock(); Thread.yield(); b.lock() }
    let second = Thread.spawn(name: "second") { b.lock(); Thread.yield(); a.lock() }
    first.join()
    second.join()
    print("not reached")
case "churn":
    churn(cycles: argument(1, 100_000))
case "timer":
    var fired = 0
    let start = System.now
    let t = Timer.every(.milliseconds(2)) { fired += 1 }
    Thread.sleep(for: .milliseconds(21))
    t.cancel()
    let after = fired
    let elapsed = (System.now - start).microsecondsClamped
    Thread.sleep(for: .milliseconds(10))
    print("timer: periodic fired \(after) times in \(elapsed) us, \(fired - after) after cancel")
case "bench":
    benchmark()
default:
    print("SchedulerCheck: unknown scenario '\(scenario)'")
    System.exit(.failure)
}
