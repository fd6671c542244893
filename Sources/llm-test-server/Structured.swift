// Structured output: a chat request whose response_format carries a JSON
// Schema is answered with JSON that conforms to it, built from the answer's
// seed (deterministic, like every other answer). Both dialects are read:
//
//   OpenAI, vLLM, llama-server:  {"type": "json_schema", "json_schema": {"name": ..., "schema": {...}}}
//   llama-cpp-python:            {"type": "json_object", "schema": {...}}
//
// {"type": "json_object"} without a schema answers a JSON object with one
// "answer" member; {"type": "text"} is the ordinary answer. Without a
// response_format, a user message that ends in "JSON Schema:" and a JSON
// object (the schema written into the prompt) is followed too.
//
// Faults, asked for by a marker anywhere in a user message of the request
// (the first attempt of a conversation is a request without an assistant
// message; a client's retry shows the model its earlier answer, so it has one):
//
//   [schema-fault:invalid-first]  the first attempt is JSON that violates the schema
//   [schema-fault:junk-first]     the first attempt is prose, no JSON at all
//   [schema-fault:fenced]         every answer is conforming JSON in a ```json fence, prose around it
//   [schema-fault:never]          every answer violates the schema
//
// The generator honours type (with "null"), enum, const, properties,
// required, items, minItems/maxItems, minimum/maximum (and the exclusive
// ones), minLength/maxLength; not pattern.

enum ResponseFormat {
    case text
    /// JSON that conforms to `schema` (nil: any JSON object).
    case json(schema: JSON?)

    /// The request's response_format, checked as OpenAI checks it.
    static func read(_ request: JSON) throws(BadRequest) -> ResponseFormat {
        guard let format = request["response_format"], !format.isNull else { return .text }
        guard case .object = format, let type = format["type"]?.string else {
            throw BadRequest(message: "'response_format' must be an object with a string 'type'", param: "response_format")
        }
        switch type {
        case "text":
            return .text
        case "json_object":
            guard let schema = format["schema"], !schema.isNull else { return .json(schema: nil) }
            guard case .object = schema else {
                throw BadRequest(message: "'response_format.schema' must be an object", param: "response_format.schema")
            }
            return .json(schema: schema)
        case "json_schema":
            guard let wrapper = format["json_schema"], case .object = wrapper else {
                throw BadRequest(message: "'response_format.json_schema' must be an object with 'name' and 'schema'",
                                 param: "response_format.json_schema")
            }
            guard let name = wrapper["name"]?.string, !name.isEmpty, name.count <= 64,
                  name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-") })
            else {
                throw BadRequest(message: "'response_format.json_schema.name' must be 1-64 characters of a-z, A-Z, 0-9, _ and -",
                                 param: "response_format.json_schema.name")
            }
            guard let schema = wrapper["schema"], case .object = schema else {
                throw BadRequest(message: "'response_format.json_schema.schema' must be an object",
                                 param: "response_format.json_schema.schema")
            }
            return .json(schema: schema)
        default:
            throw BadRequest(message: "'response_format.type' must be one of 'text', 'json_object', 'json_schema', got '\(type)'",
                             param: "response_format.type")
        }
    }
}

extension ResponseFormat {
    /// Without a response_format, a schema the prompt gives (a user
    /// message ending in "JSON Schema:" and a JSON object, as a client that
    /// cannot send response_format writes it) is followed all the same.
    static func inPrompt(_ messages: [(role: String, text: String)]) -> ResponseFormat {
        for message in messages where message.role == "user" {
            guard let marker = message.text.ranges(of: "JSON Schema:").last,
                  let value = try? JSONParser.parse(Array(message.text[marker.upperBound...].utf8)),
                  case .object = value
            else { continue }
            return .json(schema: value)
        }
        return .text
    }
}

enum SchemaFault: String, CaseIterable {
    case invalidFirst = "invalid-first"
    case junkFirst = "junk-first"
    case fenced
    case never

    var marker: String { "[schema-fault:\(rawValue)]" }

    /// The fault the request's user messages ask for.
    static func requested(in messages: [(role: String, text: String)]) -> SchemaFault? {
        let users = messages.filter { $0.role == "user" }.map(\.text)
        return allCases.first { fault in users.contains { $0.contains(fault.marker) } }
    }
}

enum StructuredAnswer {
    /// The answer text for a request that asked for JSON.
    static func text(schema: JSON?, messages: [(role: String, text: String)], seed: UInt64) -> String {
        var rng = SeededRandom(seed: seed)
        guard let schema else {
            let answer = Generator.answer(&rng, words: 12)
            return String(decoding: JSONWriter.encode(.object([("answer", .string(answer))])), as: UTF8.self)
        }
        let firstAttempt = !messages.contains { $0.role == "assistant" }
        switch SchemaFault.requested(in: messages) {
        case .invalidFirst? where firstAttempt, .never?:
            return encode(violating(schema, &rng))
        case .junkFirst? where firstAttempt:
            return "I am not sure how to put this as JSON, but " + Generator.answer(&rng, words: 16)
        case .fenced?:
            return "Here is the JSON you asked for:\n```json\n" + encode(value(schema, &rng, depth: 0)) + "\n```\nLet me know if anything is missing."
        default:
            return encode(value(schema, &rng, depth: 0))
        }
    }

    static func encode(_ value: JSON) -> String { String(decoding: JSONWriter.encode(value), as: UTF8.self) }

    /// The non-null type a schema names (or that its enum / const implies).
    static func schemaType(of schema: JSON) -> (name: String, nullable: Bool) {
        switch schema["type"] {
        case .string(let name)?: return (name, false)
        case .array(let names)?:
            let others = names.compactMap(\.string).filter { $0 != "null" }
            return (others.first ?? "null", others.count < names.count)
        default:
            let example = schema["const"] ?? schema["enum"]?.array?.first
            switch example {
            case .int?: return ("integer", false)
            case .number?: return ("number", false)
            case .bool?: return ("boolean", false)
            case .array?: return ("array", false)
            case .object?: return ("object", false)
            default: return ("string", false)
            }
        }
    }

    /// A value that conforms to `schema`.
    static func value(_ schema: JSON, _ rng: inout SeededRandom, depth: Int) -> JSON {
        if let constant = schema["const"] { return constant }
        if let options = schema["enum"]?.array, !options.isEmpty { return rng.pick(options) }
        let (name, nullable) = schemaType(of: schema)
        if nullable, rng.below(8) == 0 { return .null }
        switch name {
        case "integer":
            let (low, high) = integerRange(schema)
            return .int(low + rng.below(max(1, high - low + 1)))
        case "number":
            var low = schema["minimum"]?.double ?? schema["exclusiveMinimum"]?.double ?? 0
            var high = schema["maximum"]?.double ?? schema["exclusiveMaximum"]?.double ?? low + 100
            if schema["exclusiveMinimum"]?.double != nil, schema["minimum"] == nil { low += (high - low) / 1000 }
            if schema["exclusiveMaximum"]?.double != nil, schema["maximum"] == nil { high -= (high - low) / 1000 }
            let drawn = (low + (high - low) * rng.unit()) * 100
            return .number(min(high, max(low, drawn.rounded(.down) / 100)))
        case "boolean":
            return .bool(rng.below(2) == 1)
        case "array":
            let low = schema["minItems"]?.int ?? 1
            let high = max(low, min(schema["maxItems"]?.int ?? low + 2, low + 4))
            let count = rng.between(low, high)
            let item = schema["items"] ?? .object([("type", .string("string"))])
            return .array((0..<count).map { _ in value(item, &rng, depth: depth + 1) })
        case "object":
            var members: [(String, JSON)] = []
            let required = Set(schema["required"]?.array?.compactMap(\.string) ?? [])
            if case .object(let properties)? = schema["properties"] {
                for (key, property) in properties where required.contains(key) || rng.below(4) != 0 {
                    members.append((key, value(property, &rng, depth: depth + 1)))
                }
            }
            return .object(members)
        case "null":
            return .null
        default:
            return .string(words(schema, &rng))
        }
    }

    static func integerRange(_ schema: JSON) -> (Int, Int) {
        let low = schema["minimum"]?.int ?? schema["exclusiveMinimum"]?.int.map { $0 + 1 } ?? 0
        let high = schema["maximum"]?.int ?? schema["exclusiveMaximum"]?.int.map { $0 - 1 } ?? low + 100
        return (low, max(low, high))
    }

    /// Words of the vocabulary, at least minLength and at most maxLength characters.
    static func words(_ schema: JSON, _ rng: inout SeededRandom) -> String {
        let minimum = schema["minLength"]?.int ?? 1
        let maximum = schema["maxLength"]?.int ?? Int.max
        var text = ""
        let target = rng.between(2, 6)
        var count = 0
        while count < target || text.count < minimum {
            let word = rng.pick(Generator.vocabulary)
            text += text.isEmpty ? word : " " + word
            count += 1
        }
        if text.count > maximum { text = String(text.prefix(maximum)) }
        return text
    }

    /// An object that breaks the schema at one property: the first (by
    /// name) number with a maximum, which gets maximum + 1; else the first
    /// property, which gets a string not in its enum or a value of the
    /// wrong type.
    static func violating(_ schema: JSON, _ rng: inout SeededRandom) -> JSON {
        guard case .object(var members) = value(schema, &rng, depth: 0),
              case .object(let properties)? = schema["properties"],
              let (key, property) = properties.first(where: { ["integer", "number"].contains(schemaType(of: $0.1).name) && $0.1["maximum"] != nil })
                ?? properties.first
        else { return .string("not an object") }
        let broken: JSON
        let (name, _) = schemaType(of: property)
        switch name {
        case "integer" where property["maximum"]?.int != nil: broken = .int((property["maximum"]?.int ?? 0) + 1)
        case "integer" where property["minimum"]?.int != nil: broken = .int((property["minimum"]?.int ?? 0) - 1)
        case "number" where property["maximum"]?.double != nil: broken = .number((property["maximum"]?.double ?? 0) + 1.5)
        case "number" where property["minimum"]?.double != nil: broken = .number((property["minimum"]?.double ?? 0) - 1.5)
        case "string" where property["enum"] != nil: broken = .string("none of the options")
        case "string": broken = .int(7)
        default: broken = .string("seven")
        }
        members.removeAll { $0.0 == key }
        members.append((key, broken))
        return .object(members.sorted { $0.0 < $1.0 })
    }
}

extension StructuredAnswer {
    /// `text` cut to `maxTokens` tokens of 4 bytes each (compact JSON has
    /// few spaces to count words by), and whether it was cut.
    static func cut(_ text: String, maxTokens: Int?) -> (String, Bool) {
        guard let maxTokens, text.utf8.count > maxTokens * 4 else { return (text, false) }
        return (String(decoding: text.utf8.prefix(maxTokens * 4), as: UTF8.self), true)
    }
}
