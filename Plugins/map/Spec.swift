import PipelineTemplate
import PluginKit

// What `columns:` says, read once when the step is created: for each new
// column a shape (a leaf, or a list or mapping of shapes), and the leaves:
// templates, `=` expressions and constants.

/// The form of one output value: a leaf, or a list or a mapping built from
/// shapes at its items and members.
indirect enum Shape {
    /// An index into `Recipe.leaves`.
    case leaf(Int)
    case list([Shape])
    case object([(name: String, shape: Shape)])

    /// The leaves, depth first.
    var leaves: [Int] {
        switch self {
        case .leaf(let index): [index]
        case .list(let items): items.flatMap(\.leaves)
        case .object(let members): members.flatMap(\.shape.leaves)
        }
    }
}

/// A template, an `=` expression or a constant.
struct Leaf {
    enum Kind {
        /// Rendered to text; the legacy `{column}` form also has a renderer
        /// that copies bytes (LegacyTemplate).
        case template(Template, LegacyTemplate?)
        /// Its value, with its type. A plain column path (`meta.source`,
        /// `generations[0]`) gets its type from the input's schema.
        case expression(Expression, ColumnPath?)
        /// A number, true/false or null written in `columns:`.
        case constant(Value)
    }

    /// Where it is written, for messages: `columns.messages[0].content`.
    let place: String
    let kind: Kind
}

/// An output column: its name and shape.
struct ColumnRecipe {
    let name: String
    let shape: Shape
    /// Its type from `types:`, for a column that is an `=` expression.
    var declared: DeclaredType?
}

/// Everything `columns:` says.
struct Recipe {
    var columns: [ColumnRecipe] = []
    var leaves: [Leaf] = []

    /// Reads `columns:`: a mapping (new columns in name order: the host
    /// passes parameters with sorted keys) or a list of one-entry mappings
    /// (in the list's order).
    init(_ json: PluginJSON) throws(StepError) {
        var pairs: [(String, PluginJSON)] = []
        switch json {
        case .object(let members):
            pairs = members.map { ($0.key, $0.value) }
        case .array(let items):
            for (index, item) in items.enumerated() {
                guard case .object(let members) = item, members.count == 1, let member = members.first else {
                    throw .invalidArgument("map: columns[\(index)]: each item of a list is a mapping with one entry, `name: spec`")
                }
                pairs.append((member.key, member.value))
            }
        default:
            throw .invalidArgument("map: columns: a mapping of new column names to specs (or a list of one-entry mappings)")
        }
        guard !pairs.isEmpty else { throw .invalidArgument("map: columns: name at least one column to make") }
        var seen = Set<String>()
        for (name, spec) in pairs {
            guard !name.isEmpty else { throw .invalidArgument("map: columns: a column name is empty") }
            guard !name.hasPrefix("_") else {
                throw .invalidArgument("map: columns.\(name): a column name starting with _ is reserved for the host (_row_id, _error)")
            }
            guard seen.insert(name).inserted else { throw .invalidArgument("map: columns: \"\(name)\" is listed twice") }
            let shape = try self.shape(spec, place: "columns.\(name)")
            columns.append(ColumnRecipe(name: name, shape: shape))
        }
    }

    private mutating func shape(_ json: PluginJSON, place: String) throws(StepError) -> Shape {
        switch json {
        case .string(let text):
            return .leaf(try leaf(text, place: place))
        case .integer(let value):
            leaves.append(Leaf(place: place, kind: .constant(.int(value))))
        case .number(let value):
            leaves.append(Leaf(place: place, kind: .constant(.double(value))))
        case .bool(let value):
            leaves.append(Leaf(place: place, kind: .constant(.bool(value))))
        case .null:
            leaves.append(Leaf(place: place, kind: .constant(.null)))
        case .array(let items):
            var shapes: [Shape] = []
            for (index, item) in items.enumerated() { shapes.append(try shape(item, place: "\(place)[\(index)]")) }
            return .list(shapes)
        case .object(let members):
            guard !members.isEmpty else {
                throw .invalidArgument("map: \(place): an empty mapping makes no value; give it members, or write null")
            }
            var shapes: [(name: String, shape: Shape)] = []
            for member in members { shapes.append((member.key, try shape(member.value, place: "\(place).\(member.key)"))) }
            return .object(shapes)
        }
        return .leaf(leaves.count - 1)
    }

    /// A string of `columns:`: an expression after a leading `=`, else a template.
    private mutating func leaf(_ text: String, place: String) throws(StepError) -> Int {
        if text.hasPrefix("=") {
            let source = String(text.dropFirst())
            do throws(TemplateError) {
                let expression = try Expression(parsing: source)
                leaves.append(Leaf(place: place, kind: .expression(expression, ColumnPath(source))))
            } catch {
                // Positions count the `=` too, as written.
                throw .invalidArgument("map: \(place): \(error.line):\(error.line == 1 ? error.column + 1 : error.column): \(error.message)")
            }
        } else {
            do throws(TemplateError) {
                let template = try Template(parsing: text)
                if template.isLegacy {
                    let legacy = LegacyTemplate(text)
                    // No placeholder: the same text in every row.
                    if legacy.names.isEmpty, let constant = legacy.constantText {
                        leaves.append(Leaf(place: place, kind: .constant(.string(constant))))
                    } else {
                        leaves.append(Leaf(place: place, kind: .template(template, legacy)))
                    }
                } else {
                    leaves.append(Leaf(place: place, kind: .template(template, nil)))
                }
            } catch {
                throw .invalidArgument("map: \(place): \(error.line):\(error.column): \(error.message)")
            }
        }
        return leaves.count - 1
    }
}

/// An expression that only reads a column and goes into it: `meta.source`,
/// `generations[0]`, `messages[-1]['content']`. Its values are copied as
/// they are, and its type is the one the input's schema gives that place.
struct ColumnPath: Equatable {
    enum Step: Equatable {
        case member(String)
        case index(Int)
    }

    let root: String
    let steps: [Step]

    private static let keywords: Set<String> = [
        "true", "false", "True", "False", "none", "None", "null", "and", "or", "not", "in", "is", "if", "else",
    ]

    /// The path `text` is, or nil when it is any other expression.
    init?(_ text: String) {
        let s = Array(text.unicodeScalars)
        var i = 0
        func space() { while i < s.count, s[i] == " " || s[i] == "\t" || s[i] == "\n" || s[i] == "\r" { i += 1 } }
        func isStart(_ c: Unicode.Scalar) -> Bool { c == "_" || ("a"..."z").contains(c) || ("A"..."Z").contains(c) }
        func identifier() -> String? {
            guard i < s.count, isStart(s[i]) else { return nil }
            var name = ""
            while i < s.count, isStart(s[i]) || ("0"..."9").contains(s[i]) {
                name.unicodeScalars.append(s[i])
                i += 1
            }
            return name
        }
        space()
        guard let root = identifier(), !Self.keywords.contains(root) else { return nil }
        var steps: [Step] = []
        while true {
            space()
            guard i < s.count else { break }
            if s[i] == "." {
                i += 1
                space()
                guard let name = identifier() else { return nil }
                steps.append(.member(name))
            } else if s[i] == "[" {
                i += 1
                space()
                guard i < s.count else { return nil }
                if s[i] == "'" || s[i] == "\"" {
                    let quote = s[i]
                    i += 1
                    var key = ""
                    while i < s.count, s[i] != quote {
                        if s[i] == "\\" { return nil }  // escapes: leave them to the evaluator
                        key.unicodeScalars.append(s[i])
                        i += 1
                    }
                    guard i < s.count else { return nil }
                    i += 1
                    steps.append(.member(key))
                } else {
                    var negative = false
                    if s[i] == "-" { negative = true; i += 1 }
                    var digits = ""
                    while i < s.count, ("0"..."9").contains(s[i]) {
                        digits.unicodeScalars.append(s[i])
                        i += 1
                    }
                    guard !digits.isEmpty, digits.count < 10, let number = Int(digits) else { return nil }
                    steps.append(.index(negative ? -number : number))
                }
                space()
                guard i < s.count, s[i] == "]" else { return nil }
                i += 1
            } else {
                return nil
            }
        }
        self.root = root
        self.steps = steps
    }

    var text: String {
        root + steps.map { step in
            switch step {
            case .member(let name): ".\(name)"
            case .index(let index): "[\(index)]"
            }
        }.joined()
    }

    /// The field this path reaches in a batch with `fields`, and the child
    /// taken at each step: nil when the batch has no such column or the
    /// path goes through something that is neither a struct nor a list
    /// (then the evaluator decides, per row). `missing` says which member a
    /// struct on the way lacks.
    func field(in fields: [ArrowField], missing: inout String?) -> (field: ArrowField, children: [Int])? {
        guard var field = fields.first(where: { $0.name == root }) else { return nil }
        var children: [Int] = []
        var walked = root
        for step in steps {
            switch (step, field.type) {
            case (.member(let name), .structure(let members)):
                guard let index = members.firstIndex(where: { $0.name == name }) else {
                    missing = "\(walked) has no member \"\(name)\" (its members: \(members.map(\.name).joined(separator: ", ")))"
                    return nil
                }
                children.append(index)
                field = members[index]
                walked += ".\(name)"
            case (.index(let index), .list(let item)), (.index(let index), .fixedSizeList(let item, _)):
                children.append(0)
                field = item
                walked += "[\(index)]"
            default:
                return nil
            }
        }
        return (field, children)
    }

    /// The cell row `row` of `column` reaches, taking `children` (from
    /// `field(in:)` for this batch): nil when something on the way is null
    /// or an index is out of range (the evaluator then says what, as the
    /// language defines it).
    func cell(_ column: ArrowColumn, _ row: Int, children: [Int]) -> (column: ArrowColumn, row: Int)? {
        var column = column, row = row
        for (step, child) in zip(steps, children) {
            guard column.isValid(row) else { return nil }
            switch step {
            case .member:
                guard child < column.children.count else { return nil }
                row = column.offset + row
                column = column.children[child]
            case .index(let index):
                let range = column.valueRange(row)
                let at = index < 0 ? range.count + index : index
                guard at >= 0, at < range.count else { return nil }
                row = range.lowerBound + at
                column = column.items
            }
        }
        return (column, row)
    }
}
