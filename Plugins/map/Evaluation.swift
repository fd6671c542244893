import PipelineTemplate
import PluginKit

/// What one leaf gave for one row.
enum Outcome {
    case null
    case value(Value)
    /// Text: bytes `start..<end` of the leaf's arena.
    case text(Int, Int)
    /// A cell of the input, copied as it is (a plain path's value).
    case cell(ArrowColumn, Int)
    /// Why there is no value: the row becomes an error row.
    case failed(String)
}

/// One leaf over a batch.
struct LeafOutcomes {
    var outcomes: [Outcome] = []
    /// The bytes of the `.text` outcomes.
    var arena: [UInt8] = []
    /// For a plain path: the input's field at the path, in this batch.
    var pathField: ArrowField?
    /// A whole column `= name` is: the input's column itself, no row copied.
    var wholeColumn: ArrowColumn?
}

/// A batch's columns as the template language sees them, at one row.
final class Cursor {
    let columns: [String: ArrowColumn]
    var row = 0

    init(_ batch: RecordBatch) {
        var columns: [String: ArrowColumn] = [:]
        for (field, column) in zip(batch.fields, batch.columns) where columns[field.name] == nil { columns[field.name] = column }
        self.columns = columns
    }

    func value(_ name: String) -> Value? {
        columns[name].map { PromptTemplate.value($0, row) }
    }
}

/// Every leaf of the recipe evaluated over one batch, then the new columns built.
struct Evaluation {
    let recipe: Recipe
    let length: Int
    var leaves: [LeafOutcomes] = []

    /// `targets`: each leaf's column type once the types are fixed (nil for
    /// the first batch, which fixes them).
    init(recipe: Recipe, batch: RecordBatch, targets: [ArrowType?]?) throws(StepError) {
        self.recipe = recipe
        length = batch.length
        let cursor = Cursor(batch)
        let lookup: (String) -> Value? = { cursor.value($0) }
        var declared: [Int: DeclaredType] = [:]
        var wholeColumns = Set<Int>()
        for column in recipe.columns {
            guard case .leaf(let index) = column.shape else { continue }
            wholeColumns.insert(index)
            if let type = column.declared { declared[index] = type }
        }
        let rows = batch.length
        for (index, leaf) in recipe.leaves.enumerated() {
            var result = LeafOutcomes()
            result.outcomes.reserveCapacity(rows)
            switch leaf.kind {
            case .constant(let value):
                result.outcomes = Array(repeating: value.isNull ? .null : .value(value), count: rows)
            case .template(let template, let legacy):
                let columns = legacy?.columns(cursor.columns)
                for row in 0..<rows {
                    let start = result.arena.count
                    if let legacy, let columns, legacy.render(row: row, columns: columns, into: &result.arena) {
                        result.outcomes.append(.text(start, result.arena.count))
                        continue
                    }
                    cursor.row = row
                    do throws(TemplateError) {
                        let text = try template.render(lookup, nullOutput: .error)
                        result.arena.append(contentsOf: text.utf8)
                        result.outcomes.append(.text(start, result.arena.count))
                    } catch {
                        result.outcomes.append(.failed("\(leaf.place): \(error.line):\(error.column): \(error.message)"))
                    }
                }
            case .expression(let expression, let path):
                let type = declared[index]
                var fast: (root: ArrowColumn, children: [Int])?
                if let path, type == nil {
                    var missing: String?
                    if let found = path.field(in: batch.fields, missing: &missing), let root = cursor.columns[path.root] {
                        if targets.map({ $0[index] == found.field.type }) ?? true {
                            result.pathField = found.field
                            if path.steps.isEmpty && wholeColumns.contains(index) {
                                result.wholeColumn = root
                                leaves.append(result)
                                continue
                            }
                            fast = (root, found.children)
                        }
                    } else if let missing {
                        throw .invalidArgument("map: \(leaf.place): =\(expression.text): \(missing)")
                    }
                }
                for row in 0..<rows {
                    if let fast, let path, let cell = path.cell(fast.root, row, children: fast.children) {
                        result.outcomes.append(cell.column.isValid(cell.row) ? .cell(cell.column, cell.row) : .null)
                        continue
                    }
                    cursor.row = row
                    do throws(TemplateError) {
                        let value = try expression.evaluate(lookup)
                        if value.isNull {
                            result.outcomes.append(.null)
                        } else if type?.isJSON == true {
                            do throws(RowError) {
                                let text = try Values.json(value, at: leaf.place)
                                let start = result.arena.count
                                result.arena.append(contentsOf: text.utf8)
                                result.outcomes.append(.text(start, result.arena.count))
                            } catch {
                                result.outcomes.append(.failed(error.message))
                            }
                        } else {
                            result.outcomes.append(.value(value))
                        }
                    } catch {
                        // Positions count the `=` too, as written.
                        let column = error.line == 1 ? error.column + 1 : error.column
                        result.outcomes.append(.failed("\(leaf.place): \(error.line):\(column): \(error.message)"))
                    }
                }
            }
            leaves.append(result)
        }
    }

    // MARK: Types

    /// The type of `shape`'s values in this batch (for the first batch).
    func type(of shape: Shape, declared: DeclaredType?, place: String) throws(StepError) -> VType {
        switch shape {
        case .leaf(let index):
            switch recipe.leaves[index].kind {
            case .template: return .string
            case .constant(let value): return VType.of(value) ?? .unknown
            case .expression:
                if let declared { return .exact(declared.field) }
                if let field = leaves[index].pathField { return .exact(field) }
                var type = VType.unknown
                for outcome in leaves[index].outcomes {
                    guard case .value(let value) = outcome, let next = VType.of(value), let joined = VType.unify(type, next) else { continue }
                    type = joined
                }
                return type
            }
        case .list(let items):
            var type = VType.unknown
            for (index, item) in items.enumerated() {
                let next = try self.type(of: item, declared: nil, place: "\(place)[\(index)]")
                guard let joined = VType.unify(type, next) else {
                    throw .invalidArgument("map: \(place)[\(index)] is \(next.displayName) where the items before it are "
                                           + "\(type.displayName): the items of a list have one type")
                }
                type = joined
            }
            return .list(type)
        case .object(let members):
            var fields: [(name: String, type: VType)] = []
            for member in members {
                fields.append((member.name, try type(of: member.shape, declared: nil, place: "\(place).\(member.name)")))
            }
            return .object(fields)
        }
    }

    // MARK: Building

    /// The column `column` of this batch; the reasons of rows whose value
    /// could not be made go to `problems` (the value is then null).
    func build(_ column: ColumnRecipe, field: ArrowField, problems: inout [[String]]) -> ArrowColumn {
        if case .leaf(let index) = column.shape, let whole = leaves[index].wholeColumn { return whole }
        let builder = ColumnBuilder(field.type)
        // Constants never fail and fit by construction; text fits its utf8
        // place; a value of an expression may not fit.
        var fallible: [Int] = []
        var checked = false
        for id in column.shape.leaves {
            switch recipe.leaves[id].kind {
            case .constant: break
            case .template: fallible.append(id)
            case .expression: fallible.append(id); checked = true
            }
        }
        let place = "columns.\(column.name)"
        for row in 0..<length {
            var failed = false
            for id in fallible {
                if case .failed(let message) = leaves[id].outcomes[row] {
                    problems[row].append(message)
                    failed = true
                }
            }
            if !failed, checked, let message = mismatch(column.shape, field.type, row: row, place: { place }) {
                problems[row].append(message)
                failed = true
            }
            if failed { builder.appendNull() } else { append(column.shape, to: builder, row: row) }
        }
        return builder.finish()
    }

    /// Why row `row` of `shape` does not go into a column of `type`.
    private func mismatch(_ shape: Shape, _ type: ArrowType, row: Int, place: () -> String) -> String? {
        switch shape {
        case .leaf(let index):
            switch leaves[index].outcomes[row] {
            case .null, .failed: return nil
            case .value(let value):
                return Values.mismatch(value, type, at: place)
            case .text:
                switch type {
                case .utf8, .largeUtf8: return nil
                default: return "\(place()): got text, the column is \(type.displayName)"
                }
            case .cell(let column, _):
                return column.type.hasSameLayout(as: type) || (type == .utf8 && column.type == .largeUtf8)
                    ? nil : "\(place()): got \(column.type.displayName), the column is \(type.displayName)"
            }
        case .list(let items):
            guard case .list(let item) = type else { return "\(place()): a list, the column is \(type.displayName)" }
            for (index, shape) in items.enumerated() {
                if let message = mismatch(shape, item.type, row: row, place: { "\(place())[\(index)]" }) { return message }
            }
            return nil
        case .object(let members):
            guard case .structure(let fields) = type, fields.count == members.count else {
                return "\(place()): a mapping, the column is \(type.displayName)"
            }
            for (member, field) in zip(members, fields) {
                if let message = mismatch(member.shape, field.type, row: row, place: { "\(place()).\(member.name)" }) { return message }
            }
            return nil
        }
    }

    /// Appends row `row` of `shape`, which `mismatch` accepted.
    private func append(_ shape: Shape, to builder: ColumnBuilder, row: Int) {
        switch shape {
        case .leaf(let index):
            switch leaves[index].outcomes[row] {
            case .null, .failed: builder.appendNull()
            case .value(let value): Values.append(value, to: builder)
            case .text(let start, let end):
                leaves[index].arena.withUnsafeBytes { bytes in
                    builder.appendUTF8(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
                }
            case .cell(let column, let cell): builder.append(from: column, row: cell)
            }
        case .list(let items):
            let itemBuilder = builder.items
            for shape in items { append(shape, to: itemBuilder, row: row) }
            builder.endListRow()
        case .object(let members):
            for (index, member) in members.enumerated() { append(member.shape, to: builder.field(index), row: row) }
            builder.endStructRow()
        }
    }
}
