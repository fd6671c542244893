import Dispatch
import Synchronization

/// A timer on its own queue that can be started once and cancelled from
/// any thread (the status line's redraws, the progress records).
final class RepeatingTimer: Sendable {
    /// Dispatch sources are thread-safe; the box only carries one across.
    private final class Box: @unchecked Sendable {
        let source: any DispatchSourceTimer
        init(_ source: any DispatchSourceTimer) { self.source = source }
    }

    private let label: String
    private let box: Mutex<Box?> = Mutex(nil)

    init(label: String) { self.label = label }

    /// Runs `tick` every `interval` seconds, the first time after one interval.
    func start(every interval: Double, _ tick: @escaping @Sendable () -> Void) {
        let source = DispatchSource.makeTimerSource(queue: DispatchQueue(label: label))
        source.schedule(deadline: .now() + interval, repeating: interval)
        source.setEventHandler(handler: tick)
        source.resume()
        let started = Box(source)
        box.withLock { $0 = started }
    }

    func cancel() {
        let taken = box.withLock { box in
            defer { box = nil }
            return box
        }
        taken?.source.cancel()
    }
}
