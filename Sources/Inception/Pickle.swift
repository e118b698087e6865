/// A minimal reader for Python pickles (protocols 2–4), enough for the `data.pkl` and `constants.pkl`
/// records of PyTorch / TorchScript archives.
///
/// Why our own: the FID Inception weights ship as a TorchScript zip whose tensor data are raw
/// little-endian blobs (`<archive>/data/N`) described by a pickle; reading that pickle is all that
/// stands between the project and the weights, and it needs ~25 opcodes, no code execution.
///
/// What it does: runs the pickle virtual machine over the bytes and returns the resulting object
/// tree as `PickleValue`s. Nothing is imported or called: a `GLOBAL` is kept as a name, a `REDUCE`
/// or `NEWOBJ` becomes an `.instance` recording the callable and its arguments, `BUILD` stores the
/// state on that instance, and `BINPERSID` keeps the persistent id for the caller to resolve (PyTorch
/// uses it for tensor storages). Lists, dicts and instances are reference types, so an object that is
/// memoised and then filled (`EMPTY_DICT`, `BINPUT`, `SETITEMS`) is seen filled through every reference.
/// Unknown opcodes are refused with their offset and byte value.

/// A mutable Python list.
public final class PickleList { public var items: [PickleValue]; init(_ v: [PickleValue] = []) { items = v } }

/// A mutable Python dict; keys keep insertion order (pickles of modules and OrderedDicts rely on it).
public final class PickleDict {
    public var pairs: [(key: PickleValue, value: PickleValue)] = []
    /// The value stored under the string key `k` (the last one, as Python's dict semantics would give).
    public subscript(_ k: String) -> PickleValue? { pairs.last { $0.key.string == k }?.value }
}

/// The result of calling a global (REDUCE) or of `cls.__new__(cls, *args)` (NEWOBJ), never executed.
public final class PickleInstance {
    /// The callable or class, normally `.global(module, name)`.
    public let callable: PickleValue
    public let args: [PickleValue]
    /// The argument of BUILD (`__setstate__` / `__dict__.update`), if any.
    public var state: PickleValue?
    init(callable: PickleValue, args: [PickleValue]) { self.callable = callable; self.args = args }
    /// "module.name" of the callable, or "" when it is not a global.
    public var qualifiedName: String {
        if case let .global(m, n) = callable { return m + "." + n }
        return ""
    }
}

/// A value of the unpickled object tree.
public indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list(PickleList)
    case dict(PickleDict)
    case global(module: String, name: String)
    case instance(PickleInstance)
    /// A persistent id (BINPERSID): the pickled id object, left for the caller to resolve.
    case persistentID(PickleValue)

    public var string: String? { if case .string(let s) = self { return s } else { return nil } }
    public var int: Int? { if case .int(let v) = self { return v } else { return nil } }
    /// The elements of a tuple or list.
    public var sequence: [PickleValue]? {
        switch self {
        case .tuple(let v): return v
        case .list(let l): return l.items
        default: return nil
        }
    }
    /// A tuple or list of ints.
    public var ints: [Int]? {
        guard let s = sequence else { return nil }
        let v = s.compactMap(\.int)
        return v.count == s.count ? v : nil
    }

    /// A short description for error messages ("int 3", "tuple of 5", "instance of torch._utils...").
    public var summary: String {
        switch self {
        case .none: return "None"
        case .bool(let b): return "bool \(b)"
        case .int(let v): return "int \(v)"
        case .float(let v): return "float \(v)"
        case .string(let s): return "string '\(s.prefix(40))'"
        case .bytes(let b): return "bytes (\(b.count))"
        case .tuple(let v): return "tuple of \(v.count)"
        case .list(let l): return "list of \(l.items.count)"
        case .dict(let d): return "dict of \(d.pairs.count)"
        case let .global(m, n): return "global \(m).\(n)"
        case .instance(let i): return "instance of \(i.qualifiedName)"
        case .persistentID: return "persistent id"
        }
    }
}

/// Unpickles `bytes`. `source` names the pickle in errors ("default_1.pt!/out_jit_module/data.pkl").
public func unpickle(_ bytes: [UInt8], source: String) throws -> PickleValue {
    var vm = PickleMachine(bytes: bytes, source: source)
    return try vm.run()
}

private enum StackItem { case value(PickleValue), mark }

private struct PickleMachine {
    let bytes: [UInt8]
    let source: String
    var pos = 0
    var stack: [StackItem] = []
    var memo: [Int: PickleValue] = [:]

    init(bytes: [UInt8], source: String) { self.bytes = bytes; self.source = source }

    func fail(_ field: String, _ value: String, _ reason: String) -> InceptionError {
        .invalid(file: source, field: field, value: value, reason: reason)
    }

    mutating func take(_ n: Int, _ what: String) throws -> ArraySlice<UInt8> {
        guard n >= 0, pos + n <= bytes.count else {
            throw fail("\(what) at byte \(pos)", "\(n) bytes", "the pickle ends after \(bytes.count) bytes (truncated)")
        }
        defer { pos += n }
        return bytes[pos..<(pos + n)]
    }

    mutating func uint(_ n: Int, _ what: String) throws -> UInt64 {
        var v: UInt64 = 0
        for (i, b) in try take(n, what).enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        return v
    }

    mutating func line(_ what: String) throws -> String {
        guard let nl = bytes[pos...].firstIndex(of: 0x0A) else {
            throw fail("\(what) at byte \(pos)", "no newline", "GLOBAL operands are newline-terminated (truncated pickle)")
        }
        let s = String(decoding: bytes[pos..<nl], as: UTF8.self)
        pos = nl + 1
        return s
    }

    mutating func utf8(_ n: Int, _ what: String) throws -> String {
        let b = try take(n, what)
        guard let s = String(validating: b, as: UTF8.self) else {
            throw fail("\(what) at byte \(pos - n)", "\(n) bytes", "not valid UTF-8")
        }
        return s
    }

    mutating func pop(_ op: String) throws -> PickleValue {
        guard let top = stack.popLast() else { throw fail("\(op) at byte \(pos - 1)", "empty stack", "nothing to pop (corrupt pickle)") }
        guard case .value(let v) = top else { throw fail("\(op) at byte \(pos - 1)", "MARK", "found a MARK where a value was expected") }
        return v
    }

    mutating func top(_ op: String) throws -> PickleValue {
        guard case .value(let v)? = stack.last else { throw fail("\(op) at byte \(pos - 1)", "empty stack", "no value on the stack") }
        return v
    }

    /// Pops everything above the topmost MARK (and the MARK).
    mutating func popToMark(_ op: String) throws -> [PickleValue] {
        var items: [PickleValue] = []
        while let top = stack.popLast() {
            switch top {
            case .mark: return items.reversed()
            case .value(let v): items.append(v)
            }
        }
        throw fail("\(op) at byte \(pos - 1)", "no MARK", "the stack has no MARK (corrupt pickle)")
    }

    mutating func push(_ v: PickleValue) { stack.append(.value(v)) }

    mutating func run() throws -> PickleValue {
        while pos < bytes.count {
            let at = pos
            let op = bytes[pos]
            pos += 1
            switch op {
            case 0x80: // PROTO
                let p = try uint(1, "PROTO")
                guard p <= 5 else { throw fail("PROTO at byte \(at)", "\(p)", "pickle protocols 2 to 5 are supported") }
            case 0x95: _ = try take(8, "FRAME") // FRAME: the frame length; frames are not needed in memory
            case 0x2E: return try pop("STOP") // STOP '.'
            case 0x28: stack.append(.mark) // MARK '('
            case 0x63: // GLOBAL 'c'
                let module = try line("GLOBAL module"), name = try line("GLOBAL name")
                push(.global(module: module, name: name))
            case 0x93: // STACK_GLOBAL
                let name = try pop("STACK_GLOBAL"), module = try pop("STACK_GLOBAL")
                guard let m = module.string, let n = name.string else {
                    throw fail("STACK_GLOBAL at byte \(at)", "\(module.summary), \(name.summary)", "expected two strings")
                }
                push(.global(module: m, name: n))
            case 0x58: push(.string(try utf8(Int(try uint(4, "BINUNICODE length")), "BINUNICODE"))) // 'X'
            case 0x8C: push(.string(try utf8(Int(try uint(1, "SHORT_BINUNICODE length")), "SHORT_BINUNICODE")))
            case 0x8D: push(.string(try utf8(Int(try uint(8, "BINUNICODE8 length")), "BINUNICODE8")))
            case 0x43: push(.bytes(Array(try take(Int(try uint(1, "SHORT_BINBYTES length")), "SHORT_BINBYTES")))) // 'C'
            case 0x42: push(.bytes(Array(try take(Int(try uint(4, "BINBYTES length")), "BINBYTES")))) // 'B'
            case 0x4A: push(.int(Int(Int32(bitPattern: UInt32(try uint(4, "BININT")))))) // 'J'
            case 0x4B: push(.int(Int(try uint(1, "BININT1")))) // 'K'
            case 0x4D: push(.int(Int(try uint(2, "BININT2")))) // 'M'
            case 0x8A: // LONG1: little-endian two's complement of n bytes
                let n = Int(try uint(1, "LONG1 length"))
                guard n <= 8 else { throw fail("LONG1 at byte \(at)", "\(n) bytes", "integers wider than 64 bits are not supported") }
                var v = try uint(n, "LONG1")
                if n > 0 && n < 8 && v & (1 << (8 * UInt64(n) - 1)) != 0 { v |= ~0 << (8 * UInt64(n)) }
                push(.int(Int(Int64(bitPattern: v))))
            case 0x47: // BINFLOAT 'G': big-endian IEEE double
                var v: UInt64 = 0
                for b in try take(8, "BINFLOAT") { v = v << 8 | UInt64(b) }
                push(.float(Double(bitPattern: v)))
            case 0x4E: push(.none) // 'N'
            case 0x88: push(.bool(true)) // NEWTRUE
            case 0x89: push(.bool(false)) // NEWFALSE
            case 0x29: push(.tuple([])) // EMPTY_TUPLE ')'
            case 0x74: push(.tuple(try popToMark("TUPLE"))) // 't'
            case 0x85: push(.tuple([try pop("TUPLE1")])) // TUPLE1
            case 0x86: let b = try pop("TUPLE2"), a = try pop("TUPLE2"); push(.tuple([a, b]))
            case 0x87: let c = try pop("TUPLE3"), b = try pop("TUPLE3"), a = try pop("TUPLE3"); push(.tuple([a, b, c]))
            case 0x5D: push(.list(PickleList())) // EMPTY_LIST ']'
            case 0x61: // APPEND 'a'
                let v = try pop("APPEND")
                guard case .list(let l) = try top("APPEND") else { throw fail("APPEND at byte \(at)", try top("APPEND").summary, "APPEND needs a list") }
                l.items.append(v)
            case 0x65: // APPENDS 'e'
                let items = try popToMark("APPENDS")
                guard case .list(let l) = try top("APPENDS") else { throw fail("APPENDS at byte \(at)", try top("APPENDS").summary, "APPENDS needs a list") }
                l.items.append(contentsOf: items)
            case 0x7D: push(.dict(PickleDict())) // EMPTY_DICT '}'
            case 0x73: // SETITEM 's'
                let v = try pop("SETITEM"), k = try pop("SETITEM")
                guard case .dict(let d) = try top("SETITEM") else { throw fail("SETITEM at byte \(at)", try top("SETITEM").summary, "SETITEM needs a dict") }
                d.pairs.append((k, v))
            case 0x75: // SETITEMS 'u'
                let items = try popToMark("SETITEMS")
                guard items.count % 2 == 0 else { throw fail("SETITEMS at byte \(at)", "\(items.count) items", "needs key/value pairs") }
                guard case .dict(let d) = try top("SETITEMS") else { throw fail("SETITEMS at byte \(at)", try top("SETITEMS").summary, "SETITEMS needs a dict") }
                for i in stride(from: 0, to: items.count, by: 2) { d.pairs.append((items[i], items[i + 1])) }
            case 0x52, 0x81: // REDUCE 'R', NEWOBJ
                let name = op == 0x52 ? "REDUCE" : "NEWOBJ"
                let args = try pop(name), callable = try pop(name)
                guard let a = args.sequence else { throw fail("\(name) at byte \(at)", args.summary, "arguments must be a tuple") }
                if case .global("collections", "OrderedDict") = callable, a.isEmpty {
                    push(.dict(PickleDict())) // an empty OrderedDict, filled by SETITEM(S) like a dict
                } else {
                    push(.instance(PickleInstance(callable: callable, args: a)))
                }
            case 0x62: // BUILD 'b'
                let state = try pop("BUILD")
                guard case .instance(let inst) = try top("BUILD") else {
                    throw fail("BUILD at byte \(at)", try top("BUILD").summary, "BUILD needs an object made by NEWOBJ or REDUCE")
                }
                inst.state = state
            case 0x51: push(.persistentID(try pop("BINPERSID"))) // BINPERSID 'Q'
            case 0x71: memo[Int(try uint(1, "BINPUT"))] = try top("BINPUT") // 'q'
            case 0x72: memo[Int(try uint(4, "LONG_BINPUT"))] = try top("LONG_BINPUT") // 'r'
            case 0x94: memo[memo.count] = try top("MEMOIZE") // MEMOIZE
            case 0x68, 0x6A: // BINGET 'h', LONG_BINGET 'j'
                let k = Int(try uint(op == 0x68 ? 1 : 4, "BINGET"))
                guard let v = memo[k] else { throw fail("BINGET at byte \(at)", "memo key \(k)", "nothing was stored under this key") }
                push(v)
            case 0x30: _ = try pop("POP") // POP '0'
            case 0x32: push(try top("DUP")) // DUP '2'
            default:
                throw fail("opcode at byte \(at)", "0x" + String(op, radix: 16),
                           "not supported by this pickle reader (it handles the opcodes PyTorch writes)")
            }
        }
        throw fail("end of pickle", "\(bytes.count) bytes", "no STOP opcode (truncated pickle)")
    }
}
