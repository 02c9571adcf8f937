// Errors as a Swift enum that follows redcore's error hierarchy (redis-py's): one case per
// branch of the tree, each with the exact code and the message, and `isA(_:)` to ask along
// the hierarchy ("is this a connection error?") the way `errors.Is` does in Go.
//
// NOT COMPILED: no Swift toolchain exists where this package is tested (see README.md).

import CRedcore

/// A redcore error code (`redcore_error_code` in C). The numbers are stable.
public struct ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let redis = ErrorCode(rawValue: 1)
    public static let connection = ErrorCode(rawValue: 2)
    public static let timeout = ErrorCode(rawValue: 3)
    public static let authentication = ErrorCode(rawValue: 4)
    public static let response = ErrorCode(rawValue: 11)
    public static let noScript = ErrorCode(rawValue: 12)
    public static let execAbort = ErrorCode(rawValue: 14)
    public static let noPermission = ErrorCode(rawValue: 16)
    public static let moved = ErrorCode(rawValue: 22)
    public static let cluster = ErrorCode(rawValue: 23)
    public static let data = ErrorCode(rawValue: 26)
    public static let pubsub = ErrorCode(rawValue: 27)
    public static let watch = ErrorCode(rawValue: 28)
    public static let lock = ErrorCode(rawValue: 30)
    public static let clusterException = ErrorCode(rawValue: 32)
    public static let invalidArgument = ErrorCode(rawValue: 36)
    public static let closed = ErrorCode(rawValue: 37)
    public static let tls = ErrorCode(rawValue: 38)
    public static let internalError = ErrorCode(rawValue: 40)
    public static let cancelled = ErrorCode(rawValue: 41)

    /// The code's name as in C without its prefix ("NO_SCRIPT").
    public var description: String { String(cString: redcore_error_code_name(rawValue)) }

    /// True when this code is `ancestor` or descends from it (AUTHENTICATION is a
    /// CONNECTION error; MOVED is an ASK, RESPONSE and REDIS error).
    public func isA(_ ancestor: ErrorCode) -> Bool {
        redcore_error_code_is(rawValue, ancestor.rawValue)
    }
}

/// Every failure the wrapper throws, by branch of the hierarchy.
public enum RedcoreError: Error, Sendable, CustomStringConvertible {
    /// CONNECTION and what descends from it: AUTHENTICATION, TLS, MAX_CONNECTIONS, ...
    case connection(code: ErrorCode, message: String)
    /// TIMEOUT: a command or connection attempt took too long (not a connection error).
    case timeout(message: String)
    /// RESPONSE and its descendants: the server answered with an error (NOSCRIPT, ...).
    case response(code: ErrorCode, message: String)
    /// CLUSTER and its descendants: cluster retries exhausted, CLUSTERDOWN.
    case cluster(code: ErrorCode, message: String)
    /// The caller's mistake: a bad URL, option or argument (INVALID_ARGUMENT, DATA).
    case invalidArgument(code: ErrorCode, message: String)
    /// The client was closed before the command completed.
    case closed(message: String)
    /// Any other code (WATCH, LOCK, PROTOCOL, INTERNAL, ...).
    case other(code: ErrorCode, message: String)

    /// The exact code.
    public var code: ErrorCode {
        switch self {
        case .connection(let code, _), .response(let code, _), .cluster(let code, _),
             .invalidArgument(let code, _), .other(let code, _):
            return code
        case .timeout:
            return .timeout
        case .closed:
            return .closed
        }
    }

    /// The message (for server errors, the server's full text).
    public var message: String {
        switch self {
        case .connection(_, let m), .response(_, let m), .cluster(_, let m),
             .invalidArgument(_, let m), .other(_, let m), .timeout(let m), .closed(let m):
            return m
        }
    }

    /// True when the error's code is `ancestor` or descends from it.
    public func isA(_ ancestor: ErrorCode) -> Bool { code.isA(ancestor) }

    public var description: String { "\(code): \(message)" }

    init(code: ErrorCode, message: String) {
        if code.isA(.connection) {
            self = .connection(code: code, message: message)
        } else if code == .timeout {
            self = .timeout(message: message)
        } else if code.isA(.cluster) {
            self = .cluster(code: code, message: message)
        } else if code.isA(.response) {
            self = .response(code: code, message: message)
        } else if code == .invalidArgument || code == .data {
            self = .invalidArgument(code: code, message: message)
        } else if code == .closed {
            self = .closed(message: message)
        } else {
            self = .other(code: code, message: message)
        }
    }

    /// The error behind a borrowed C error.
    init(borrowing error: OpaquePointer) {
        self.init(code: ErrorCode(rawValue: Int32(bitPattern: redcore_error_get_code(error).rawValue)),
                  message: String(cString: redcore_error_message(error)))
    }

    /// The error of a failed C call: from its owned C error (freed here) or its code alone.
    init(code: redcore_error_code, owned error: OpaquePointer?) {
        if let error = error {
            self.init(borrowing: error)
            redcore_error_free(error)
        } else {
            self.init(code: ErrorCode(rawValue: Int32(bitPattern: code.rawValue)), message: "")
        }
    }
}
