import Data

/// The parameters and simple attributes of a TorchScript (or `torch.save`) zip archive, read without torch.
///
/// Layout of such an archive (all members under one top folder, e.g. `out_jit_module/` or `archive/`):
///   `data.pkl`        the pickled module object tree: every module is `NEWOBJ` of its class with a
///                     `__dict__` (BUILD state) holding its attributes, tensors and child modules;
///   `data/<key>`      the raw bytes of storage `<key>` (little-endian, uncompressed);
///   `constants.pkl`   tensors used as constants by the compiled code (not parameters; read if present);
///   `code/`, `version`, `byteorder` (newer versions), debug pickles.
/// A tensor in `data.pkl` is `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad,
/// hooks)` where `storage` is the persistent id `('storage', torch.FloatStorage, key, location, numel)`.
/// (`torch._utils._rebuild_parameter(tensor, requires_grad, hooks)` wraps a tensor as nn.Parameter in
/// plain `torch.save` files; it is accepted too.)
public struct TorchScriptArchive {
    /// A float32 tensor read from the archive, made contiguous (row-major) whatever its strides were.
    public struct TensorValue {
        public let shape: [Int]
        public let values: [Float]
    }

    /// The archive's name in error messages.
    public let source: String
    /// The top folder of the members ("out_jit_module").
    public let root: String
    /// Every tensor of the module tree by dotted path ("net.layers.conv.weight"), in pickle order.
    public private(set) var tensors: [(name: String, value: TensorValue)] = []
    /// Every int, float, bool or string attribute, and lists/tuples of ints, by dotted path
    /// ("net.layers.conv.stride" → .int(2), "...padding" → .tuple/.list of ints).
    public private(set) var attributes: [(name: String, value: PickleValue)] = []
    /// The class of each module by dotted path ("" is the root), e.g. "__torch__.inceptionv3.Conv2dLayer".
    public private(set) var moduleClasses: [(path: String, className: String)] = []

    /// Reads the archive in `bytes` (a TorchScript `.pt` file's content).
    public init(bytes: [UInt8], source: String) throws {
        let zip = try ZipArchive(bytes: bytes, source: source)
        try self.init(zip: zip)
    }

    /// Reads the archive at `path`.
    public init(path: String) throws {
        try self.init(zip: try ZipArchive(path: path))
    }

    init(zip: ZipArchive) throws {
        source = zip.source
        guard let pkl = zip.names.first(where: { n in
            let parts = n.split(separator: "/", omittingEmptySubsequences: false)
            return parts.count == 2 && parts[1] == "data.pkl"
        }) else {
            throw InceptionError.invalid(file: source, field: "member <root>/data.pkl", value: "absent",
                                         reason: "not a TorchScript/PyTorch zip archive (members: \(zip.names.prefix(5).joined(separator: ", ")))")
        }
        root = String(pkl.split(separator: "/")[0])
        if zip.entry(named: root + "/byteorder") != nil {
            let order = String(decoding: try zip.data(for: root + "/byteorder"), as: UTF8.self)
            guard order == "little" else {
                throw InceptionError.invalid(file: source, field: root + "/byteorder", value: order,
                                             reason: "only little-endian archives are supported")
            }
        }
        let tree = try unpickle(try zip.data(for: pkl), source: "\(source)!/\(pkl)")
        var storages: [String: [UInt8]] = [:]
        try walk(tree, path: "", zip: zip, storages: &storages)
    }

    /// The tensor called `name`, or nil.
    public func tensor(_ name: String) -> TensorValue? { tensors.first { $0.name == name }?.value }
    /// The attribute called `name`, or nil.
    public func attribute(_ name: String) -> PickleValue? { attributes.first { $0.name == name }?.value }

    private static let rebuildTensor = "torch._utils._rebuild_tensor_v2"
    private static let rebuildParameter = "torch._utils._rebuild_parameter"

    private mutating func walk(_ v: PickleValue, path: String, zip: ZipArchive, storages: inout [String: [UInt8]]) throws {
        guard case .instance(let inst) = v else {
            throw InceptionError.invalid(file: source, field: "data.pkl root", value: v.summary,
                                         reason: "expected a module object (NEWOBJ of a class)")
        }
        moduleClasses.append((path, inst.qualifiedName))
        guard let state = inst.state else { return }
        guard case .dict(let d) = state else {
            throw InceptionError.invalid(file: source, field: "state of module '\(path)'", value: state.summary,
                                         reason: "expected the module's __dict__")
        }
        for (k, raw) in d.pairs {
            let value = TorchScriptArchive.unwrapTypedList(raw)
            guard let key = k.string else {
                throw InceptionError.invalid(file: source, field: "attribute name in module '\(path)'", value: k.summary,
                                             reason: "attribute names must be strings")
            }
            let name = path.isEmpty ? key : path + "." + key
            switch value {
            case .instance(let child):
                let q = child.qualifiedName
                if q == TorchScriptArchive.rebuildTensor || q == TorchScriptArchive.rebuildParameter {
                    tensors.append((name, try rebuildTensor(child, name: name, zip: zip, storages: &storages)))
                } else if child.state != nil {
                    try walk(value, path: name, zip: zip, storages: &storages)
                } else {
                    attributes.append((name, value))
                }
            case .int, .float, .bool, .string:
                attributes.append((name, value))
            case .tuple, .list:
                if value.ints != nil { attributes.append((name, value)) }
            default:
                continue // None, dicts of hooks, ...: nothing a converter needs
            }
        }
    }

    /// TorchScript pickles typed lists as `torch.jit._pickle.build_intlist([...])` (and `build_doublelist`,
    /// `build_boollist`, `build_tensorlist`), and some values as `restore_type_tag(value, "type")`: unwrap them.
    static func unwrapTypedList(_ v: PickleValue) -> PickleValue {
        guard case .instance(let inst) = v, inst.qualifiedName.hasPrefix("torch.jit._pickle."), let first = inst.args.first else { return v }
        switch inst.qualifiedName {
        case "torch.jit._pickle.build_intlist", "torch.jit._pickle.build_doublelist", "torch.jit._pickle.build_boollist",
             "torch.jit._pickle.build_tensorlist", "torch.jit._pickle.restore_type_tag":
            return first
        default:
            return v
        }
    }

    private func rebuildTensor(_ inst: PickleInstance, name: String, zip: ZipArchive,
                               storages: inout [String: [UInt8]]) throws -> TensorValue {
        if inst.qualifiedName == TorchScriptArchive.rebuildParameter {
            guard case .instance(let inner)? = inst.args.first, inner.qualifiedName == TorchScriptArchive.rebuildTensor else {
                throw InceptionError.invalid(file: source, field: "tensor '\(name)'", value: inst.args.first?.summary ?? "no arguments",
                                             reason: "_rebuild_parameter must wrap a _rebuild_tensor_v2 tensor")
            }
            return try rebuildTensor(inner, name: name, zip: zip, storages: &storages)
        }
        let a = inst.args
        func bad(_ field: String, _ value: String, _ reason: String) -> InceptionError {
            .invalid(file: source, field: "tensor '\(name)' \(field)", value: value, reason: reason)
        }
        guard a.count >= 4, case .persistentID(let pid) = a[0], let p = pid.sequence, p.count >= 5,
              p[0].string == "storage", case let .global(_, storageType) = p[1], let key = p[2].string,
              let offset = a[1].int, let shape = a[2].ints, let strides = a[3].ints, shape.count == strides.count else {
            throw bad("arguments", "\(a.map(\.summary))",
                      "expected (persistent id ('storage', type, key, location, numel), offset, size, stride, ...)")
        }
        guard storageType == "FloatStorage" else {
            throw bad("storage type", storageType, "only float32 (torch.FloatStorage) tensors are supported")
        }
        guard shape.allSatisfy({ $0 >= 0 }), strides.allSatisfy({ $0 >= 0 }), offset >= 0 else {
            throw bad("geometry", "size \(shape), stride \(strides), offset \(offset)", "negative values")
        }
        let member = root + "/data/" + key
        if storages[key] == nil { storages[key] = try zip.data(for: member) }
        let raw = storages[key]!
        let count = shape.reduce(1, *)
        // Largest element index read: offset + Σ (size_i − 1)·stride_i.
        let last = count == 0 ? offset : offset + zip2(shape, strides).map { ($0 - 1) * $1 }.reduce(0, +)
        guard raw.count % 4 == 0, last < raw.count / 4 || count == 0 else {
            throw bad("extent", "offset \(offset), size \(shape), stride \(strides)",
                      "reads element \(last) but \(member) holds \(raw.count / 4) float32 values")
        }
        var values = [Float](repeating: 0, count: count)
        raw.withUnsafeBytes { rb in
            func load(_ i: Int) -> Float { Float(bitPattern: UInt32(littleEndian: rb.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
            var idx = [Int](repeating: 0, count: shape.count)
            var src = offset
            for j in 0..<count {
                values[j] = load(src)
                var ax = shape.count - 1
                while ax >= 0 {
                    idx[ax] += 1; src += strides[ax]
                    if idx[ax] < shape[ax] { break }
                    src -= strides[ax] * shape[ax]; idx[ax] = 0
                    ax -= 1
                }
            }
        }
        return TensorValue(shape: shape, values: values)
    }
}

private func zip2(_ a: [Int], _ b: [Int]) -> Zip2Sequence<[Int], [Int]> { zip(a, b) }
