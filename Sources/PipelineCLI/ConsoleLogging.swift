import Logging
import PipelineJSON
import PipelineBase

/// How log records are written to stderr.
public enum LogFormat: String, CaseIterable, Sendable {
    /// One readable line per record; colour when the terminal allows it.
    case human
    /// One JSON object per line: time, level, message, metadata.
    case json
    /// `human` on a terminal, `json` otherwise (cron, pipes, files).
    case auto

    /// `auto` decided for `terminal`.
    public func resolved(for terminal: Terminal) -> LogFormat {
        self == .auto ? (terminal.isTTY ? .human : .json) : self
    }
}

/// The console side of logging, shared by the bootstrap of the CLI and the
/// logger of a run (which adds `run.log`).
public struct ConsoleLogging: Sendable {
    public var format: LogFormat
    public var level: Logger.Level
    public var terminal: Terminal
    public var sink: ConsoleSink

    /// `format` is resolved against `terminal` (auto → human or json).
    public init(format: LogFormat, level: Logger.Level, terminal: Terminal, sink: ConsoleSink = .standardError) {
        self.format = format.resolved(for: terminal)
        self.level = level
        self.terminal = terminal
        self.sink = sink
    }

    /// The level from `PIPELINE_LOG_LEVEL` (trace … critical; info when unset
    /// or unknown), raised to warning by `quiet`.
    public static func level(environment: [String: String], quiet: Bool) -> Logger.Level {
        let level = environment["PIPELINE_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0.lowercased()) } ?? .info
        return quiet ? max(level, .warning) : level
    }

    /// A handler writing to the console in the chosen format.
    public func handler(label: String) -> any LogHandler {
        switch format {
        case .json:
            var handler = JSONConsoleLogHandler(label: label, sink: sink)
            handler.logLevel = level
            return handler
        case .human, .auto:
            var handler = HumanLogHandler(label: label, sink: sink, colour: terminal.colour)
            handler.logLevel = level
            return handler
        }
    }
}

/// `02:17:03 warning  message  key=value …`; the level in colour when
/// allowed, metadata sorted by key.
public struct HumanLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public let label: String
    private let sink: ConsoleSink
    private let colour: Bool

    public init(label: String, sink: ConsoleSink = .standardError, colour: Bool) {
        self.label = label
        self.sink = sink
        self.colour = colour
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        sink.writeLine(Self.format(time: TimeText.now(), level: event.level, message: event.message.description,
                                   metadata: merged(metadata, provider: metadataProvider, event: event),
                                   colour: colour))
    }

    /// One record as a line (public for tests and for the CLI's own lines).
    public static func format(time: Double, level: Logger.Level, message: String, metadata: Logger.Metadata,
                              colour: Bool) -> String {
        let name = level.rawValue
        let padded = name + String(repeating: " ", count: max(1, 9 - name.count))
        var line = TimeText.clock(time) + " " + (colour ? paint(padded, level) : padded) + message
        for key in metadata.keys.sorted() {
            guard let value = metadata[key] else { continue }
            let text = "\(key)=\(quoted(value.description))"
            line += "  " + (colour ? "\u{1B}[2m\(text)\u{1B}[0m" : text)
        }
        return line
    }

    private static func paint(_ text: String, _ level: Logger.Level) -> String {
        let code: String
        switch level {
        case .trace, .debug: code = "2"
        case .info: code = "32"
        case .notice: code = "36"
        case .warning: code = "33"
        case .error: code = "31"
        case .critical: code = "1;31"
        }
        return "\u{1B}[\(code)m\(text)\u{1B}[0m"
    }

    /// Values with spaces, quotes or control characters are JSON-quoted.
    private static func quoted(_ text: String) -> String {
        let plain = !text.isEmpty && text.unicodeScalars.allSatisfy { $0.value > 0x20 && $0 != "\"" && $0 != "\\" }
        if plain { return text }
        var out = ""
        JSONValue.writeString(text, to: &out)
        return out
    }
}

/// One JSON object per record and line:
/// `{"level":"info","message":"…","metadata":{…},"time":"2024-05-01T00:17:03.120Z"}`.
public struct JSONConsoleLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public let label: String
    private let sink: ConsoleSink

    public init(label: String, sink: ConsoleSink = .standardError) {
        self.label = label
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        sink.writeLine(Self.format(time: TimeText.now(), level: event.level, message: event.message.description,
                                   metadata: merged(metadata, provider: metadataProvider, event: event)))
    }

    public static func format(time: Double, level: Logger.Level, message: String, metadata: Logger.Metadata) -> String {
        JSONValue.object([
            "time": .string(TimeText.rfc3339(time)), "level": .string(level.rawValue),
            "message": .string(message), "metadata": .object(metadata.mapValues(json)),
        ]).serialized
    }

    private static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let text): .string(text)
        case .stringConvertible(let convertible): .string(convertible.description)
        case .array(let items): .array(items.map(json))
        case .dictionary(let object): .object(object.mapValues(json))
        }
    }
}

/// The handler's metadata, the provider's, the record's, and its error
/// (later ones win).
private func merged(_ metadata: Logger.Metadata, provider: Logger.MetadataProvider?,
                    event: LogEvent) -> Logger.Metadata {
    var result = metadata
    if let provided = provider?.get(), !provided.isEmpty { result.merge(provided) { $1 } }
    if let explicit = event.metadata { result.merge(explicit) { $1 } }
    if let error = event.error, result["error"] == nil { result["error"] = "\(error)" }
    return result
}
