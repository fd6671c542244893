import Foundation
import PipelineJSON
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

enum DeitaSupport {
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
        throws(StepError) -> [String: PromptTemplate]
    {
        var texts = defaults
        if let file {
            let text = try readFile(file, step: step)
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.hasPrefix("{"), let object = (try? JSONValue(parsing: trimmed))?.objectValue {
                for (key, value) in object.sorted(by: { $0.key < $1.key }) {
                    guard defaults[key] != nil else {
                        throw .invalidArgument("\(step): template_file names method \"\(key)\"; the methods are \(defaults.keys.sorted().joined(separator: ", "))")
                    }
                    guard let template = value.stringValue else {
                        throw .invalidArgument("\(step): template_file: the template for \"\(key)\" is not a string")
                    }
                    texts[key] = template
                }
            } else {
                for key in defaults.keys { texts[key] = text }
            }
        }
        var result: [String: PromptTemplate] = [:]
        for (key, text) in texts { result[key] = try template(text, allowed: allowed, step: step) }
        return result
    }

    /// A template whose placeholders are all among `allowed`.
    static func template(_ text: String, allowed: Set<String>, step: String) throws(StepError) -> PromptTemplate {
        let template = try PromptTemplate(text)
        try template.check(placeholders: allowed, step: step)
        return template
    }
}
