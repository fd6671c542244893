import PipelineArrow
import PipelineTemplate

/// A prompt template over a row's columns, in the pipeline's one template
/// language (PipelineTemplate; docs/pipelines.md, "Templates and
/// expressions"):
///
/// - Jinja form, when the text has `{{`, `{%` or `{#`: `{{ column }}`,
///   filters, `{% if %}`, `{% for %}`. A column's value is what the row
///   holds (text, numbers, lists, structs as objects, null as none);
///   printing a null (`{{ x }}` with x null) is a row error, never the text
///   "None": test it with `is none`.
/// - The legacy form otherwise: `{name}` is replaced by the column (text as
///   is, numbers and lists as JSON); a null makes the row an error.
///
/// A value is never scanned for placeholders again.
public struct PromptTemplate: Sendable {
    public let template: Template

    public init(_ text: String) throws(StepError) {
        do throws(TemplateError) { template = try Template(parsing: text) } catch {
            throw .invalidArgument("template: \(error.line):\(error.column): \(error.message)")
        }
    }

    /// The template's text.
    public var text: String { template.text }

    /// True for the Jinja form.
    public var isJinja: Bool { !template.isLegacy }

    /// The names the template reads (its columns), in order of first use.
    public var placeholders: [String] { template.names }

    /// The prompt for a row; nil when it cannot be rendered (a column it
    /// prints is null, or a Jinja error: `render(row:)` says which).
    public func render(_ row: TaskRow) -> String? {
        try? render(row: row)
    }

    /// The prompt for a row, or why there is none ("template 3:14: 'x' is
    /// undefined", "... is null").
    public func render(row: TaskRow) throws(RowError) -> String {
        do throws(TemplateError) {
            return try template.render({ name in
                guard let column = row.columns[name] else { return nil }
                return Self.value(column, row.index)
            }, nullOutput: .error)
        } catch {
            throw RowError("template \(error.line):\(error.column): \(error.message)")
        }
    }

    /// The text with each placeholder replaced by its value ("" for a name
    /// `values` lacks: check names with `placeholders` first); "" when a
    /// Jinja template fails (`render(values:)` says why).
    public func render(_ values: [String: String]) -> String {
        (try? render(values: values)) ?? ""
    }

    /// The text for named values (a name `values` lacks is "").
    public func render(values: [String: String]) throws(RowError) -> String {
        do throws(TemplateError) {
            return try template.render({ .string(values[$0] ?? "") }, nullOutput: .error)
        } catch {
            throw RowError("template \(error.line):\(error.column): \(error.message)")
        }
    }

    /// Throws unless every placeholder is one of `allowed`.
    public func check(placeholders allowed: Set<String>, step: String) throws(StepError) {
        let show: (String) -> String = { isJinja ? "{{ \($0) }}" : "{\($0)}" }
        for name in placeholders where !allowed.contains(name) {
            throw .invalidArgument("\(step): the template names \(show(name)); it may use \(allowed.sorted().map(show).joined(separator: ", "))")
        }
    }

    /// A column's value at `row` as the template language sees it: utf8 →
    /// string, int64 → int, uint64 → int (a double above 2^63-1), float →
    /// double, bool, list → list, struct → object in field order; null.
    public static func value(_ column: ArrowColumn, _ row: Int) -> Value {
        guard column.isValid(row) else { return .null }
        switch column.type {
        case .bool: return .bool(column.bool(row))
        case .int64: return .int(column.int64(row))
        case .uint64:
            let u = column.uint64(row)
            return u <= UInt64(Int64.max) ? .int(Int64(u)) : .double(Double(u))
        case .float32: return .double(Double(column.float32(row)))
        case .float64: return .double(column.float64(row))
        case .utf8, .largeUtf8: return .string(column.string(row) ?? "")
        case .list, .fixedSizeList: return .list(column.valueRange(row).map { value(column.items, $0) })
        case .structure(let fields):
            var object = ValueObject()
            for (index, field) in fields.enumerated() where index < column.children.count {
                let member = value(column.children[index], column.offset + row)
                // A member the JSON object did not have is not there (as write_jsonl leaves it out).
                if member.isNull, field.metadata[ArrowField.nullIsAbsentKey] != nil { continue }
                object[field.name] = member
            }
            return .object(object)
        }
    }

    /// A column's value as the legacy form writes it (`TaskRow.promptText`).
    static func text(_ column: ArrowColumn, _ row: Int) -> String {
        Template.legacyText(value(column, row))
    }
}
