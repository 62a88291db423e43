import Interfaces
import Runtime
import Testing

@testable import Scheduler

@Suite struct RingQueueTests {
    /// Capacities that are not powers of two are rounded up (the ring wraps with a mask).
    @Test(arguments: [0, 1, 2, 3, 5, 64])
    func behavesLikeADeque(capacity: Int) {
        var q = RingQueue<Int>(capacity: capacity)
        var model: [Int] = []
        let entropy = SeededEntropy(seed: 3)
        for step in 0..<10_000 {
            let r = entropy.next64() % 5
            switch r {
            case 0, 1: q.append(step); model.append(step)
            case 2: q.prepend(step); model.insert(step, at: 0)
            case 3:
                let popped = q.popFirst()
                #expect(popped == (model.isEmpty ? nil : model.removeFirst()))
            default:
                let target = model.isEmpty ? -1 : model[Int(entropy.next64() % UInt64(model.count))]
                let removed = q.removeFirst { $0 == target }
                if let i = model.firstIndex(of: target) { model.remove(at: i); #expect(removed) } else { #expect(!removed) }
            }
            #expect(q.count == model.count)
            #expect(q.first == model.first)
        }
        var drained: [Int] = []
        q.forEach { drained.append($0) }
        #expect(drained == model)
    }
}

@Suite struct TimerQueueTests {
    @Test func firesInDeadlineOrderWithTiesInScheduleOrder() {
        var q = TimerQueue<String>()
        _ = q.schedule(at: Instant(nanoseconds: 30), "c")
        _ = q.schedule(at: Instant(nanoseconds: 10), "a1")
        _ = q.schedule(at: Instant(nanoseconds: 10), "a2")
        _ = q.schedule(at: Instant(nanoseconds: 20), "b")
        let first = q.nextDeadline()
        #expect(first == Instant(nanoseconds: 10))
        let early = q.popExpired(now: Instant(nanoseconds: 5))
        #expect(early == nil)
        var fired: [String] = []
        while let (_, a) = q.popExpired(now: Instant(nanoseconds: 100)) { fired.append(a) }
        #expect(fired == ["a1", "a2", "b", "c"])
        let none = q.nextDeadline()
        #expect(q.count == 0 && none == nil)
    }

    @Test func cancellationAndPeriodicTimers() {
        var q = TimerQueue<Int>()
        let one = q.schedule(at: Instant(nanoseconds: 50), 1)
        let periodic = q.schedule(at: Instant(nanoseconds: 100), repeating: .nanoseconds(100), 2)
        let c1 = q.cancel(one), c2 = q.cancel(one)
        #expect(c1 && !c2)
        #expect(!q.isScheduled(one) && q.isScheduled(periodic))
        let f1 = q.popExpired(now: Instant(nanoseconds: 100))?.action
        let d1 = q.nextDeadline()
        #expect(f1 == 2 && d1 == Instant(nanoseconds: 200))
        // Missed periods are skipped, not fired in a burst.
        let f2 = q.popExpired(now: Instant(nanoseconds: 750))?.action
        let d2 = q.nextDeadline()
        #expect(f2 == 2 && d2 == Instant(nanoseconds: 800))
        let c3 = q.cancel(periodic)
        let d3 = q.nextDeadline()
        #expect(c3 && d3 == nil)
    }

    /// Random schedules and cancellations against a sorted-list model.
    @Test func matchesAModel() {
        var q = TimerQueue<Int>()
        var model: [(deadline: UInt64, seq: Int, id: TimerID)] = []
        let entropy = SeededEntropy(seed: 11)
        var now: UInt64 = 0
        var seq = 0
        for _ in 0..<20_000 {
            let r = entropy.next64()
            switch r % 4 {
            case 0, 1:
                let d = now + r % 1000
                let id = q.schedule(at: Instant(nanoseconds: d), seq)
                model.append((d, seq, id))
                seq += 1
            case 2 where !model.isEmpty:
                let i = Int(r >> 8) % model.count
                let cancelled = q.cancel(model[i].id)
                #expect(cancelled)
                model.remove(at: i)
            default:
                now += r % 300
                let due = model.filter { $0.deadline <= now }.sorted { ($0.deadline, $0.seq) < ($1.deadline, $1.seq) }
                for expected in due {
                    let fired = q.popExpired(now: Instant(nanoseconds: now))?.action
                    #expect(fired == expected.seq)
                }
                let extra = q.popExpired(now: Instant(nanoseconds: now))
                #expect(extra == nil)
                model.removeAll { $0.deadline <= now }
            }
            #expect(q.count == model.count)
        }
    }
}

/// Runs `body` as the boot thread of a fresh thread system on host threads with a manual clock.
func withThreads(policy: any Scheduler = RoundRobinScheduler(), _ body: (ThreadSystem, ManualClock) -> Void) {
    withThreads(policy: policy) { system, clock, _ in body(system, clock) }
}

/// `withThreads`, also handing `body` the host platform (to count timer armings).
func withThreads(policy: any Scheduler = RoundRobinScheduler(),
                 _ body: (ThreadSystem, ManualClock, HostThreadPlatform) -> Void) {
    let clock = ManualClock(start: Instant(nanoseconds: 1_000_000))
    let platform = HostThreadPlatform(clock: clock)
    let system = ThreadSystem(platform: platform, policy: policy)
    ThreadSystem.install(system)
    body(system, clock, platform)
    ThreadSystem.install(nil)
}

@Suite(.serialized) struct ThreadSystemTests {
    @Test func spawnedThreadsRunInFIFOOrderWhenTheBootThreadYields() {
        withThreads { system, _ in
            var order: [String] = []
            let a = Thread.spawn(name: "a") { order.append("a1"); Thread.yield(); order.append("a2") }
            let b = Thread.spawn(name: "b") { order.append("b1"); Thread.yield(); order.append("b2") }
            #expect(system.threadCount == 3)
            a.join()
            b.join()
            #expect(order == ["a1", "b1", "a2", "b2"])
            #expect(system.threadCount == 1)
            #expect(system.statistics.created == 3 && system.statistics.reaped == 2)
        }
    }

    @Test func sleepersWakeInDeadlineOrderAtTheirDeadlines() {
        withThreads { system, clock in
            var woke: [(String, UInt64)] = []
            var threads: [Thread] = []
            for (name, ms) in [("slow", 30), ("fast", 10), ("middle", 20)] {
                threads.append(Thread.spawn(name: name) {
                    Thread.sleep(for: .milliseconds(ms))
                    woke.append((name, clock.now.nanoseconds))
                })
            }
            for t in threads { t.join() }
            #expect(woke.map(\.0) == ["fast", "middle", "slow"])
            #expect(woke.map(\.1) == [11_000_000, 21_000_000, 31_000_000])
        }
    }

    @Test func theTimerIsArmedOnlyForAnEarlierDeadlineAndSleepersStillWakeOnTime() {
        withThreads { _, clock, platform in
            var woke: [(String, UInt64)] = []
            var threads: [Thread] = []
            // Run in this order: "late" arms 31 ms; "later" (51 ms) leaves that armed; "early" (11 ms) re-arms.
            for (name, ms) in [("late", 30), ("later", 50), ("early", 10)] {
                threads.append(Thread.spawn(name: name) {
                    Thread.sleep(for: .milliseconds(ms))
                    woke.append((name, clock.now.nanoseconds))
                })
            }
            for t in threads { t.join() }
            #expect(woke.map(\.0) == ["early", "late", "later"])
            #expect(woke.map(\.1) == [11_000_000, 31_000_000, 51_000_000])
            // 31, 11, then after each firing the next deadline (31, 51); nothing after the last, and no
            // cancellation when the timers ran out.
            #expect(platform.timerArmings == 4)
        }
    }

    @Test func waitsWokenBeforeTheirTimeoutDoNotReArmTheTimer() {
        withThreads { _, clock, platform in
            // Like a network thread: it waits with a timeout, and an event wakes it first, again and again.
            let semaphore = Semaphore(value: 0)
            let deadline = clock.now + .milliseconds(20)
            var woken = 0
            let waiter = Thread.spawn(name: "waiter") {
                for _ in 0..<50 where semaphore.wait(until: deadline) { woken += 1 }
            }
            let poster = Thread.spawn(name: "poster") {
                for _ in 0..<50 {
                    semaphore.signal()
                    Thread.yield()
                }
            }
            waiter.join()
            poster.join()
            #expect(woken == 50)
            // Armed once, for the first wait; each cancelled timeout leaves it, and each new wait with the same
            // deadline finds it armed. (Cancelling and re-arming every time made this 100.)
            #expect(platform.timerArmings == 1)
        }
    }

    @Test func channelsPingPongWithTheRightTotals() {
        withThreads { _, _ in
            let pairs = 20, messages = 200
            var totals = [Int](repeating: 0, count: pairs)
            var threads: [Thread] = []
            for p in 0..<pairs {
                let ping = Channel<Int>(capacity: 1), pong = Channel<Int>(capacity: 1)
                threads.append(Thread.spawn(name: "ping\(p)") {
                    for i in 0..<messages {
                        ping.send(i)
                        totals[p] += pong.receive()!
                    }
                    ping.close()
                })
                threads.append(Thread.spawn(name: "pong\(p)") {
                    while let v = ping.receive() { pong.send(v * 2) }
                })
            }
            for t in threads { t.join() }
            #expect(totals.allSatisfy { $0 == messages * (messages - 1) })
        }
    }

    @Test func mutexesExcludeAndHandOffInFIFOOrder() {
        withThreads { _, _ in
            let mutex = Mutex()
            var inside = 0, maxInside = 0, counter = 0
            var acquisitions: [Int] = []
            var threads: [Thread] = []
            for n in 0..<5 {
                threads.append(Thread.spawn(name: "worker\(n)") {
                    for _ in 0..<50 {
                        mutex.lock()
                        inside += 1
                        maxInside = max(maxInside, inside)
                        acquisitions.append(n)
                        Thread.yield()  // let the others pile up on the mutex
                        counter += 1
                        inside -= 1
                        mutex.unlock()
                    }
                })
            }
            for t in threads { t.join() }
            #expect(maxInside == 1)
            #expect(counter == 250)
            #expect(Array(acquisitions.prefix(10)) == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4], "hand-off in FIFO order")
            #expect(!mutex.isLocked)
        }
    }

    @Test func conditionVariablesAndSemaphores() {
        withThreads { _, clock in
            let mutex = Mutex(), ready = Condition()
            var flag = false
            let waiter = Thread.spawn(name: "waiter") {
                mutex.lock()
                while !flag { ready.wait(mutex) }
                mutex.unlock()
            }
            Thread.yield()
            mutex.lock(); flag = true; ready.signal(); mutex.unlock()
            waiter.join()

            let semaphore = Semaphore(value: 0)
            var got = 0
            let consumers = (0..<3).map { i in Thread.spawn(name: "c\(i)") { if semaphore.wait() { got += 1 } } }
            Thread.yield()
            for _ in 0..<3 { semaphore.signal() }
            for c in consumers { c.join() }
            #expect(got == 3 && semaphore.available == 0)

            // Timed waits time out at their deadline.
            let start = clock.now
            #expect(!semaphore.wait(until: start + .milliseconds(5)))
            #expect(clock.now == start + .milliseconds(5))
            let empty = Channel<Int>(capacity: 2)
            #expect(empty.receive(until: clock.now + .milliseconds(1)) == nil)
        }
    }

    @Test func timersFireAndCancel() {
        withThreads { system, clock in
            var ticks = 0, once = 0
            let periodic = Timer.every(.milliseconds(2)) { ticks += 1 }
            let cancelled = Timer.after(.milliseconds(3)) { once += 100 }
            Timer.after(.milliseconds(1)) { once += 1 }
            #expect(cancelled.cancel())
            Thread.sleep(for: .milliseconds(7))  // periodic at 2, 4, 6
            #expect(periodic.cancel())
            #expect(ticks == 3 && once == 1)
            _ = system
            _ = clock
        }
    }

    @Test func detachedThreadsAreReapedAndRecordsReused() {
        withThreads { system, _ in
            for i in 0..<1000 {
                let t = Thread.spawn(name: "d\(i)") {}
                if i % 2 == 0 { t.detach() } else { t.join() }
            }
            Thread.yield()
            Thread.yield()
            #expect(system.threadCount == 1)
            #expect(system.statistics.reaped == 1000)
        }
    }

    @Test func guardPagesAndStacksNameTheirThread() {
        withThreads { system, _ in
            var stackAddress: UInt64 = 0
            let t = Thread.spawn(name: "named") { Thread.yield() }
            Thread.yield()
            for i in 0..<4 where system.name(of: ThreadID(index: i, generation: 0)) == "named" {
                stackAddress = 1
            }
            #expect(stackAddress == 1)
            #expect(system.thread(owningGuardPage: 0x7000_0000 - 4096) == "named")
            #expect(system.thread(owningStackAddress: 0x7000_0000 + 100) == "named")
            t.join()
        }
    }

    @Test func joinErrors() {
        withThreads { system, _ in
            #expect(throws: ThreadError.joinSelf) { try system.join(system.currentID) }
            #expect(throws: ThreadError.noSuchThread) { try system.join(ThreadID(index: 40, generation: 0)) }
        }
    }
}

@Suite struct ThreadIDTests {
    @Test func descriptionIsIndexDotGeneration() {
        #expect(ThreadID(index: 0, generation: 0).description == "#0.0")
        #expect(ThreadID(index: 12, generation: 3).description == "#12.3")
        #expect(ThreadID(index: 1, generation: UInt32.max).description == "#1.4294967295")
    }
}
