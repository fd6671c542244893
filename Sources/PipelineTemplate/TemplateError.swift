/// What is wrong with a template or an expression, and where: `line` and
/// `column` are 1-based, counted in Unicode scalars inside the template or
/// expression text (the host adds the pipeline file's position).
public struct TemplateError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The text does not parse (found at validation).
        case syntax
        /// Evaluating or rendering failed for these values (a row error).
        case render
    }

    public var kind: Kind
    public var line: Int
    public var column: Int
    public var message: String

    public init(_ kind: Kind, line: Int, column: Int, _ message: String) {
        self.kind = kind
        self.line = line
        self.column = column
        self.message = message
    }

    /// `line:column: message`.
    public var description: String { "\(line):\(column): \(message)" }
}

/// A place in the source text (1-based line and column).
struct Position: Sendable, Equatable {
    var line: Int
    var column: Int
    static let start = Position(line: 1, column: 1)
}

/// Line and column of scalar offsets in a text.
struct SourceText: Sendable {
    let scalars: [Unicode.Scalar]
    /// The offsets where lines start.
    let lineStarts: [Int]

    init(_ text: String) {
        scalars = Array(text.unicodeScalars)
        var starts = [0]
        for (index, scalar) in scalars.enumerated() where scalar == "\n" { starts.append(index + 1) }
        lineStarts = starts
    }

    func position(_ offset: Int) -> Position {
        // The last line start <= offset.
        var low = 0, high = lineStarts.count - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if lineStarts[mid] <= offset { low = mid } else { high = mid - 1 }
        }
        return Position(line: low + 1, column: offset - lineStarts[low] + 1)
    }

    func string(_ range: Range<Int>) -> String {
        var out = ""
        out.unicodeScalars.append(contentsOf: scalars[range])
        return out
    }
}
