import Testing

@testable import PipelineCore

/// What the executor hands on is not kept alive behind its back: a batch
/// taken from an inbox or a queue is freed when its taker lets go of it,
/// not when the run ends (DEITA held every batch of every edge: 327 MB at
/// N=1000, k=3).
@Suite("Retention")
struct RetentionTests {
    final class Batch: @unchecked Sendable {}

    @Test func anInboxDoesNotKeepWhatWasTakenFromIt() {
        var scheduler = Scheduler<Batch>(nodes: [.init(parents: [], isGenerator: true),
                                                 .init(parents: [0], isGenerator: false)], capacity: 4)
        _ = scheduler.start()
        weak var taken: Batch?
        weak var waiting: Batch?
        do {
            let first = Batch(), second = Batch()
            taken = first
            waiting = second
            // Two batches arrive; the child takes one (the second waits: one call at a time).
            var actions = scheduler.processed(step: 0, outputs: [first, second])
            #expect(actions.contains { if case .process(1, let item?) = $0 { item === first } else { false } })
            actions.removeAll()
        }
        #expect(taken == nil, "the scheduler still holds a batch it handed out")
        #expect(waiting != nil)
        #expect(scheduler.queued(1) == 1)
    }

    @Test func aQueueDoesNotKeepWhatWasTakenFromIt() {
        let queue = BlockingQueue<Batch>()
        weak var taken: Batch?
        do {
            let first = Batch()
            taken = first
            queue.put(first)
            queue.put(Batch())
            _ = queue.take()
        }
        #expect(taken == nil, "the queue still holds an element it handed out")
        _ = queue.take()
    }
}
