import PipelineJSON

/// A JSON value does not fit the column's type.
public struct JSONColumnError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension ColumnBuilder {
    /// Appends a JSON value as one row of this column: null as null; a
    /// boolean to bool; an integer (exact, |n| < 2^53) to int64; a number to
    /// float64; a string to utf8; an array to a list (each item the same
    /// way); an object to a struct (each field from the member of its name,
    /// null when absent; members without a field are not kept). Anything
    /// else is an error naming the JSON path, and then the builder is left
    /// part-way through the row: the caller gives up on the column.
    public func append(json value: JSONValue) throws(JSONColumnError) {
        try append(json: value, path: "$")
    }

    private func append(json value: JSONValue, path: String) throws(JSONColumnError) {
        if value == .null { appendNull(); return }
        switch (type, value) {
        case (.bool, .bool(let flag)):
            append(flag)
        case (.int64, .number):
            guard let integer = value.int64Value else {
                throw JSONColumnError("\(path): \(value.serialized) is not an integer an int64 column holds exactly")
            }
            append(integer)
        case (.float64, .number(let number)):
            append(number)
        case (.utf8, .string(let text)), (.largeUtf8, .string(let text)):
            append(text)
        case (.list, .array(let items)):
            for (index, item) in items.enumerated() { try self.items.append(json: item, path: "\(path)[\(index)]") }
            endListRow()
        case (.structure(let fields), .object(let members)):
            for (index, field) in fields.enumerated() {
                try self.field(index).append(json: members[field.name] ?? .null, path: "\(path).\(field.name)")
            }
            endStructRow()
        default:
            let text = value.serialized
            throw JSONColumnError("\(path): \(text.count > 60 ? String(text.prefix(57)) + "..." : text) does not fit a \(type.displayName) column")
        }
    }
}
