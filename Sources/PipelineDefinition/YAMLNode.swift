import CYAML

/// A position in a YAML text, 1-based (libyaml's marks are 0-based).
public struct YAMLMark: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    init(_ mark: yaml_mark_t) {
        line = Int(mark.line) + 1
        column = Int(mark.column) + 1
    }

    public static func < (a: YAMLMark, b: YAMLMark) -> Bool { (a.line, a.column) < (b.line, b.column) }
    public var description: String { "\(line):\(column)" }
}

/// One node of a YAML document: a scalar, a sequence or a mapping, with
/// where it starts. Aliases are already replaced by (copies of) the nodes
/// their anchors name; `<<` merge keys are already merged.
public struct YAMLNode: Sendable {
    public enum ScalarStyle: Sendable, Hashable {
        case plain, singleQuoted, doubleQuoted, literal, folded

        /// Only plain scalars are type-resolved; every other style is a string.
        public var isPlain: Bool { self == .plain }
    }

    public enum Content: Sendable {
        case scalar(String, ScalarStyle)
        case sequence([YAMLNode])
        /// Pairs in the order written.
        case mapping([YAMLPair])
    }

    public var content: Content
    public var mark: YAMLMark
    /// The resolved tag when one is written (`!!str` is `tag:yaml.org,2002:str`).
    public var tag: String?
    /// The node stands for one that could not be read (an alias naming no
    /// anchor, a node with an unsupported tag): an empty scalar whose
    /// problem was reported already, so later checks say nothing about it.
    public var isPlaceholder = false

    public init(_ content: Content, mark: YAMLMark, tag: String? = nil) {
        self.content = content
        self.mark = mark
        self.tag = tag
    }

    /// An empty scalar in place of a node whose problem was reported.
    static func placeholder(at mark: YAMLMark) -> YAMLNode {
        var node = YAMLNode(.scalar("", .plain), mark: mark)
        node.isPlaceholder = true
        return node
    }

    public var scalar: (text: String, style: ScalarStyle)? {
        if case .scalar(let text, let style) = content { return (text, style) }
        return nil
    }

    public var sequence: [YAMLNode]? {
        if case .sequence(let items) = content { return items }
        return nil
    }

    public var mapping: [YAMLPair]? {
        if case .mapping(let pairs) = content { return pairs }
        return nil
    }

    /// The value of the first pair whose key is the scalar `key`.
    public subscript(key: String) -> YAMLNode? {
        mapping?.first { $0.key.scalar?.text == key }?.value
    }

    /// "a mapping", "a list", "a scalar": for messages.
    public var kindDescription: String {
        switch content {
        case .scalar: "a scalar"
        case .sequence: "a list"
        case .mapping: "a mapping"
        }
    }

    /// A plain scalar with nothing in it (`key:`), which YAML reads as null.
    var isEmptyPlainScalar: Bool {
        if case .scalar(let text, .plain) = content, tag == nil { return text.isEmpty }
        return false
    }
}

public struct YAMLPair: Sendable {
    public var key: YAMLNode
    public var value: YAMLNode
}

/// A problem in a YAML text, at a position when libyaml gave one.
public struct YAMLProblem: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public var mark: YAMLMark?

    public init(_ message: String, at mark: YAMLMark?) {
        self.message = message
        self.mark = mark
    }

    public var description: String { mark.map { "\($0): \(message)" } ?? message }
}

/// YAML reading with libyaml's event API, and YAML 1.2 core-schema scalars.
public enum YAML {
    /// At most this many nodes after expanding aliases (a billion-laughs guard).
    public static let maximumNodes = 100_000
    /// At most this many nested collections.
    public static let maximumDepth = 128

    /// Parses one YAML document. `root` is nil when parsing stopped (a syntax
    /// error) or the text holds no document; `problems` lists every problem
    /// found, in order: syntax errors (which stop parsing), duplicate keys,
    /// unknown aliases, a second document.
    public static func parse(_ bytes: [UInt8]) -> (root: YAMLNode?, problems: [YAMLProblem]) {
        var builder = TreeBuilder()
        bytes.withUnsafeBufferPointer { buffer in builder.run(buffer) }
        return (builder.fatal ? nil : builder.root, builder.problems)
    }

    /// A tag as it is written in YAML: `!!str` for `tag:yaml.org,2002:str`.
    public static func writtenTag(_ tag: String) -> String {
        let core = "tag:yaml.org,2002:"
        if tag.hasPrefix(core) { return "!!" + tag.dropFirst(core.count) }
        if tag.hasPrefix("!") { return tag }
        return "!<\(tag)>"
    }

    /// Parses one YAML document, throwing its first problem. An empty text
    /// is a null scalar.
    public static func parse(_ text: String) throws(YAMLProblem) -> YAMLNode {
        let (root, problems) = parse(Array(text.utf8))
        if let problem = problems.first { throw problem }
        return root ?? YAMLNode(.scalar("", .plain), mark: YAMLMark(line: 1, column: 1))
    }

    /// What a plain scalar means under the YAML 1.2 core schema.
    public enum CoreValue: Sendable, Hashable {
        case null
        case bool(Bool)
        /// An integer literal (decimal, `0o` octal or `0x` hex), as a Double;
        /// may be beyond the range where Doubles are exact.
        case int(Double)
        /// A float literal, `.inf`, `-.inf` or `.nan` included.
        case float(Double)
        case string(String)
    }

    /// Resolves a plain scalar by the YAML 1.2 core schema.
    public static func resolvePlain(_ text: String) -> CoreValue {
        switch text {
        case "", "~", "null", "Null", "NULL": return .null
        case "true", "True", "TRUE": return .bool(true)
        case "false", "False", "FALSE": return .bool(false)
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .float(.infinity)
        case "-.inf", "-.Inf", "-.INF": return .float(-.infinity)
        case ".nan", ".NaN", ".NAN": return .float(.nan)
        default: break
        }
        let bytes = Array(text.utf8)
        if let value = integer(bytes) { return .int(value) }
        if isFloat(bytes), let value = Double(text) { return .float(value) }
        return .string(text)
    }

    private static func digit(_ byte: UInt8, radix: Int) -> Int? {
        let value: Int
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): value = Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): value = Int(byte - UInt8(ascii: "a")) + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): value = Int(byte - UInt8(ascii: "A")) + 10
        default: return nil
        }
        return value < radix ? value : nil
    }

    /// `[-+]?[0-9]+`, `0o[0-7]+`, `0x[0-9a-fA-F]+`.
    private static func integer(_ bytes: [UInt8]) -> Double? {
        var index = 0
        var radix = 10
        var sign = 1.0
        if bytes.count > 2, bytes[0] == UInt8(ascii: "0"), bytes[1] == UInt8(ascii: "o") {
            radix = 8
            index = 2
        } else if bytes.count > 2, bytes[0] == UInt8(ascii: "0"), bytes[1] == UInt8(ascii: "x") {
            radix = 16
            index = 2
        } else if let first = bytes.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            sign = first == UInt8(ascii: "-") ? -1 : 1
            index = 1
        }
        guard index < bytes.count else { return nil }
        var value = 0.0
        var exact: Int64? = 0
        for byte in bytes[index...] {
            guard let d = digit(byte, radix: radix) else { return nil }
            value = value * Double(radix) + Double(d)
            if let current = exact {
                let (product, overflow1) = current.multipliedReportingOverflow(by: Int64(radix))
                let (sum, overflow2) = product.addingReportingOverflow(Int64(d))
                exact = overflow1 || overflow2 ? nil : sum
            }
        }
        // Use the exact integer when there is one, so rounding happens once.
        if let exact { return sign * Double(exact) }
        return sign * value
    }

    /// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`
    private static func isFloat(_ bytes: [UInt8]) -> Bool {
        var index = 0
        func isDigit(_ i: Int) -> Bool { i < bytes.count && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) }
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") { index += 1 }
        var mantissaDigits = 0
        while isDigit(index) { index += 1; mantissaDigits += 1 }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            while isDigit(index) { index += 1; mantissaDigits += 1 }
        }
        guard mantissaDigits > 0 else { return false }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") { index += 1 }
            guard isDigit(index) else { return false }
            while isDigit(index) { index += 1 }
        }
        return index == bytes.count
    }
}

/// Turns libyaml events into a node tree with an explicit stack (no
/// recursion, so deep nesting cannot overflow the native stack).
private struct TreeBuilder {
    struct Frame {
        var isMapping: Bool
        var mark: YAMLMark
        var tag: String?
        var anchor: String?
        /// Written `[...]` or `{...}`.
        var flow = false
        var items: [YAMLNode] = []
        var pairs: [YAMLPair] = []
        var pendingKey: YAMLNode?
        /// Scalar keys seen so far, with where, for duplicate detection.
        var keys: [String: YAMLMark] = [:]
        /// Nodes in this collection, itself included (after alias expansion).
        var size = 1
    }

    var stack: [Frame] = []
    var anchors: [String: (node: YAMLNode, size: Int)] = [:]
    var root: YAMLNode?
    var problems: [YAMLProblem] = []
    var fatal = false
    var documents = 0
    var nodes = 0
    /// Of `nodes`, the ones copied from anchors.
    var aliasNodes = 0

    mutating func run(_ buffer: UnsafeBufferPointer<UInt8>) {
        let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
        defer { parser.deallocate() }
        guard yaml_parser_initialize(parser) != 0 else {
            fail("out of memory initializing the YAML parser", at: nil)
            return
        }
        defer { yaml_parser_delete(parser) }
        if let base = buffer.baseAddress {
            yaml_parser_set_input_string(parser, base, buffer.count)
        } else {
            var empty: UInt8 = 0
            // libyaml copies nothing: a zero-length input never reads the pointer.
            withUnsafePointer(to: &empty) { yaml_parser_set_input_string(parser, $0, 0) }
        }
        var event = yaml_event_t()
        while !fatal {
            guard yaml_parser_parse(parser, &event) != 0 else {
                syntaxError(parser.pointee, text: buffer)
                return
            }
            let done = event.type == YAML_STREAM_END_EVENT
            handle(event)
            yaml_event_delete(&event)
            if done { return }
        }
    }

    mutating func fail(_ message: String, at mark: YAMLMark?) {
        problems.append(YAMLProblem(message, at: mark))
        fatal = true
    }

    mutating func syntaxError(_ parser: yaml_parser_t, text: UnsafeBufferPointer<UInt8>) {
        let problem = parser.problem.map { String(cString: $0) } ?? "invalid YAML"
        switch parser.error {
        case YAML_MEMORY_ERROR:
            fail("out of memory reading YAML", at: nil)
        case YAML_READER_ERROR:
            // libyaml gives a byte offset; the message gives the line and column.
            let start = YAMLMark(line: 1, column: 1)
            if let (what, hint) = YAMLText.compression(text) {
                fail("the file is \(what), not YAML text: \(hint)", at: start)
                return
            }
            let offset = Int(parser.problem_offset)
            let utf16 = text.count >= 2 && ((text[0] == 0xFF && text[1] == 0xFE) || (text[0] == 0xFE && text[1] == 0xFF))
            if !utf16, let message = YAMLText.encodingProblem(at: offset, in: text) {
                fail(message, at: YAMLText.mark(ofByte: YAMLText.characterStart(offset, in: text), in: text))
            } else {
                fail("cannot read the text: \(problem) at byte \(offset)", at: utf16 ? start : YAMLText.mark(ofByte: offset, in: text))
            }
        default:
            let mark = YAMLMark(parser.problem_mark)
            if let tab = YAMLText.indentingTab(at: mark, in: text) {
                fail("a TAB character: YAML indents with spaces only; replace the TAB with spaces", at: tab)
                return
            }
            var message = "YAML syntax error: \(problem)"
            if let context = parser.context {
                message += " (\(String(cString: context)) at \(YAMLMark(parser.context_mark)))"
            }
            fail(message, at: mark)
        }
    }

    /// Why a tag cannot be used on a node of this kind, or nil when it can:
    /// a pipeline file takes the YAML core tags only (and `!`, which says
    /// "not resolved": a string for a scalar).
    static func tagProblem(_ tag: String, kind: YAMLNode.Content) -> String? {
        let core = "tag:yaml.org,2002:"
        if tag == "!" { return nil }
        let written = YAML.writtenTag(tag)
        guard tag.hasPrefix(core) else {
            return "unsupported YAML tag \(written): a pipeline file takes only the core tags !!str, !!int, !!float, !!bool, !!null, !!map and !!seq"
        }
        let name = tag.dropFirst(core.count)
        let fits: Bool
        switch kind {
        case .scalar: fits = ["str", "int", "float", "bool", "null"].contains(name)
        case .sequence: fits = name == "seq"
        case .mapping: fits = name == "map"
        }
        if fits { return nil }
        if ["str", "int", "float", "bool", "null", "seq", "map"].contains(name) {
            let what: String
            switch kind {
            case .scalar: what = "a scalar"
            case .sequence: what = "a list"
            case .mapping: what = "a mapping"
            }
            return "YAML tag \(written) does not fit \(what)"
        }
        return "unsupported YAML tag \(written): a pipeline file takes only the core tags !!str, !!int, !!float, !!bool, !!null, !!map and !!seq"
    }

    /// The node, or a placeholder after reporting its unsupported tag.
    mutating func checkingTag(_ node: YAMLNode) -> YAMLNode {
        guard let tag = node.tag, let problem = Self.tagProblem(tag, kind: node.content) else { return node }
        problems.append(YAMLProblem(problem, at: node.mark))
        return YAMLNode.placeholder(at: node.mark)
    }

    static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
    }

    mutating func handle(_ event: yaml_event_t) {
        let mark = YAMLMark(event.start_mark)
        switch event.type {
        case YAML_DOCUMENT_START_EVENT:
            documents += 1
            if documents > 1 {
                fail("the file holds more than one YAML document (a second `---`); a pipeline file is one document", at: mark)
            }
        case YAML_SCALAR_EVENT:
            let scalar = event.data.scalar
            let text: String
            if let value = scalar.value, scalar.length > 0 {
                text = String(decoding: UnsafeBufferPointer(start: value, count: Int(scalar.length)), as: UTF8.self)
            } else {
                text = ""
            }
            let style: YAMLNode.ScalarStyle
            switch scalar.style {
            case YAML_SINGLE_QUOTED_SCALAR_STYLE: style = .singleQuoted
            case YAML_DOUBLE_QUOTED_SCALAR_STYLE: style = .doubleQuoted
            case YAML_LITERAL_SCALAR_STYLE: style = .literal
            case YAML_FOLDED_SCALAR_STYLE: style = .folded
            default: style = .plain
            }
            guard count(1, at: mark) else { return }
            let node = checkingTag(YAMLNode(.scalar(text, style), mark: mark, tag: Self.string(scalar.tag)))
            if let anchor = Self.string(scalar.anchor) { anchors[anchor] = (node, 1) }
            add(node, size: 1)
        case YAML_ALIAS_EVENT:
            let name = Self.string(event.data.alias.anchor) ?? ""
            guard let (anchored, size) = anchors[name] else {
                if let open = stack.last(where: { $0.anchor == name }) {
                    problems.append(YAMLProblem("alias *\(name) is inside the collection it names (&\(name) at line \(open.mark.line), column \(open.mark.column)): a value cannot contain itself", at: mark))
                } else {
                    problems.append(YAMLProblem("alias *\(name) names no anchor defined before it", at: mark))
                }
                add(YAMLNode.placeholder(at: mark), size: 1)
                return
            }
            aliasNodes += size
            guard count(size, at: mark) else { return }
            var node = anchored
            node.mark = mark
            add(node, size: size)
        case YAML_SEQUENCE_START_EVENT:
            let start = event.data.sequence_start
            push(Frame(isMapping: false, mark: mark, tag: Self.string(start.tag), anchor: Self.string(start.anchor),
                       flow: start.style == YAML_FLOW_SEQUENCE_STYLE))
        case YAML_MAPPING_START_EVENT:
            let start = event.data.mapping_start
            push(Frame(isMapping: true, mark: mark, tag: Self.string(start.tag), anchor: Self.string(start.anchor),
                       flow: start.style == YAML_FLOW_MAPPING_STYLE))
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            guard let frame = stack.popLast() else { return }
            var node: YAMLNode
            if frame.isMapping {
                node = YAMLNode(.mapping(merged(frame.pairs)), mark: frame.mark, tag: frame.tag)
            } else {
                node = YAMLNode(.sequence(frame.items), mark: frame.mark, tag: frame.tag)
            }
            node = checkingTag(node)
            if let anchor = frame.anchor { anchors[anchor] = (node, frame.size) }
            add(node, size: frame.size)
        default:
            break
        }
    }

    /// Counts nodes as they are created or copied from an anchor.
    mutating func count(_ added: Int, at mark: YAMLMark) -> Bool {
        nodes += added
        if nodes > YAML.maximumNodes {
            if aliasNodes * 2 > nodes {
                fail("the document has more than \(YAML.maximumNodes) nodes once aliases are expanded (nested aliases?)", at: mark)
            } else if let open = stack.first(where: \.flow) {
                let bracket = open.isMapping ? "{" : "["
                fail("the document has more than \(YAML.maximumNodes) values, far more than a pipeline file holds: the `\(bracket)` at line \(open.mark.line), column \(open.mark.column) is still open here; is its `\(open.isMapping ? "}" : "]")` missing?", at: mark)
            } else {
                fail("the document has more than \(YAML.maximumNodes) values, far more than a pipeline file holds", at: mark)
            }
            return false
        }
        return true
    }

    mutating func push(_ frame: Frame) {
        guard count(1, at: frame.mark) else { return }
        guard stack.count < YAML.maximumDepth else {
            fail("collections nested deeper than \(YAML.maximumDepth) levels", at: frame.mark)
            return
        }
        stack.append(frame)
    }

    mutating func add(_ node: YAMLNode, size: Int) {
        guard let top = stack.indices.last else {
            root = node
            return
        }
        stack[top].size += size
        if !stack[top].isMapping {
            stack[top].items.append(node)
            return
        }
        guard let key = stack[top].pendingKey else {
            if let text = node.scalar?.text {
                if let first = stack[top].keys[text] {
                    problems.append(YAMLProblem("duplicate key \(Suggestion.quoted(text)) (first at line \(first.line), column \(first.column))", at: node.mark))
                } else {
                    stack[top].keys[text] = node.mark
                }
            }
            stack[top].pendingKey = node
            return
        }
        stack[top].pendingKey = nil
        stack[top].pairs.append(YAMLPair(key: key, value: node))
    }

    /// Applies `<<` merge keys: the pairs of the merged mapping(s) whose keys
    /// the mapping does not set itself, earlier sources first.
    mutating func merged(_ pairs: [YAMLPair]) -> [YAMLPair] {
        func isMergeKey(_ node: YAMLNode) -> Bool {
            if case .scalar("<<", .plain) = node.content, node.tag == nil { return true }
            return false
        }
        guard pairs.contains(where: { isMergeKey($0.key) }) else { return pairs }
        var result = pairs.filter { !isMergeKey($0.key) }
        var keys = Set(result.compactMap { $0.key.scalar?.text })
        for pair in pairs where isMergeKey(pair.key) {
            let sources = pair.value.sequence ?? [pair.value]
            for source in sources {
                guard let sourcePairs = source.mapping else {
                    if source.isPlaceholder { continue }
                    problems.append(YAMLProblem("<< merges mappings only, not \(source.kindDescription)", at: source.mark))
                    continue
                }
                for sourcePair in sourcePairs {
                    guard let key = sourcePair.key.scalar?.text else { continue }
                    if keys.insert(key).inserted { result.append(sourcePair) }
                }
            }
        }
        return result
    }
}
