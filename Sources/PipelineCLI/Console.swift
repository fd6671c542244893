#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// What stderr is connected to, and so what may be drawn on it.
public struct Terminal: Sendable, Equatable {
    /// stderr is a terminal (isatty(2)).
    public var isTTY: Bool
    /// Colour is allowed: a terminal, `NO_COLOR` unset or empty
    /// (https://no-color.org), and `TERM` not `dumb`.
    public var colour: Bool
    /// A status line may be redrawn in place: a terminal that is not `dumb`.
    public var canRedraw: Bool

    public init(isTTY: Bool, colour: Bool, canRedraw: Bool) {
        self.isTTY = isTTY
        self.colour = colour
        self.canRedraw = canRedraw
    }

    /// Not a terminal: nothing decorative.
    public static let plain = Terminal(isTTY: false, colour: false, canRedraw: false)

    /// stderr of this process, judged with `environment`.
    public static func standardError(environment: [String: String]) -> Terminal {
        guard isatty(2) == 1 else { return .plain }
        let dumb = environment["TERM"] == "dumb"
        let noColour = !(environment["NO_COLOR"] ?? "").isEmpty
        return Terminal(isTTY: true, colour: !noColour && !dumb, canRedraw: !dumb)
    }

    /// Columns of the terminal on `descriptor` (stderr; 80 when unknown).
    public static func width(descriptor: Int32 = 2) -> Int {
        var size = winsize()
        #if os(Linux)
        let request = UInt(TIOCGWINSZ)
        #else
        let request = TIOCGWINSZ
        #endif
        guard ioctl(descriptor, request, &size) == 0, size.ws_col > 0 else { return 80 }
        return Int(size.ws_col)
    }
}

/// The one writer of stderr for log lines and the status line, so they
/// never interleave: a log line first clears the status line, then the
/// status line is drawn again below it.
public final class ConsoleSink: Sendable {
    /// stderr of this process.
    public static let standardError = ConsoleSink(descriptor: 2)

    private struct State {
        /// The status line on screen, if any.
        var status: String?
    }

    private let descriptor: Int32
    private let state = Mutex(State())

    public init(descriptor: Int32) { self.descriptor = descriptor }

    /// Writes `line` and a newline, keeping the status line (if any) below it.
    public func writeLine(_ line: String) {
        state.withLock { state in
            if let status = state.status {
                write(Self.clear + line + "\n" + Self.draw(status))
            } else {
                write(line + "\n")
            }
        }
    }

    /// Draws `text` as the status line, replacing the previous one.
    public func setStatus(_ text: String) {
        state.withLock { state in
            state.status = text
            write(Self.draw(text))
        }
    }

    /// Removes the status line from the screen.
    public func clearStatus() {
        state.withLock { state in
            guard state.status != nil else { return }
            state.status = nil
            write(Self.clear)
        }
    }

    /// Carriage return, erase to end of line.
    private static let clear = "\r\u{1B}[K"
    private static func draw(_ text: String) -> String { "\r" + text + "\u{1B}[K" }

    private func write(_ text: String) {
        var text = text
        text.withUTF8 { buffer in
            guard let base = buffer.baseAddress else { return }
            var offset = 0
            while offset < buffer.count {
                #if canImport(Glibc)
                let written = Glibc.write(descriptor, base + offset, buffer.count - offset)
                #else
                let written = Darwin.write(descriptor, base + offset, buffer.count - offset)
                #endif
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { return }
                offset += written
            }
        }
    }
}
