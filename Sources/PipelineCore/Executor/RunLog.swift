import Foundation
import Logging
import PipelineJSON

/// Appends log records as JSON lines to a file (the run directory's
/// `run.log`), whatever the console shows.
public struct JSONLinesLogHandler: LogHandler {
    final class Sink: @unchecked Sendable {
        let handle: FileHandle
        let lock = NSLock()
        init(handle: FileHandle) { self.handle = handle }
        func write(_ line: String) {
            lock.lock()
            defer { lock.unlock() }
            handle.write(Data((line + "\n").utf8))
        }
    }

    private let sink: Sink
    private let label: String
    public var logLevel: Logger.Level = .debug
    public var metadata: Logger.Metadata = [:]

    /// Opens (creating or appending to) `path`.
    public static func open(path: String) throws -> @Sendable (String) -> JSONLinesLogHandler {
        if !FileManager.default.fileExists(atPath: path) {
            FileManager.default.createFile(atPath: path, contents: nil)
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        let sink = Sink(handle: handle)
        return { label in JSONLinesLogHandler(sink: sink, label: label) }
    }

    private init(sink: Sink, label: String) {
        self.sink = sink
        self.label = label
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?,
                    source: String, file: String, function: String, line: UInt) {
        var object: [String: JSONValue] = [
            "time": .number((Date().timeIntervalSince1970 * 1000).rounded() / 1000),
            "level": .string(level.rawValue), "message": .string(message.description), "logger": .string(label),
        ]
        for (key, value) in metadata.merging(explicit ?? [:], uniquingKeysWith: { $1 }) {
            object[key] = .string("\(value)")
        }
        sink.write(JSONValue.object(object).serialized)
    }
}
