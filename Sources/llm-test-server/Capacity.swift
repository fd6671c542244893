// --capacity K: at most K LLM requests in service at once, the others
// queued in arrival order (--over-capacity queue) or answered 429 with
// Retry-After (--over-capacity 429). A model of an inference server with K
// slots: llama.cpp's server with one slot serves one request at a time.

import Foundation

enum OverCapacity: String, Sendable {
    case queue
    case reject = "429"
}

final class CapacityGate: @unchecked Sendable {
    let capacity: Int
    let over: OverCapacity
    private let condition = NSCondition()
    private var inService = 0
    private var maxInService = 0
    /// Tickets in arrival order: the next to take is `nextTicket`, the next
    /// allowed in is `admitted`.
    private var nextTicket: UInt64 = 0
    private var admitted: UInt64 = 0
    private var queued = 0
    private var maxQueued = 0
    private var queuedTotal = 0
    private var rejected = 0

    init(capacity: Int, over: OverCapacity) {
        self.capacity = capacity
        self.over = over
    }

    /// Takes a slot, waiting for one in turn (queue); false when every slot
    /// is taken and the request is to be refused (429).
    func enter() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if over == .reject {
            guard inService < capacity else {
                rejected += 1
                return false
            }
            take()
            return true
        }
        let ticket = nextTicket
        nextTicket += 1
        let waits = ticket != admitted || inService >= capacity
        if waits {
            queued += 1
            queuedTotal += 1
            maxQueued = max(maxQueued, queued)
            while ticket != admitted || inService >= capacity { condition.wait() }
            queued -= 1
        }
        admitted += 1
        take()
        // The next in line may be able to enter too.
        condition.broadcast()
        return true
    }

    private func take() {
        inService += 1
        maxInService = max(maxInService, inService)
    }

    /// Gives the slot back.
    func leave() {
        condition.lock()
        inService -= 1
        condition.broadcast()
        condition.unlock()
    }

    func reset() {
        condition.lock()
        maxInService = inService
        maxQueued = queued
        queuedTotal = 0
        rejected = 0
        condition.unlock()
    }

    var snapshot: JSON {
        condition.lock()
        defer { condition.unlock() }
        return .object([
            ("limit", .int(capacity)), ("over_capacity", .string(over.rawValue)),
            ("in_service", .int(inService)), ("max_in_service", .int(maxInService)),
            ("queued", .int(queued)), ("max_queued", .int(maxQueued)), ("queued_total", .int(queuedTotal)),
            ("rejected", .int(rejected)),
        ])
    }
}
