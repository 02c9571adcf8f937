// Replies as a Swift value, copied out of the library's reply in one call
// (redcore_reply_items writes the whole reply as flat items, depth first).
//
// NOT COMPILED: no Swift toolchain exists where this package is tested (see README.md).

import CRedcore

/// One reply of any RESP2/RESP3 type.
public indirect enum Reply: Sendable, Equatable {
    case simple(String)
    case bulk([UInt8])
    case integer(Int64)
    case double(Double)
    case boolean(Bool)
    case bigNumber(String)
    case verbatim(String)
    case null
    case array([Reply])
    case set([Reply])
    case push([Reply])
    /// Keys and values in the server's order.
    case map([MapEntry])
    /// An error value inside an aggregate (an EXEC or script result).
    case error(code: ErrorCode, message: String)

    /// A map's key and value.
    public struct MapEntry: Sendable, Equatable {
        public let key: Reply
        public let value: Reply
    }

    /// The text of a string reply, nil for other types.
    public var text: String? {
        switch self {
        case .simple(let s), .bigNumber(let s), .verbatim(let s):
            return s
        case .bulk(let bytes):
            return String(decoding: bytes, as: UTF8.self)
        default:
            return nil
        }
    }

    /// The value of an integer reply, nil for other types.
    public var integer: Int64? {
        if case .integer(let n) = self { return n }
        return nil
    }

    public var isNull: Bool { self == .null }

    // The item types (REDCORE_REPLY_* in redcore.h; the numbers are stable).
    private enum Kind: UInt8 {
        case simple = 1, error = 2, integer = 3, bulk = 4, null = 5, array = 6, double = 7,
             boolean = 8, bigNumber = 9, verbatim = 10, map = 11, set = 12, attribute = 13,
             push = 14, blobError = 15
    }

    /// A copy of a borrowed C reply.
    init(borrowing reply: OpaquePointer) {
        let count = redcore_reply_items(reply, nil, 0)
        var items = [redcore_item](repeating: redcore_item(), count: count)
        _ = items.withUnsafeMutableBufferPointer { redcore_reply_items(reply, $0.baseAddress, count) }
        var next = 0
        self = Reply.build(items, &next)
    }

    private static func bytes(_ item: redcore_item) -> [UInt8] {
        guard let str = item.str, item.len > 0 else { return [] }
        return str.withMemoryRebound(to: UInt8.self, capacity: item.len) {
            Array(UnsafeBufferPointer(start: $0, count: item.len))
        }
    }

    private static func text(_ item: redcore_item) -> String {
        String(decoding: bytes(item), as: UTF8.self)
    }

    private static func build(_ items: [redcore_item], _ next: inout Int) -> Reply {
        let item = items[next]
        next += 1
        let children = (0..<item.elements).map { _ in build(items, &next) }
        switch Kind(rawValue: item.kind) {
        case .simple: return .simple(text(item))
        case .bulk: return .bulk(bytes(item))
        case .integer: return .integer(item.integer)
        case .double: return .double(item.number)
        case .boolean: return .boolean(item.integer != 0)
        case .bigNumber: return .bigNumber(text(item))
        case .verbatim: return .verbatim(text(item))
        case .array: return .array(children)
        case .set: return .set(children)
        case .push: return .push(children)
        case .map, .attribute:
            return .map(stride(from: 0, to: children.count - 1, by: 2).map {
                MapEntry(key: children[$0], value: children[$0 + 1])
            })
        case .error, .blobError:
            return .error(code: ErrorCode(rawValue: Int32(bitPattern: item.code.rawValue)),
                          message: text(item))
        case .null, .none:
            return .null
        }
    }
}
