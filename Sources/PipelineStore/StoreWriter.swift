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
package final class StoreWriter: @unchecked Sendable {
    private let store: RunStore
    private let condition = NSCondition()
    private var pending: [RunStore.Commit] = []
    private var writing = false
    private var closed = false
    private var failure: StoreError?
    private let limit: Int
    private let done = DispatchSemaphore(value: 0)

    package init(store: RunStore, limit: Int = 64) {
        self.store = store
        self.limit = limit
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

            var error: StoreError?
            do { try store.commit(batch) } catch let failed { error = failed }

            condition.lock()
            writing = false
            if let error, failure == nil { failure = error }
            condition.broadcast()
            condition.unlock()
        }
    }
}
