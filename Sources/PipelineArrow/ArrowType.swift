/// The column types batches may carry across the plugin ABI.
public indirect enum ArrowType: Hashable, Sendable {
    case bool
    case int64
    case uint64
    case float32
    case float64
    /// UTF-8 text with 32-bit offsets.
    case utf8
    /// UTF-8 text with 64-bit offsets (accepted on import, e.g. from pyarrow).
    case largeUtf8
    /// A variable-length list; the field describes the items.
    case list(ArrowField)
    /// A list of exactly `width` items per row (embeddings: float32).
    case fixedSizeList(ArrowField, width: Int)
    /// A struct; a record batch is a struct whose fields are the columns.
    case structure([ArrowField])

    /// The C Data Interface format string of this type (children excluded).
    public var format: String {
        switch self {
        case .bool: "b"
        case .int64: "l"
        case .uint64: "L"
        case .float32: "f"
        case .float64: "g"
        case .utf8: "u"
        case .largeUtf8: "U"
        case .list: "+l"
        case .fixedSizeList(_, let width): "+w:\(width)"
        case .structure: "+s"
        }
    }

    /// The fields of the nested arrays, in order.
    public var children: [ArrowField] {
        switch self {
        case .list(let item), .fixedSizeList(let item, _): [item]
        case .structure(let fields): fields
        default: []
        }
    }

    /// How many buffers an array of this type has, validity included.
    var bufferCount: Int {
        switch self {
        case .utf8, .largeUtf8: 3
        case .bool, .int64, .uint64, .float32, .float64, .list: 2
        case .fixedSizeList, .structure: 1
        }
    }

    /// Bytes per value of a fixed-width primitive, nil for the others.
    var valueWidth: Int? {
        switch self {
        case .int64, .uint64, .float64: 8
        case .float32: 4
        default: nil
        }
    }

    /// The name used in pipeline files and plugin descriptors:
    /// `utf8`, `list<utf8>`, `fixed_size_list<float32>[384]`.
    public var displayName: String {
        switch self {
        case .bool: "bool"
        case .int64: "int64"
        case .uint64: "uint64"
        case .float32: "float32"
        case .float64: "float64"
        case .utf8: "utf8"
        case .largeUtf8: "large_utf8"
        case .list(let item): "list<\(item.type.displayName)>"
        case .fixedSizeList(let item, let width): "fixed_size_list<\(item.type.displayName)>[\(width)]"
        case .structure(let fields): "struct<\(fields.map { "\($0.name): \($0.type.displayName)" }.joined(separator: ", "))>"
        }
    }

    /// True if arrays of both types have the same physical layout: the same
    /// formats all the way down, whatever the nested fields' names and
    /// nullability (pyarrow names list items "element" or "item").
    public func hasSameLayout(as other: ArrowType) -> Bool {
        guard format == other.format else { return false }
        let mine = children, theirs = other.children
        return mine.count == theirs.count && zip(mine, theirs).allSatisfy { $0.type.hasSameLayout(as: $1.type) }
    }

    /// Parses a format string given the already parsed children.
    static func parse(format: String, children: [ArrowField], path: String) throws(ArrowError) -> ArrowType {
        func one() throws(ArrowError) -> ArrowField {
            guard children.count == 1 else {
                throw .malformed("format \"\(format)\" needs 1 child, found \(children.count)", at: path)
            }
            return children[0]
        }
        func none(_ type: ArrowType) throws(ArrowError) -> ArrowType {
            guard children.isEmpty else {
                throw .malformed("format \"\(format)\" takes no children, found \(children.count)", at: path)
            }
            return type
        }
        switch format {
        case "b": return try none(.bool)
        case "l": return try none(.int64)
        case "L": return try none(.uint64)
        case "f": return try none(.float32)
        case "g": return try none(.float64)
        case "u": return try none(.utf8)
        case "U": return try none(.largeUtf8)
        case "+l": return .list(try one())
        case "+s": return .structure(children)
        default:
            // The C Data Interface's widths are int32 (the store's codec writes 32 bits).
            if format.hasPrefix("+w:"), let width = Int(format.dropFirst(3)), width > 0, width <= Int(Int32.max) {
                return .fixedSizeList(try one(), width: width)
            }
            throw .unsupportedFormat(format, at: path)
        }
    }
}

/// A named, typed column (or nested item) of a batch.
public struct ArrowField: Hashable, Sendable {
    public var name: String
    public var type: ArrowType
    public var nullable: Bool
    /// The field's key/value metadata (the C Data Interface's `metadata`):
    /// carried through import, export and the store, part of the field's
    /// identity. An extension type is named here (`ARROW:extension:name`).
    public var metadata: [String: String]

    public init(_ name: String, _ type: ArrowType, nullable: Bool = true, metadata: [String: String] = [:]) {
        self.name = name
        self.type = type
        self.nullable = nullable
        self.metadata = metadata
    }
}

extension ArrowField {
    /// The metadata key naming a field's extension type.
    public static let extensionNameKey = "ARROW:extension:name"
    /// The metadata key of an extension type's parameters.
    public static let extensionMetadataKey = "ARROW:extension:metadata"
    /// Arrow's canonical JSON extension type: utf8 storage, each value one
    /// JSON text. A JSON writer writes such a value as JSON, not as a string.
    public static let jsonExtensionName = "arrow.json"
    /// The metadata of an `arrow.json` field.
    public static let jsonExtensionMetadata = [extensionNameKey: jsonExtensionName, extensionMetadataKey: ""]
    /// On a field of a struct: a null member was absent from its JSON
    /// object (a JSON writer leaves it out), not an explicit `null`.
    public static let nullIsAbsentKey = "pipeline.null_is_absent"

    /// True for a text field of the `arrow.json` extension type: its values are JSON texts.
    public var isJSONText: Bool {
        metadata[Self.extensionNameKey] == Self.jsonExtensionName && (type == .utf8 || type == .largeUtf8)
    }

    /// True for a struct member whose nulls stand for an absent JSON member.
    public var nullIsAbsent: Bool { metadata[Self.nullIsAbsentKey] == "true" }
}

extension ArrowType {
    /// `list<utf8>` with the conventional item name.
    public static var utf8List: ArrowType { .list(ArrowField("item", .utf8)) }
    /// `list<float64>` with the conventional item name.
    public static var float64List: ArrowType { .list(ArrowField("item", .float64)) }
    /// `fixed_size_list<float32>[width]`, the embedding type.
    public static func embedding(width: Int) -> ArrowType {
        .fixedSizeList(ArrowField("item", .float32, nullable: false), width: width)
    }
}
