import PluginKit

/// Turns each row into one row per list index: the listed list columns
/// become their item type, the other columns are repeated.
///
/// The lists of one row must all have the same length. If they differ, or
/// one is null, the row becomes one output row whose `_error` says so
/// (`expand_columns: lists differ in length: answers has 3, scores has 2`),
/// with the other columns kept and the listed ones null: items are never
/// paired up silently. A row whose lists are all empty yields no rows.
///
/// Row ids: the k-th row (k = 0, 1, …) made from a row with id `p` gets
/// `splitmix64(p ^ (0x9E3779B97F4A7C15 &* (k + 1)))` (see `splitmix64`):
/// stable across runs and independent of how rows are batched. A failed
/// row keeps its parent's id. Without `_row_id` in the input, none is made.
struct ExpandColumns: PipelineStep {
    struct Parameters: Decodable {
        var columns: ColumnList
    }

    /// A list of names, or an object mapping a list column to its output name.
    enum ColumnList: Decodable {
        case names([String])
        case renames([String: String])

        init(from decoder: any Decoder) throws {
            let value = try decoder.singleValueContainer()
            if let names = try? value.decode([String].self) {
                self = .names(names)
            } else {
                self = .renames(try value.decode([String: String].self))
            }
        }
    }

    static let name = "expand_columns"

    static let info = StepInfo(
        kind: .step, id: "org.pipeline.expand_columns", name: name, version: "1.0.0",
        description: """
            Makes one row per list index: the listed list columns become their item type, the other \
            columns are repeated. Lists of one row must have equal lengths; otherwise (or if one is \
            null) the row fails with an _error naming the columns and lengths. Derived row ids: \
            splitmix64(parent_id ^ (0x9E3779B97F4A7C15 * (index + 1))).
            """,
        inputs: [.init("*", "any", description: "The listed columns must be lists.")],
        outputs: [.init("*", "any", description: "The listed columns as their item type, the others as they were."),
                  .init(errorColumn, "utf8", optional: true, description: "Set on rows whose lists differ in length or are null.")],
        parameterSchema: """
            {"type":"object","additionalProperties":false,"required":["columns"],
             "properties":{
              "columns":{"description":"The list columns to expand: a list of names, or an object mapping each list column to the name of its output column.",
               "format":"renamed-columns","oneOf":[{"type":"array","items":{"type":"string"},"minItems":1},
                        {"type":"object","additionalProperties":{"type":"string"},"minProperties":1}]}}}
            """).filtering()
        .planning(StepPlan(rows: "list_lengths[columns | list | first]"))

    /// (input column, output column), in the order given (renames: sorted).
    private let expanded: [(source: String, output: String)]

    init(parameters: Parameters, context: StepContext) throws(StepError) {
        switch parameters.columns {
        case .names(let names): expanded = names.map { ($0, $0) }
        case .renames(let map): expanded = map.keys.sorted().map { ($0, map[$0] ?? $0) }
        }
        guard !expanded.isEmpty else { throw .invalidArgument("\(Self.name): columns lists no column") }
        var sources = Set<String>(), outputs = Set<String>()
        for (source, output) in expanded {
            guard !source.isEmpty, !output.isEmpty else { throw .invalidArgument("\(Self.name): a column name is empty") }
            for name in [source, output] where name == rowIdColumn || name == errorColumn {
                throw .invalidArgument("\(Self.name): \(name) is a column the host owns; it cannot be expanded")
            }
            guard sources.insert(source).inserted else { throw .invalidArgument("\(Self.name): \"\(source)\" is listed twice") }
            guard outputs.insert(output).inserted else {
                throw .invalidArgument("\(Self.name): two columns would be called \"\(output)\"")
            }
        }
    }

    func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        guard let batch else { return nil }
        // Which input column each listed one is, and the output layout.
        var listed: [Int] = []         // input index of each expanded column, in `expanded` order
        var outputName: [Int: String] = [:]
        for (source, output) in expanded {
            guard let index = batch.index(of: source) else {
                throw .invalidData("\(Self.name): no column \"\(source)\" in the input (it has \(quotedList(batch.fields.map(\.name))))")
            }
            switch batch.fields[index].type {
            case .list, .fixedSizeList: break
            default:
                throw .invalidData("\(Self.name): column \"\(source)\" is \(batch.fields[index].type.displayName), not a list")
            }
            listed.append(index)
            outputName[index] = output
        }
        let rowIdIndex = batch.index(of: rowIdColumn)
        if let rowIdIndex, batch.fields[rowIdIndex].type != .uint64 {
            throw .invalidData("\(Self.name): \(rowIdColumn) is \(batch.fields[rowIdIndex].type.displayName), expected uint64")
        }
        var fields: [ArrowField] = []
        var sources: [Int] = []
        var builders: [ColumnBuilder] = []
        for (index, field) in batch.fields.enumerated() where field.name != errorColumn {
            // A column keeps its field's metadata (an extension type); an
            // expanded one takes its items' field's.
            var output = field
            output.nullable = true
            if let name = outputName[index], let item = field.type.children.first {
                output = ArrowField(name, batch.columns[index].items.type, metadata: item.metadata)
            } else if expanded.contains(where: { $0.output == field.name }) {
                throw .invalidData("\(Self.name): the output column \"\(field.name)\" already exists in the input")
            }
            if output.type == .largeUtf8 { output.type = .utf8 }
            let type = output.type
            fields.append(output)
            sources.append(index)
            builders.append(ColumnBuilder(type))
        }
        let errors = ColumnBuilder(.utf8)
        var failed = 0
        var produced = 0
        let rowIds = rowIdIndex.map { batch.columns[$0] }
        var lengths = [Int?](repeating: nil, count: listed.count)
        // Text per output column: a utf8 column holds at most 2 GiB, and
        // repeating a long text for many items gets there quickly.
        let textual = sources.map { Self.holdsText(batch.columns[$0].type) }
        var textTotals = [Int](repeating: 0, count: sources.count)

        for row in 0..<batch.length {
            var same = true
            for (k, index) in listed.enumerated() {
                let column = batch.columns[index]
                lengths[k] = column.isValid(row) ? column.valueRange(row).count : nil
                if lengths[k] == nil || lengths[k] != lengths[0] { same = false }
            }
            if same, let count = lengths[0] {
                for item in 0..<count {
                    for (position, index) in sources.enumerated() {
                        let column = batch.columns[index]
                        if outputName[index] != nil {
                            builders[position].append(from: column.items, row: column.valueRange(row).lowerBound + item)
                        } else if index == rowIdIndex, let rowIds {
                            if rowIds.isValid(row) {
                                builders[position].append(Self.derivedId(rowIds.uint64(row), index: item))
                            } else {
                                builders[position].appendNull()
                            }
                        } else {
                            builders[position].append(from: column, row: row)
                        }
                    }
                    errors.appendNull()
                }
                for (position, index) in sources.enumerated() where textual[position] {
                    let bytes = Self.textBytes(batch.columns[index], row)
                    textTotals[position] += outputName[index] != nil ? bytes : bytes * count
                }
                produced += count
            } else {
                for (position, index) in sources.enumerated() {
                    if outputName[index] != nil {
                        builders[position].appendNull()
                    } else {
                        builders[position].append(from: batch.columns[index], row: row)
                    }
                }
                errors.append(mismatchMessage(lengths))
                failed += 1
                produced += 1
                for (position, index) in sources.enumerated() where textual[position] && outputName[index] == nil {
                    textTotals[position] += Self.textBytes(batch.columns[index], row)
                }
            }
            if let position = textTotals.firstIndex(where: { $0 > Int(Int32.max) }) {
                throw .invalidData("\(Self.name): the rows made from this batch hold more than 2 GiB of text in column \"\(fields[position].name)\"; give the step smaller batches")
            }
        }
        guard produced > 0 else { return nil }
        var columns = builders.map { $0.finish() }
        if failed > 0 {
            fields.append(ArrowField(errorColumn, .utf8))
            columns.append(errors.finish())
        }
        do throws(ArrowError) {
            return try RecordBatch(fields: fields, columns: columns, length: produced)
        } catch {
            throw .internal("\(Self.name): \(error.message)")
        }
    }

    /// True for utf8 columns and lists of utf8.
    private static func holdsText(_ type: ArrowType) -> Bool {
        switch type {
        case .utf8, .largeUtf8: true
        case .list(let item), .fixedSizeList(let item, _): item.type == .utf8 || item.type == .largeUtf8
        default: false
        }
    }

    /// The bytes of text in row `row` (a string, or all strings of a list).
    private static func textBytes(_ column: ArrowColumn, _ row: Int) -> Int {
        guard column.isValid(row) else { return 0 }
        switch column.type {
        case .utf8, .largeUtf8:
            return column.valueRange(row).count
        case .list, .fixedSizeList:
            let range = column.valueRange(row)
            guard let last = range.last else { return 0 }
            let items = column.items
            return items.valueRange(last).upperBound - items.valueRange(range.lowerBound).lowerBound
        default:
            return 0
        }
    }

    /// The id of the `index`-th row made from the row `parent`.
    static func derivedId(_ parent: UInt64, index: Int) -> UInt64 {
        splitmix64(parent ^ (0x9E37_79B9_7F4A_7C15 &* UInt64(index + 1)))
    }

    private func mismatchMessage(_ lengths: [Int?]) -> String {
        let parts = zip(expanded, lengths).map { column, length in
            length.map { "\(column.source) has \($0)" } ?? "\(column.source) is null"
        }
        if lengths.contains(where: { $0 == nil }) {
            return "\(Self.name): cannot expand a null list: \(parts.joined(separator: ", "))"
        }
        return "\(Self.name): lists differ in length: \(parts.joined(separator: ", "))"
    }
}
