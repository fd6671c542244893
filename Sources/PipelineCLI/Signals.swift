import Dispatch
import Logging
import Synchronization
import PipelineCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SIGINT and SIGTERM during a run: the first asks the executor to stop
/// (no new work; calls in flight finish and are committed; exit 5), a
/// second exits at once with 5. Either way the state store is consistent,
/// because every commit is a transaction: the same command resumes.
/// (@unchecked: the sources are set once in init and only cancelled after.)
public final class SignalHandling: @unchecked Sendable {
    private let sources: [any DispatchSourceSignal]
    private let count = Atomic(0)

    public init(stop: StopSignal, logger: Logger) {
        let queue = DispatchQueue(label: "pipeline.signals")
        var sources: [any DispatchSourceSignal] = []
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            sources.append(DispatchSource.makeSignalSource(signal: number, queue: queue))
        }
        self.sources = sources
        for (source, name) in zip(sources, ["SIGINT", "SIGTERM"]) {
            source.setEventHandler { [self] in
                if self.count.add(1, ordering: .sequentiallyConsistent).newValue == 1 {
                    logger.warning("\(name): stopping after the calls in flight (send it again to exit at once)")
                    stop.request()
                } else {
                    logger.warning("\(name) again: exiting now; the same command resumes")
                    _exit(PipelineExitCode.interrupted.rawValue)
                }
            }
            source.resume()
        }
    }

    /// Restores the default handlers.
    public func cancel() {
        for source in sources { source.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}
