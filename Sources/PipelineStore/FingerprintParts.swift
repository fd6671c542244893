import PipelineBase
import PipelineJSON

/// What a step's fingerprint is made of, kept beside its hash in state.db
/// (`steps.parts`, JSON) so that a refused resume can say what changed:
///
/// ```json
/// {"plugin": "org.pipeline.load_jsonl", "version": "1.0.0",
///  "parameters": {"path": "/data/seed.jsonl", "api_token": "<hidden>"},
///  "inputs": [], "batch_size": 1000,
///  "files": {"path": {"size": 120, "modified": 1714530000.5}}}
/// ```
///
/// Secrets never reach the store: the value of a parameter (at any depth)
/// whose name looks like a credential (key, token, secret, password, ...)
/// and of a parameter that came from an environment variable is stored as
/// `"<hidden>"`. A change in a hidden value still changes the hash, and is
/// reported without the values.
public enum FingerprintParts {
    package static let hidden = JSONValue.string("<hidden>")

    /// Is `name` the name of a value that must not be stored or shown?
    package static func isSecretName(_ name: String) -> Bool {
        let lowered = name.lowercased()
        // A count of tokens (max_tokens, tokens_per_minute) is no secret.
        let words = lowered.split(whereSeparator: { !$0.isLetter && !$0.isNumber })
        let withoutCounts = words.filter { $0 != "tokens" }.joined(separator: "_")
        return ["key", "token", "secret", "password", "passwd", "credential", "authorization", "bearer"]
            .contains { withoutCounts.contains($0) }
    }

    /// `value` with every value under a secret-looking key replaced.
    package static func redacted(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let object):
            var result: [String: JSONValue] = [:]
            for (key, item) in object { result[key] = isSecretName(key) ? hidden : redacted(item) }
            return .object(result)
        case .array(let items):
            return .array(items.map(redacted))
        default:
            return value
        }
    }

    /// What differs between two steps' parts, for people:
    /// `with.temperature 0.7 → 0.9; batch_size 1000 → 500`. Empty when the
    /// visible parts are the same (a hidden value changed, or the parts do
    /// not tell).
    static func changes(from old: JSONValue, to new: JSONValue) -> [String] {
        var changes: [String] = []
        let oldPlugin = old["plugin"]?.stringValue ?? "?", newPlugin = new["plugin"]?.stringValue ?? "?"
        let oldVersion = old["version"]?.stringValue ?? "?", newVersion = new["version"]?.stringValue ?? "?"
        if oldPlugin != newPlugin {
            changes.append("plugin \(oldPlugin) \(oldVersion) → \(newPlugin) \(newVersion)")
        } else if oldVersion != newVersion {
            changes.append("\(newPlugin) version \(oldVersion) → \(newVersion)")
        }
        let oldParameters = old["parameters"]?.objectValue ?? [:], newParameters = new["parameters"]?.objectValue ?? [:]
        for key in Set(oldParameters.keys).union(newParameters.keys).sorted() {
            let before = oldParameters[key], after = newParameters[key]
            guard before != after else { continue }
            if before == hidden || after == hidden {
                changes.append("with.\(key) (the value is not shown)")
            } else {
                changes.append("with.\(key) \(describe(before)) → \(describe(after))")
            }
        }
        if old["inputs"] != new["inputs"] {
            changes.append("input \(describe(old["inputs"])) → \(describe(new["inputs"]))")
        }
        if old["batch_size"] != new["batch_size"] {
            changes.append("batch_size \(describe(old["batch_size"])) → \(describe(new["batch_size"]))")
        }
        if let before = old["llm"], before != new["llm"] {
            let after = new["llm"]
            let name = before["name"]?.stringValue ?? "?"
            if before["name"] != after?["name"] {
                changes.append("llm \(describe(before["name"])) → \(describe(after?["name"]))")
            }
            if before["model"] != after?["model"] {
                changes.append("llm \(name) model \(describe(before["model"])) → \(describe(after?["model"]))")
            }
            let oldParams = before["params"]?.objectValue ?? [:], newParams = after?["params"]?.objectValue ?? [:]
            for key in Set(oldParams.keys).union(newParams.keys).sorted() where oldParams[key] != newParams[key] {
                changes.append("llm \(name) params.\(key) \(describe(oldParams[key])) → \(describe(newParams[key]))")
            }
        }
        let oldFiles = old["files"]?.objectValue ?? [:], newFiles = new["files"]?.objectValue ?? [:]
        for key in Set(oldFiles.keys).union(newFiles.keys).sorted() where oldFiles[key] != newFiles[key] {
            // A changed path is reported with the parameter already.
            guard oldParameters[key] == newParameters[key] else { continue }
            let path = newParameters[key]?.stringValue.map { " \($0)" } ?? ""
            changes.append("the input file\(path) (with.\(key)) changed: \(describeFile(oldFiles[key])) → \(describeFile(newFiles[key]))")
        }
        if changes.isEmpty {
            // Nothing visible changed, so a hidden value did: name where.
            let candidates = Set(oldParameters.keys).union(newParameters.keys).sorted().filter { key in
                containsHidden(oldParameters[key]) || containsHidden(newParameters[key])
            }
            if !candidates.isEmpty {
                let names = candidates.map { "with.\($0)" }.joined(separator: " or ")
                changes.append("\(names) (the value is not shown: a secret, or from the environment)")
            }
        }
        return changes
    }

    static func containsHidden(_ value: JSONValue?) -> Bool {
        switch value {
        case hidden?: return true
        case .object(let object)?: return object.values.contains { containsHidden($0) }
        case .array(let items)?: return items.contains { containsHidden($0) }
        default: return false
        }
    }

    /// A value for a message: JSON, cut short.
    static func describe(_ value: JSONValue?) -> String {
        guard let value else { return "(not set)" }
        let text = value.serialized
        return text.count > 60 ? String(text.prefix(57)) + "..." : text
    }

    static func describeFile(_ value: JSONValue?) -> String {
        guard let size = value?["size"]?.int64Value, let modified = value?["modified"]?.doubleValue else {
            return "(absent)"
        }
        return "\(size) bytes, modified \(TimeText.local(modified))"
    }
}
