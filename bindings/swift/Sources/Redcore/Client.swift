// The client: `async throws` methods over the C API's callbacks. Each call hands the library
// a retained box holding its continuation as `userdata`; the C callback (which runs once, on
// a library thread) takes the box back and resumes the continuation with a Swift copy of the
// reply or the error. A cancelled task resumes at once with CancellationError; the late
// result is then dropped by the box, which resumes only once.
//
// NOT COMPILED: no Swift toolchain exists where this package is tested (see README.md).

import CRedcore
import Foundation

/// A Redis / Valkey client. Sendable: the C client it wraps is thread-safe (its handle is
/// never mutated after init), so one client serves any number of tasks.
public final class Client: @unchecked Sendable {
    private let handle: OpaquePointer

    /// Connects to `url` (redis://user:pass@host:port/db, rediss://..., unix:///path) and
    /// waits for the first connection.
    public init(url: String) throws {
        var config: OpaquePointer?
        var error: OpaquePointer?
        let parsed = redcore_config_from_url(url, &config, &error)
        guard parsed == REDCORE_OK, let config = config else {
            throw RedcoreError(code: parsed, owned: error)
        }
        defer { redcore_config_free(config) }
        var client: OpaquePointer?
        let created = redcore_client_new(config, &client, &error)
        guard created == REDCORE_OK, let client = client else {
            throw RedcoreError(code: created, owned: error)
        }
        handle = client
    }

    /// Closes the client; pending calls fail with `RedcoreError.closed`.
    deinit {
        redcore_client_free(handle)
    }

    /// Sends a command and returns its reply; a server error reply throws
    /// `RedcoreError.response`.
    public func command(_ args: [[UInt8]]) async throws -> Reply {
        let pending = Pending()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Reply, Error>) in
                pending.set(continuation)
                let userdata = Unmanaged.passRetained(pending).toOpaque()
                var error: OpaquePointer?
                let code = withArgv(args) { argc, argv, lens in
                    redcore_client_command(handle, argc, argv, lens, replyCallback, userdata, &error)
                }
                if code != REDCORE_OK {
                    // The callback will not run: take the box back here.
                    Unmanaged<Pending>.fromOpaque(userdata).release()
                    pending.resume(with: .failure(RedcoreError(code: code, owned: error)))
                }
            }
        } onCancel: {
            pending.resume(with: .failure(CancellationError()))
        }
    }

    /// `command` with text arguments: `try await client.command("SET", "k", "v")`.
    public func command(_ args: String...) async throws -> Reply {
        try await command(args.map { Array($0.utf8) })
    }

    /// The value at `key`, nil when there is none.
    public func get(_ key: String) async throws -> String? {
        try await command("GET", key).text
    }

    /// Sets `key` to `value`.
    public func set(_ key: String, _ value: String) async throws {
        _ = try await command("SET", key, value)
    }
}

/// The continuation of one call, resumed exactly once: by the C callback, by cancellation,
/// or by a failed submission, whichever comes first.
private final class Pending: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<Reply, Error>?
    private var early: Result<Reply, Error>?

    func set(_ c: CheckedContinuation<Reply, Error>) {
        lock.lock()
        if let early = early {
            lock.unlock()
            c.resume(with: early)
            return
        }
        continuation = c
        lock.unlock()
    }

    func resume(with result: Result<Reply, Error>) {
        lock.lock()
        guard let c = continuation else {
            if early == nil { early = result } // cancelled before the continuation was set
            lock.unlock()
            return
        }
        continuation = nil
        lock.unlock()
        c.resume(with: result)
    }
}

/// The C callback of every command: runs once on a library thread with the reply or the
/// error, both borrowed until it returns (so they are copied here).
private let replyCallback: redcore_callback = { userdata, reply, error in
    guard let userdata = userdata else { return }
    let pending = Unmanaged<Pending>.fromOpaque(userdata).takeRetainedValue()
    if let reply = reply {
        pending.resume(with: .success(Reply(borrowing: reply)))
    } else if let error = error {
        pending.resume(with: .failure(RedcoreError(borrowing: error)))
    }
}

/// Calls `body` with the arguments as the C API takes them: count, pointers, lengths.
private func withArgv<R>(
    _ args: [[UInt8]],
    _ body: (Int32, UnsafePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R
) -> R {
    var flat: [UInt8] = []
    var offsets: [Int] = []
    var lens: [Int] = []
    for arg in args {
        offsets.append(flat.count)
        lens.append(arg.count)
        flat.append(contentsOf: arg)
    }
    flat.append(0) // never empty, so the buffer has an address
    return flat.withUnsafeBufferPointer { bytes in
        let base = UnsafeRawPointer(bytes.baseAddress!)
        let pointers: [UnsafePointer<CChar>?] = offsets.map {
            base.advanced(by: $0).assumingMemoryBound(to: CChar.self)
        }
        return pointers.withUnsafeBufferPointer { argv in
            lens.withUnsafeBufferPointer { argvlen in
                body(Int32(args.count), argv.baseAddress!, argvlen.baseAddress!)
            }
        }
    }
}
