/// `${NAME}` and `${NAME:-default}` in pipeline file scalars.
///
/// - `${NAME}`: the variable's value; an error when it is not set (an empty
///   value is a value).
/// - `${NAME:-default}`: the value, or `default` when the variable is unset
///   or empty (as in the shell). The default is taken literally.
/// - `$${` is a literal `${`; any other `$` is itself.
///
/// Messages name variables, never their values: values are often secrets.
enum Interpolation {
    struct Result: Sendable {
        var text: String
        /// The variables whose values went into `text`, in order, each once.
        var variables: [String]
    }

    /// Expands `text`; on failure, one message per problem.
    static func expand(_ text: String, environment: [String: String]) -> Swift.Result<Result, Problems> {
        // The common case: nothing to do.
        guard text.utf8.contains(UInt8(ascii: "$")) else { return .success(Result(text: text, variables: [])) }
        var out = ""
        var variables: [String] = []
        var problems: [String] = []
        var rest = Substring(text)
        while let dollar = rest.firstIndex(of: "$") {
            out += rest[..<dollar]
            let after = rest[dollar...].dropFirst()
            if after.hasPrefix("${") {
                out += "${"
                rest = after.dropFirst(2)
                continue
            }
            guard after.hasPrefix("{") else {
                out += "$"
                rest = after
                continue
            }
            let body = after.dropFirst()
            guard let close = body.firstIndex(of: "}") else {
                problems.append("\"${\" without a closing \"}\" (write \"$${\" for a literal \"${\")")
                break
            }
            rest = body[body.index(after: close)...]
            let expression = body[..<close]
            let name: Substring
            let fallback: Substring?
            if let separator = expression.firstRange(of: ":-") {
                name = expression[..<separator.lowerBound]
                fallback = expression[separator.upperBound...]
            } else {
                name = expression
                fallback = nil
            }
            guard isVariableName(name) else {
                problems.append("\"${\(expression)}\" is not a variable reference: use ${NAME} or ${NAME:-default}, NAME of letters, digits and _")
                continue
            }
            let variable = String(name)
            let value = environment[variable]
            if let fallback, value?.isEmpty ?? true {
                out += fallback
                continue
            }
            guard let value else {
                problems.append("environment variable \(variable) is not set")
                continue
            }
            out += value
            if !variables.contains(variable) { variables.append(variable) }
        }
        out += rest
        if !problems.isEmpty { return .failure(Problems(messages: problems)) }
        return .success(Result(text: out, variables: variables))
    }

    struct Problems: Error, Sendable {
        var messages: [String]
    }

    static func isVariableName(_ name: Substring) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCII, first == "_" || first.properties.isAlphabetic
        else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCII && ($0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0)) }
    }
}
