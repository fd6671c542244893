import PipelineTemplate
import PluginKit

// `map`: new columns from templates and expressions over a row's columns,
// nested values included (SFT `messages`, a list's item, a struct's
// member). Parsed once when the step is created (and by the host at
// validation, with line:column: "format": "added-columns"); each batch
// evaluates only the columns the specs read. Nothing of the host is ever
// evaluated.

@_cdecl("pipeline_plugin_entry")
public func pipelinePluginEntry(_ host: UnsafePointer<pipeline_host>?) -> UnsafePointer<pipeline_plugin>? {
    PluginExport.entry(
        host: host, name: "org.pipeline.map", version: "1.0.0",
        description: "New columns from templates and expressions over a row's columns.",
        steps: [Map.self])
}

/// The `columns:` parameter: a mapping (or a list of one-entry mappings)
/// of new column names to specs, which the host checks at validation
/// ("format": "added-columns").
struct ColumnsParameter: ParameterValue {
    let json: PluginJSON

    static var schema: [(key: String, value: PluginJSON)] {
        [("type", .array([.string("object"), .string("array")])), ("format", .string("added-columns"))]
    }
    static var typeName: String { "a mapping of column names to specs" }
    static func decode(_ json: PluginJSON) -> ColumnsParameter? {
        switch json {
        case .object, .array: ColumnsParameter(json: json)
        default: nil
        }
    }
}

struct Map: PipelineStep {
    static let columns = Parameter<ColumnsParameter>("columns", description: """
        The new columns, in order: `name: spec`, as a mapping (the columns come in name order) or a list of \
        one-entry mappings (in the list's order). A spec is a template of the template language \
        (docs/pipelines.md, Templates and expressions: `{question}` or `{{ question | trim }}`), giving text; \
        a string starting with `=`, an expression whose value is the column, with its type (`= generations[0]`, \
        `= meta.source`, `= messages | length`); or a list or mapping of specs, giving a list or struct \
        (`[{role: user, content: "{question}"}, {role: assistant, content: "{answer}"}]`), where numbers, \
        true/false and null are constants. A column the input already has is an error unless listed in replace.
        """)
    static let replace = Parameter<[String]>("replace", default: [],
        ParameterRule(keyword: "format", value: .string("replaced-columns")), description: """
        New columns that may replace an input column of the same name (in its place); any other name the \
        input already has is an error, so nothing is overwritten by accident.
        """)
    static let drop = Parameter<[String]>("drop", default: [],
        ParameterRule(keyword: "format", value: .string("dropped-columns")), description: """
        Input columns to leave out of the output, after the new columns are made (flattening a struct: \
        `text: "= meta.text"` and drop: [meta]). A name the input does not have is an error.
        """)
    static let types = Parameter<[String: String]>("types", default: [:],
        ParameterRule(keyword: "additionalProperties", value: .object([("enum", .array(DeclaredType.names.map(PluginJSON.string)))])),
        description: """
        The type of an `=` column, when its values should not decide it: int64, float64, bool, utf8, \
        list<utf8>, list<int64>, list<float64>, list<bool>, or json (any value, kept as its JSON text). \
        Without it a column's type is that of the input's place for a plain path (`= meta.source`, \
        `= generations[0]`), else the type the first batch's values share; a later value of another type \
        makes an error row.
        """)

    static let info = StepInfo(
        kind: .step, id: "org.pipeline.map", name: "map", version: "1.0.0",
        description: """
            Adds columns made from each row's columns: text from templates, typed values from `=` expressions \
            (a list's item, a struct's member, a length, arithmetic) and nested lists and structs built from \
            them (SFT or DPO `messages`). Every input column passes through; replace lets a new column take \
            an input column's place, drop leaves input columns out. Templates and expressions are checked \
            when the pipeline is validated, at their line and column, against the columns earlier steps \
            produce. A row whose value cannot be made (a template printing a null, a type error, a value \
            that does not fit its column's type) becomes an error row saying why.
            """,
        inputs: [.init("*", "any", description: "the columns the specs read must be among them")],
        outputs: [.init("*", "any", description: "the input columns (without drop), then the new columns")],
        parameters: [columns, replace, drop, types],
        stateful: true)

    let recipe: Recipe
    let replaced: Set<String>
    let dropped: [String]
    /// The new columns' fields, fixed by the first batch with rows.
    var fields: [ArrowField]?
    /// The type each leaf's values go into (from `fields`).
    var targets: [ArrowType?] = []

    init(parameters: ParameterValues, context: StepContext) throws(StepError) {
        var recipe = try Recipe(try parameters[Self.columns].json)
        let names = Set(recipe.columns.map(\.name))
        let replace = try parameters[Self.replace]
        for name in replace where !names.contains(name) {
            throw .invalidArgument("map: replace: \"\(name)\" is not one of the new columns (columns: makes \(recipe.columns.map(\.name).joined(separator: ", ")))")
        }
        let drop = try parameters[Self.drop]
        for name in drop {
            if names.contains(name) {
                throw .invalidArgument("map: drop: \"\(name)\" is a new column (columns: makes it); drop leaves input columns out")
            }
            if name.hasPrefix("_") {
                throw .invalidArgument("map: drop: \"\(name)\" is the host's; it cannot be dropped")
            }
        }
        for (name, typeName) in try parameters[Self.types] {
            guard let index = recipe.columns.firstIndex(where: { $0.name == name }) else {
                throw .invalidArgument("map: types: \"\(name)\" is not one of the new columns")
            }
            guard case .leaf(let leaf) = recipe.columns[index].shape, case .expression = recipe.leaves[leaf].kind else {
                throw .invalidArgument("map: types: \"\(name)\" is not an `=` expression; a template is text (utf8), a list or mapping gets its type from its parts")
            }
            guard let declared = DeclaredType(typeName) else {
                throw .invalidArgument("map: types.\(name): \"\(typeName)\" is not a type (one of \(DeclaredType.names.joined(separator: ", ")))")
            }
            recipe.columns[index].declared = declared
        }
        self.recipe = recipe
        replaced = Set(replace)
        dropped = drop
    }

    mutating func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        guard let batch, batch.length > 0 else { return nil }
        for column in recipe.columns where batch.index(of: column.name) != nil && !replaced.contains(column.name) {
            throw .invalidArgument("map: columns.\(column.name): the input already has a column \"\(column.name)\"; "
                                   + "list it in replace: to put the new values in its place, or give the new column another name")
        }
        for name in dropped where batch.index(of: name) == nil {
            throw .invalidData("map: drop: the input has no column \"\(name)\" (it has \(batch.fields.map(\.name).filter { !$0.hasPrefix("_") }.joined(separator: ", ")))")
        }
        let evaluation = try Evaluation(recipe: recipe, batch: batch, targets: fields == nil ? nil : targets)
        if fields == nil { try resolve(evaluation, context: context) }
        guard let fields else { throw .internal("map: the column types were not set") }

        // The new columns, and why rows failed.
        var problems = [[String]](repeating: [], count: batch.length)
        var built: [ArrowColumn] = []
        for (index, column) in recipe.columns.enumerated() {
            built.append(evaluation.build(column, field: fields[index], problems: &problems))
        }

        var outFields = batch.fields
        var outColumns = batch.columns
        if let index = outFields.firstIndex(where: { $0.name == "_error" }) {
            outFields.remove(at: index)
            outColumns.remove(at: index)
        }
        for (index, field) in fields.enumerated() {
            if let existing = outFields.firstIndex(where: { $0.name == field.name }) {
                outFields[existing] = field
                outColumns[existing] = built[index]
            } else {
                outFields.append(field)
                outColumns.append(built[index])
            }
        }
        for name in dropped {
            if let index = outFields.firstIndex(where: { $0.name == name }) {
                outFields.remove(at: index)
                outColumns.remove(at: index)
            }
        }
        if problems.contains(where: { !$0.isEmpty }) {
            let errors = ColumnBuilder(.utf8)
            for row in problems { errors.append(row.isEmpty ? nil : "map: " + row.joined(separator: "; ")) }
            outFields.append(ArrowField("_error", .utf8))
            outColumns.append(errors.finish())
        }
        do { return try RecordBatch(fields: outFields, columns: outColumns, length: batch.length) } catch {
            throw .internal("map: \(error.message)")
        }
    }

    /// Fixes each new column's type from the first batch with rows: a
    /// template's is utf8; a constant's its own; an `=` column's the
    /// declared one, else the input's type at a plain path, else what the
    /// batch's values share (utf8 when they are all null); lists and
    /// mappings of those.
    private mutating func resolve(_ evaluation: Evaluation, context: StepContext) throws(StepError) {
        var fields: [ArrowField] = []
        var targets = [ArrowType?](repeating: nil, count: recipe.leaves.count)
        for column in recipe.columns {
            let type = try evaluation.type(of: column.shape, declared: column.declared, place: "columns.\(column.name)")
            if case .unknown = type {
                context.log(.warning, "map: columns.\(column.name): every value of the first batch is null, so the column is utf8 for the run; "
                            + "declare its type with types: if it holds something else")
            }
            let field = type.field(column.name)
            Self.assign(column.shape, field.type, into: &targets)
            fields.append(field)
        }
        self.fields = fields
        self.targets = targets
        context.log(.debug, "map: new columns " + fields.map { "\($0.name): \($0.type.displayName)" }.joined(separator: ", "))
    }

    /// The type each leaf's values go into, walking `shape` and `type` together.
    private static func assign(_ shape: Shape, _ type: ArrowType, into targets: inout [ArrowType?]) {
        switch (shape, type) {
        case (.leaf(let index), _):
            targets[index] = type
        case (.list(let items), .list(let item)):
            for shape in items { assign(shape, item.type, into: &targets) }
        case (.object(let members), .structure(let fields)):
            for member in members {
                if let field = fields.first(where: { $0.name == member.name }) { assign(member.shape, field.type, into: &targets) }
            }
        default:
            break
        }
    }
}
