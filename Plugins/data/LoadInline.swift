import PluginKit

/// Emits the rows written in the pipeline file, with load_jsonl's type
/// inference: each row is turned back into a JSON line and goes through the
/// same scanner. The columns are inferred from all the rows at create, so
/// every batch has the same ones; a key with values of two kinds fails the
/// step there, naming both rows.
///
/// Key order: the host hands parameters over as JSON with sorted keys, so
/// columns come in sorted order within each first-seen row (the order
/// written in the YAML is not available to a plugin).
struct LoadInline: PipelineStep {
    struct Parameters: Decodable {
        var rows: [InlineJSON]
        var batch_size: Int?
    }

    static let name = "load_inline"

    static let info = StepInfo(
        kind: .generator, id: "org.pipeline.load_inline", name: name, version: "3.0.0",
        description: """
            Emits rows written in the pipeline file (a list of objects), with the type inference of \
            load_jsonl over all the rows (nested arrays and objects as lists and structs): every batch \
            has the same columns, null where a row lacks a key. Keys come in name order, also inside \
            nested objects. Tells the host the exact number of rows at the start, for progress.
            """,
        inputs: [],
        outputs: [.init("*", "any", description: "One column per key of the rows.")],
        parameterSchema: """
            {"type":"object","additionalProperties":false,"required":["rows"],
             "properties":{
              "rows":{"type":"array","format":"rows","items":{"type":"object"},"description":"The rows, one object each."},
              "batch_size":{"type":"integer","minimum":1,"default":1000,"description":"Rows per emitted batch."}}}
            """)

    private var rows = InferredRows { "rows[\($0)]" }
    private let batchSize: Int

    init(parameters: Parameters, context: StepContext) throws(StepError) {
        batchSize = try Check.batchSize(parameters.batch_size ?? 1000, step: Self.name)
        for (index, row) in parameters.rows.enumerated() {
            guard case .object = row else {
                throw .invalidArgument("\(Self.name): rows[\(index)] is not an object (found \(row.kindName))")
            }
            try rows.append(row, number: index)
        }
        try rows.seal(step: Self.name)
        // Exact: every row is here already.
        context.expectRows(rows.count)
    }

    mutating func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        try rows.nextBatch(size: batchSize)
    }
}

/// Any JSON value, as the parameters decoder hands it over.
enum InlineJSON: Decodable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([InlineJSON])
    /// Keys sorted: a decoder does not promise any order.
    case object([(String, InlineJSON)])

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        if let object = try? decoder.container(keyedBy: Key.self) {
            var members: [(String, InlineJSON)] = []
            for key in object.allKeys.sorted(by: { $0.stringValue < $1.stringValue }) {
                members.append((key.stringValue, try object.decode(InlineJSON.self, forKey: key)))
            }
            self = .object(members)
            return
        }
        if var array = try? decoder.unkeyedContainer() {
            var items: [InlineJSON] = []
            while !array.isAtEnd { items.append(try array.decode(InlineJSON.self)) }
            self = .array(items)
            return
        }
        let value = try decoder.singleValueContainer()
        if value.decodeNil() {
            self = .null
        } else if let bool = try? value.decode(Bool.self) {
            self = .bool(bool)
        } else if let int = try? value.decode(Int64.self) {
            self = .int(int)
        } else if let double = try? value.decode(Double.self) {
            self = .double(double)
        } else {
            self = .string(try value.decode(String.self))
        }
    }

    var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int, .double: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// Compact JSON text.
    func write(to out: ByteArena) {
        switch self {
        case .null: out.append("null" as StaticString)
        case .bool(let value): out.append(value ? "true" as StaticString : "false")
        case .int(let value): JSONText.appendInt(value, to: out)
        case .double(let value): JSONText.appendDouble(value, to: out)
        case .string(let value):
            var value = value
            value.withUTF8 { JSONText.appendValidString($0, to: out) }
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                item.write(to: out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (index, (key, value)) in members.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                var key = key
                key.withUTF8 { JSONText.appendValidString($0, to: out) }
                out.append(UInt8(ascii: ":"))
                value.write(to: out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }
}
