#if os(Linux)
import Glibc

/// What a finished command left behind.
public struct CommandResult: Equatable, Sendable {
    /// The exit status; 128 + N when a signal N ended it; `HostCommand.timedOutStatus` when it was killed
    /// because its time ran out; 127 when it could not be started.
    public var status: Int32
    /// Standard output and standard error, interleaved as written.
    public var output: String

    /// Whether the status is 0.
    public var succeeded: Bool { status == 0 }
}

/// Runs host commands (`ip`, `tc`, ...) with `posix_spawnp`, capturing their output, without Foundation.
public enum HostCommand {
    /// The status reported for a command killed after its timeout (as coreutils `timeout` reports it).
    public static let timedOutStatus: Int32 = 124

    /// Runs `arguments` (the first is looked up on `PATH`) and waits for it to finish, at most `timeout` (nil:
    /// no limit); a command still running then is killed with SIGKILL. Output is read until the command's
    /// standard output closes (a background grandchild that keeps it open is waited for, up to the timeout).
    public static func run(_ arguments: [String], timeout: Duration? = .seconds(60)) -> CommandResult {
        guard !arguments.isEmpty else { return CommandResult(status: 127, output: "no command") }
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else { return CommandResult(status: 127, output: "pipe failed: errno \(errno)") }
        // Close-on-exec, so that commands started concurrently by other threads do not inherit this pipe.
        for fd in pipeFDs { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 2)
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        argv.append(nil)
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, argv[0]!, &actions, nil, argv, environ)
        Glibc.close(pipeFDs[1])
        guard spawned == 0 else {
            Glibc.close(pipeFDs[0])
            return CommandResult(status: 127, output: "cannot start " + arguments[0] + ": errno \(spawned)")
        }
        let deadline = timeout.map { monotonicNow() + $0 }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        var timedOut = false
        reading: while true {
            var wait: Duration? = nil
            if let deadline {
                wait = deadline - monotonicNow()
                if wait! <= .zero { timedOut = true; break reading }
            }
            guard HostPoll.waitForReadable([pipeFDs[0]], timeout: wait) != nil else { continue }
            let n = buffer.withUnsafeMutableBytes { read(pipeFDs[0], $0.baseAddress, $0.count) }
            if n > 0 { output += buffer[0..<n] } else if n == 0 || errno != EINTR { break reading }
        }
        Glibc.close(pipeFDs[0])
        if timedOut { kill(pid, SIGKILL) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = String(decoding: output, as: UTF8.self)
        if timedOut { return CommandResult(status: timedOutStatus, output: text) }
        return CommandResult(status: decode(waitStatus: status), output: text)
    }

    /// Runs `arguments` and throws `.commandFailed` unless it exits with status 0; returns its output.
    @discardableResult
    public static func check(_ arguments: [String], timeout: Duration? = .seconds(60)) throws(HostNetworkingError)
        -> String
    {
        let result = run(arguments, timeout: timeout)
        guard result.succeeded else {
            throw .commandFailed(command: arguments.joined(separator: " "), status: result.status,
                                 output: result.output)
        }
        return result.output
    }

    /// Whether `name` is an executable on `PATH`.
    public static func isInstalled(_ name: String) -> Bool {
        guard let path = getenv("PATH").map({ String(cString: $0) }) else { return false }
        for directory in path.split(separator: ":") where access(directory + "/" + name, X_OK) == 0 { return true }
        return false
    }

    /// The exit status `waitpid` reported, as a shell would: the exit code, or 128 + the signal number.
    static func decode(waitStatus status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}

/// The host's monotonic clock as a `Duration` since an arbitrary origin.
func monotonicNow() -> Duration {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return .seconds(ts.tv_sec) + .nanoseconds(ts.tv_nsec)
}
#endif
