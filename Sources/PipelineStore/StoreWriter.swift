import Foundation
import PipelineSQLite

/// Commits on a thread of their own, so the control thread never waits for
/// the disk. Commits are applied in the order they were queued, several per
/// transaction (group commit). Order is what makes this safe: a step's
/// record of consuming a batch is queued after the commit that stored the
/// batch, so the store never holds one without the other; work not yet
/// committed at a crash is simply done again on resume.
///
/// The queue is bounded: the control thread waits when the disk falls
/// behind, so memory stays flat.
///
/// A transaction costs about the same for one commit as for fifty (each
/// rewrites the step's row, index pages and the attempt's record in the
/// WAL), so the writer lets commits gather for up to `gather` before it
/// writes them, unless `groupSize` are queued, someone flushes, or the
/// writer is closed. A crash loses no more than that window of work, which
/// a resume does again.
package final class StoreWriter: @unchecked Sendable {
    private let store: RunStore
    private let condition = NSCondition()
    private var pending: [RunStore.Commit] = []
    private var writing = false
    private var closed = false
    private var failure: StoreError?
    /// Writer thread only: a commit failed.
    private var stopped = false
    private let limit: Int
    private let groupSize: Int
    private let gather: Double
    /// Callers waiting in `flush`: the writer writes at once.
    private var flushers = 0
    private let done = DispatchSemaphore(value: 0)

    package init(store: RunStore, limit: Int = 64, gather: Double = 0.05) {
        self.store = store
        self.limit = limit
        groupSize = max(1, limit / 2)
        self.gather = gather
        let thread = Thread { [self] in loop() }
        thread.name = "pipeline.store"
        thread.start()
    }

    /// Queues a commit; waits while the queue is full. Throws the writer's
    /// first failure (for example a full disk), after which nothing more
    /// is written.
    package func enqueue(_ commit: RunStore.Commit) throws(StoreError) {
        condition.lock()
        defer { condition.unlock() }
        while pending.count >= limit && failure == nil { condition.wait() }
        if let failure { throw failure }
        pending.append(commit)
        condition.broadcast()
    }

    /// Waits until everything queued is committed; throws the first failure.
    package func flush() throws(StoreError) {
        condition.lock()
        defer { condition.unlock() }
        flushers += 1
        defer { flushers -= 1 }
        condition.broadcast()
        while (!pending.isEmpty || writing) && failure == nil { condition.wait() }
        if let failure { throw failure }
    }

    /// Stops the thread after the queue is written.
    package func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
        done.wait()
    }

    private func loop() {
        while true {
            condition.lock()
            while pending.isEmpty && !closed { condition.wait() }
            let deadline = Date(timeIntervalSinceNow: gather)
            while pending.count < groupSize && !closed && flushers == 0 && condition.wait(until: deadline) {}
            if pending.isEmpty && closed {
                condition.unlock()
                done.signal()
                return
            }
            let batch = pending
            pending.removeAll(keepingCapacity: true)
            writing = true
            condition.broadcast()
            condition.unlock()

            // After a failed transaction nothing more is written: a later,
            // smaller one could succeed (a full disk) and store a step's
            // count past a batch the failed one never stored.
            var error: StoreError?
            if stopped {
                error = nil
            } else {
                do { try store.commit(batch) } catch let failed {
                    error = failed
                    stopped = true
                }
            }

            condition.lock()
            writing = false
            if let error, failure == nil { failure = error }
            condition.broadcast()
            condition.unlock()
        }
    }
}
