import PluginKit

/// Fan-in by key: the rows of several inputs that share a key (by default
/// the host's `_row_id`, which every branch of one source keeps) become one
/// row. A batch whose rows all find their partners at once is used as it is;
/// one with rows left waiting is copied once (input batches are borrowed
/// for the call) and its rows wait there, so memory holds only the rows
/// still unmatched: the lead of the fastest branch over the slowest.
struct Join: PipelineStep {
    static let on = Parameter("on", default: "_row_id", .minLength(1),
        description: "The key column every input has: the host's _row_id (the default: the branches of one source keep it), or a data column (utf8, int64 or uint64).")
    static let how = Parameter("how", default: "inner", .oneOf(["inner", "left"]),
        description: "inner: a row is kept when every input has its key; left: every row of the first input is kept, with nulls for the inputs that lack its key (emitted when all inputs are done). Rows without a partner are counted and logged, never silently lost.")
    static let prefixes = Parameter<[String: String]>("prefixes", default: [:],
        description: "A prefix per input (by its step name) for that input's columns, e.g. {teacher_a: a_, teacher_b: b_}.")
    static let shared = Parameter<[String]>("shared_columns", default: [],
        description: "Columns taken once, unprefixed, from the first input that has them (e.g. the instruction every branch passes through).")

    static let info = StepInfo(
        kind: .step, id: "org.pipeline.join", name: "join", version: "1.0.0",
        description: """
            Joins the rows of its inputs (input: [a, b, ...]) by key, by default the host's _row_id: answers \
            of two teachers to one instruction side by side in one row. Each input's columns get its prefix; \
            a column name that two inputs would both produce is an error naming them. how: inner keeps rows \
            every input has; left keeps every row of the first input. Rows are emitted as soon as they are \
            complete, in the order the last of their parts arrived; a row a branch dropped or failed (its \
            error is in errors.jsonl already) has no partner: inner drops it, left keeps it with nulls. \
            A key that appears twice in one input is an error.
            """,
        inputs: [.init("*", "any", description: "two or more inputs, each with the key column")],
        outputs: [.init("*", "any", description: "the key, then each input's columns with its prefix")],
        parameters: [on, how, prefixes, shared], stateful: true
    ).filtering()

    let key: String
    let leftJoin: Bool
    let prefixes: [String: String]
    let shared: Set<String>
    let sharedOrder: [String]
    /// The inputs' names (from the host); filled on the first batch.
    var inputs: [String] = []
    /// Per input: its batches' layout (from its first batch).
    var layouts: [[ArrowField]?] = []
    /// Per input: rows waiting for partners, by key.
    var waiting: [[JoinKey: RowRef]] = []
    /// Left join: keys of the first input in arrival order (those no
    /// longer waiting are dropped now and then).
    var leftOrder: [JoinKey] = []
    var output: OutputLayout?
    var unmatched: [Int] = []

    init(parameters: ParameterValues, context: StepContext) throws(StepError) {
        key = try parameters[Self.on]
        leftJoin = try parameters[Self.how] == "left"
        prefixes = try parameters[Self.prefixes]
        sharedOrder = try parameters[Self.shared]
        shared = Set(sharedOrder)
        if shared.contains(key) { throw .invalidArgument("join: the key \"\(key)\" is in the output once already; remove it from shared_columns") }
        let names = context.inputNames
        if !names.isEmpty {
            guard names.count >= 2 else {
                throw .invalidArgument("join: it needs two or more inputs (input: [a, b]); it has \(names.count)")
            }
            for name in prefixes.keys.sorted() where !names.contains(name) {
                throw .invalidArgument("join: prefixes names \"\(name)\", which is not one of its inputs (\(names.joined(separator: ", ")))")
            }
            start(names)
        }
    }

    private mutating func start(_ names: [String]) {
        inputs = names
        layouts = Array(repeating: nil, count: names.count)
        waiting = Array(repeating: [:], count: names.count)
        unmatched = Array(repeating: 0, count: names.count)
    }

    mutating func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        guard let batch else { return nil }
        if inputs.isEmpty { start(context.inputNames) }
        guard inputs.count >= 2, let input = context.inputIndex, input < inputs.count else {
            throw .invalidArgument("join: the host does not say which input a batch comes from (it needs a pipeline run on an ABI 1.4 host)")
        }
        if layouts[input] == nil { layouts[input] = batch.fields }
        guard let keys = batch.column(key) else {
            throw .invalidData("join: input \"\(inputs[input])\" has no key column \"\(key)\" (it has \(batch.fields.map(\.name).joined(separator: ", ")))")
        }
        let source = BatchBox(batch)
        var complete: [[RowRef?]] = []
        var leftWaiting = false
        for row in 0..<batch.length {
            guard let value = try JoinKey(keys, row, column: key) else {
                // A null key matches nothing.
                if leftJoin && input == 0 { complete.append([RowRef(source, row)] + Array(repeating: nil, count: inputs.count - 1)) }
                else { unmatched[input] += 1 }
                continue
            }
            if waiting[input][value] != nil {
                throw .invalidData("join: key \(value) appears twice in input \"\(inputs[input])\"")
            }
            waiting[input][value] = RowRef(source, row)
            if leftJoin && input == 0 { leftOrder.append(value) }
            if waiting.allSatisfy({ $0[value] != nil }) {
                complete.append(waiting.indices.map { waiting[$0].removeValue(forKey: value) })
            } else {
                leftWaiting = true
            }
        }
        if leftWaiting {
            // Rows that wait outlive the call: they need memory of their own.
            do { source.batch = try batch.owningCopies() } catch {
                throw .internal("join: cannot keep the waiting rows: \(error.message)")
            }
        }
        if leftJoin && leftOrder.count > 2 * waiting[0].count + 1024 {
            let left = waiting[0]
            leftOrder.removeAll { left[$0] == nil }
        }
        guard !complete.isEmpty else { return nil }
        return try build(complete)
    }

    mutating func finish(context: StepContext) throws(StepError) -> RecordBatch? {
        guard !inputs.isEmpty else { return nil }
        var rows: [[RowRef?]] = []
        if leftJoin {
            for value in leftOrder {
                guard let left = waiting[0].removeValue(forKey: value) else { continue }
                rows.append([left] + (1..<inputs.count).map { waiting[$0].removeValue(forKey: value) })
            }
        }
        for (input, rest) in waiting.enumerated() { unmatched[input] += rest.count }
        waiting = waiting.map { _ in [:] }
        for (input, count) in unmatched.enumerated() where count > 0 {
            context.log(.warning, "join: \(count) row(s) of input \"\(inputs[input])\" had no partner in every other input; how: \(leftJoin ? "left" : "inner") leaves them out")
        }
        unmatched = unmatched.map { _ in 0 }
        guard !rows.isEmpty else { return nil }
        return try build(rows)
    }

    /// The output columns, settled once every input's layout is known (or,
    /// for a left join's last rows, with what is known).
    private mutating func layout() throws(StepError) -> OutputLayout {
        if let output { return output }
        var columns: [OutputLayout.Column] = []
        var owner: [String: String] = [:]
        func add(_ name: String, _ input: Int, _ field: ArrowField) throws(StepError) {
            if let other = owner[name] {
                throw .invalidData("join: column \"\(name)\" would come from both \"\(other)\" and \"\(inputs[input])\": give one a prefix (prefixes: {\(inputs[input]): \(inputs[input])_}) or list it in shared_columns")
            }
            owner[name] = inputs[input]
            var renamed = field  // its metadata (an extension type) goes with it
            renamed.name = name
            renamed.nullable = true
            columns.append(.init(name: name, input: input, source: field.name, field: renamed))
        }
        func anyInput(_ field: ArrowField) {
            owner[field.name] = "every input"
            columns.append(.init(name: field.name, input: -1, source: field.name, field: field))
        }
        guard let first = layouts.lazy.compactMap({ $0 }).first, let keyField = first.first(where: { $0.name == key }) else {
            throw .internal("join: no input layout")
        }
        anyInput(keyField)
        // The host's row id goes with the row (from the first input that has it).
        if key != "_row_id", let rowID = first.first(where: { $0.name == "_row_id" }) { anyInput(rowID) }
        for name in sharedOrder {
            guard let input = layouts.indices.first(where: { layouts[$0]?.contains { $0.name == name } == true }),
                  let field = layouts[input]?.first(where: { $0.name == name }) else {
                throw .invalidData("join: shared_columns names \"\(name)\", which no input has")
            }
            try add(name, input, field)
        }
        for (input, fields) in layouts.enumerated() {
            guard let fields else { continue }
            let prefix = prefixes[inputs[input]] ?? ""
            for field in fields where field.name != key && !shared.contains(field.name) && field.name != "_error" {
                if field.name == "_row_id" { continue }  // the host's; only as the key
                try add(prefix + field.name, input, field)
            }
        }
        let settled = OutputLayout(columns: columns)
        if layouts.allSatisfy({ $0 != nil }) { output = settled }
        return settled
    }

    private mutating func build(_ rows: [[RowRef?]]) throws(StepError) -> RecordBatch {
        let layout = try layout()
        var fields: [ArrowField] = []
        var columns: [ArrowColumn] = []
        for column in layout.columns {
            let builder = ColumnBuilder(column.field.type)
            builder.reserve(rows.count)
            for parts in rows {
                // The key and the row id come from whichever input has the row.
                let part = column.input < 0 ? parts.first { $0 != nil } ?? nil : parts[column.input]
                guard let part, let source = part.batch.batch.column(column.source) else {
                    builder.appendNull()
                    continue
                }
                guard source.type.hasSameLayout(as: column.field.type)
                    || (column.field.type == .utf8 && source.type == .largeUtf8) else {
                    throw .invalidData("join: column \"\(column.source)\" of input \"\(inputs[max(0, column.input)])\" changed type from \(column.field.type.displayName) to \(source.type.displayName)")
                }
                builder.append(from: source, row: part.row)
            }
            fields.append(column.field)
            columns.append(builder.finish())
        }
        do { return try RecordBatch(fields: fields, columns: columns, length: rows.count) } catch {
            throw .internal("join: \(error.message)")
        }
    }
}

/// A batch kept alive while some of its rows wait for partners.
final class BatchBox {
    var batch: RecordBatch
    init(_ batch: RecordBatch) { self.batch = batch }
}

/// One row of one input's batch.
struct RowRef {
    let batch: BatchBox
    let row: Int
    init(_ batch: BatchBox, _ row: Int) {
        self.batch = batch
        self.row = row
    }
}

struct OutputLayout {
    struct Column {
        var name: String
        var input: Int
        var source: String
        var field: ArrowField
    }
    var columns: [Column]
}

/// A key value; null keys have none.
enum JoinKey: Hashable, CustomStringConvertible {
    case unsigned(UInt64)
    case signed(Int64)
    case text(String)

    init?(_ column: ArrowColumn, _ row: Int, column name: String) throws(StepError) {
        guard column.isValid(row) else { return nil }
        switch column.type {
        case .uint64: self = .unsigned(column.uint64(row))
        case .int64: self = .signed(column.int64(row))
        case .utf8, .largeUtf8: self = .text(column.string(row) ?? "")
        default: throw .invalidData("join: the key column \"\(name)\" is \(column.type.displayName); a key is utf8, int64 or uint64")
        }
    }

    var description: String {
        switch self {
        case .unsigned(let value): String(value)
        case .signed(let value): String(value)
        case .text(let value): "\"\(value)\""
        }
    }
}
