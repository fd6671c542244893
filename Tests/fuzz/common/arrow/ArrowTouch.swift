import PipelineArrow

/// Reads every value of a batch through the public accessors, so a column
/// whose buffers disagree with its length is caught by AddressSanitizer.
func touchEveryValue(_ batch: RecordBatch) -> Int {
    var sum = 0
    for column in batch.columns {
        expect(column.length == batch.length, "column length \(column.length) != batch length \(batch.length)")
        sum &+= touch(column)
    }
    return sum
}

func touch(_ column: ArrowColumn) -> Int {
    var sum = 0
    // A struct has no values of its own (its children are read below), and
    // one without children may claim any length.
    let rows = column.type.isStruct && column.nullCount == 0 ? 0 : column.length
    for row in 0..<rows {
        guard column.isValid(row) else { continue }
        switch column.type {
        case .bool: sum &+= column.bool(row) ? 1 : 0
        case .int64: sum &+= Int(truncatingIfNeeded: column.int64(row))
        case .uint64: sum &+= Int(truncatingIfNeeded: column.uint64(row))
        case .float64: sum &+= column.float64(row).isNaN ? 1 : 0
        case .float32: sum &+= column.float32(row).isNaN ? 1 : 0
        case .utf8, .largeUtf8: sum &+= column.string(row)?.utf8.count ?? 0
        case .list(let item):
            let range = column.valueRange(row)
            expect(range.lowerBound >= 0 && range.upperBound <= column.items.length, "list row \(row) out of its items")
            if item.type == .utf8 { sum &+= column.stringList(row)?.count ?? 0 }
            if item.type == .float64 { sum &+= column.float64List(row)?.count ?? 0 }
        case .fixedSizeList(let item, _):
            if item.type == .float32 { sum &+= column.float32Vector(row).reduce(0) { $0 + ($1.isNaN ? 1 : 0) } }
        case .structure:
            break
        }
    }
    for child in column.children { sum &+= touch(child) }
    return sum
}

extension ArrowType {
    var isStruct: Bool { if case .structure = self { true } else { false } }
}
