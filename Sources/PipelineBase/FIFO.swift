/// A first-in, first-out queue over an array and a head index. A taken
/// slot is emptied at once, so the queue never keeps alive what it handed
/// out (a batch, a request body, a closure); the array is compacted when
/// the taken part outgrows the rest. Not thread-safe: its owners lock.
package struct FIFO<Element> {
    private var slots: [Element?] = []
    private var head = 0

    package init() {}

    package init(_ elements: [Element]) { slots = elements.map { $0 } }

    package var count: Int { slots.count - head }
    package var isEmpty: Bool { head == slots.count }
    /// The element `popFirst` would return.
    package var first: Element? { isEmpty ? nil : slots[head] }

    package mutating func append(_ element: Element) { slots.append(element) }

    package mutating func append(contentsOf elements: [Element]) { slots.append(contentsOf: elements.lazy.map { $0 }) }

    package mutating func popFirst() -> Element? {
        guard head < slots.count else { return nil }
        let element = slots[head]
        slots[head] = nil
        head += 1
        if head == slots.count {
            slots.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 64, head * 2 > slots.count {
            slots.removeFirst(head)
            head = 0
        }
        return element
    }
}
