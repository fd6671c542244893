import Foundation
import PipelineBase
import PipelineHost

/// A FIFO that blocks `take()` until an element arrives.
final class BlockingQueue<Element>: @unchecked Sendable {
    private var items = FIFO<Element>()
    private let condition = NSCondition()

    func put(_ item: Element) {
        condition.lock()
        items.append(item)
        condition.signal()
        condition.unlock()
    }

    func take() -> Element {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let item = items.popFirst() { return item }
            condition.wait()
        }
    }
}

/// Dedicated threads for plugin calls. Plugin code may block for seconds
/// (files, LLM calls), so it must never run on Swift's cooperative pool,
/// whose few threads the rest of the process relies on.
final class WorkerPool: @unchecked Sendable {
    private let jobs = BlockingQueue<(@Sendable () -> Void)?>()
    private var threads: [Thread] = []
    private let done = DispatchGroup()

    init(threads count: Int, name: String = "pipeline.worker") {
        for index in 0..<max(1, count) {
            done.enter()
            let thread = Thread { [jobs, done] in
                CrashGuard.prepareThread()
                while let job = jobs.take() { job() }
                done.leave()
            }
            thread.name = "\(name).\(index)"
            thread.stackSize = 8 << 20
            threads.append(thread)
            thread.start()
        }
    }

    func submit(_ job: @escaping @Sendable () -> Void) { jobs.put(job) }

    /// Lets queued jobs finish, then stops every thread.
    func shutdown() {
        for _ in threads { jobs.put(nil) }
        done.wait()
        threads.removeAll()
    }
}
