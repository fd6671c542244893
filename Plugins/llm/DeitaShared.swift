import Foundation
import PluginKit

// Shared pieces of the DEITA steps (evol_instruct, evol_quality,
// complexity_scorer, quality_scorer).

/// SplitMix64 (Steele, Lea, Flood 2014): the method for a row's round is a
/// pure function of (seed, _row_id, round), so it never depends on batch
/// boundaries, worker order or a resume.
enum SplitMix64 {
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform index below `count` for (seed, row, round).
    static func choice(seed: Int64, row: UInt64, round: Int, count: Int) -> Int {
        let value = mix(mix(mix(UInt64(bitPattern: seed)) ^ row) ^ UInt64(round))
        // Multiply-shift on the top 32 bits (Swift: >> binds tighter than *).
        return Int(((value >> 32) &* UInt64(count)) >> 32)
    }
}

/// A template with `{name}` placeholders filled from a dictionary in one
/// pass (a value is never scanned for placeholders again); `{{`/`}}` are
/// literal braces.
struct FilledTemplate: Sendable {
    let template: PromptTemplate

    init(_ text: String, allowed: Set<String>, step: String) throws(StepError) {
        template = try PromptTemplate(text)
        for name in template.columns where !allowed.contains(name) {
            throw .invalidArgument("\(step): the template names {\(name)}; it may use \(allowed.sorted().map { "{\($0)}" }.joined(separator: ", "))")
        }
    }

    func render(_ values: [String: String]) -> String {
        var out = ""
        for part in template.parts {
            switch part {
            case .text(let text): out += text
            case .column(let name): out += values[name] ?? ""
            }
        }
        return out
    }
}

enum DeitaSupport {
    /// Generation options as JSON, or nil for the LLM's defaults.
    static func options(temperature: Double?, maxTokens: Int?, topP: Double?, seed: Int?) -> String? {
        var options: [String] = []
        if let temperature { options.append("\"temperature\":\(temperature)") }
        if let maxTokens { options.append("\"max_tokens\":\(maxTokens)") }
        if let topP { options.append("\"top_p\":\(topP)") }
        if let seed { options.append("\"seed\":\(seed)") }
        return options.isEmpty ? nil : "{" + options.joined(separator: ",") + "}"
    }

    static func readFile(_ path: String, step: String) throws(StepError) -> String {
        do { return try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw .invalidArgument("\(step): cannot read template_file \(path): \(error.localizedDescription)")
        }
    }

    /// Per-method templates from `template_file`: a JSON object of method
    /// name → template replaces those methods' templates; any other text is
    /// one template for every method (its `{method}` is the method's
    /// directive).
    static func methodTemplates(file: String?, defaults: [String: String], allowed: Set<String>, step: String)
        throws(StepError) -> [String: FilledTemplate]
    {
        var texts = defaults
        if let file {
            let text = try readFile(file, step: step)
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.hasPrefix("{"), let object = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8)) as? [String: Any] {
                for (key, value) in object {
                    guard defaults[key] != nil else {
                        throw .invalidArgument("\(step): template_file names method \"\(key)\"; the methods are \(defaults.keys.sorted().joined(separator: ", "))")
                    }
                    guard let template = value as? String else {
                        throw .invalidArgument("\(step): template_file: the template for \"\(key)\" is not a string")
                    }
                    texts[key] = template
                }
            } else {
                for key in defaults.keys { texts[key] = text }
            }
        }
        var result: [String: FilledTemplate] = [:]
        for (key, text) in texts { result[key] = try FilledTemplate(text, allowed: allowed, step: step) }
        return result
    }

    static func rowIDs(_ batch: RecordBatch, step: String) throws(StepError) -> ArrowColumn {
        guard let ids = batch.column("_row_id"), ids.type == .uint64 else {
            throw .invalidData("\(step): the input has no uint64 _row_id column (the host adds it); the method choice is keyed by it")
        }
        return ids
    }

    static func stringColumn(_ batch: RecordBatch, _ name: String, step: String, param: String) throws(StepError) -> ArrowColumn {
        guard let column = batch.column(name) else {
            throw .invalidData("\(step): no column \"\(name)\" (\(param)); the input has \(batch.fields.map(\.name).joined(separator: ", "))")
        }
        guard column.type == .utf8 || column.type == .largeUtf8 else {
            throw .invalidData("\(step): column \"\(name)\" is \(column.type.displayName), not utf8")
        }
        return column
    }

    static func afterMarker(_ text: String, markers: [String]) -> String {
        RewriteParsing.afterMarker(text, markers: markers)
    }

    static func degenerate(_ rewrite: String, input: String, markerWords: [String]) -> String? {
        RewriteParsing.degenerate(rewrite, input: input, markerWords: markerWords)
    }

    /// The input with `outputs` (and any old _error) replaced by the new
    /// columns, plus _error when a row failed.
    static func assemble(_ batch: RecordBatch, outputs: [(ArrowField, ArrowColumn)], errors: [String?])
        throws(StepError) -> RecordBatch
    {
        let replaced = Set(outputs.map(\.0.name)).union(["_error"])
        var fields = batch.fields.filter { !replaced.contains($0.name) }
        var columns = fields.map { field in batch.columns[batch.index(of: field.name) ?? 0] }
        for (field, column) in outputs {
            fields.append(field)
            columns.append(column)
        }
        if errors.contains(where: { $0 != nil }) {
            let builder = ColumnBuilder(.utf8)
            for error in errors { builder.append(error) }
            fields.append(ArrowField("_error", .utf8))
            columns.append(builder.finish())
        }
        do { return try RecordBatch(fields: fields, columns: columns, length: batch.length) } catch {
            throw .internal(error.message)
        }
    }
}
