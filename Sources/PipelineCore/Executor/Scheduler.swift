import PipelineBase

/// The executor's decisions, as a pure state machine: no threads, no I/O,
/// no plugins. The executor feeds it events (a call finished) and carries
/// out the actions it returns (call a plugin). Tested on its own with
/// plain values standing in for batches.
///
/// Rules:
/// - every edge has a bounded inbox: a step is called only while each of
///   its children has room, counting a slot for every call in flight
///   (backpressure: memory stays flat however large the input; a call that
///   delivers several items may overshoot by those items);
/// - a batch goes to every child as soon as it exists (fan-out shares it);
///   a step with several parents takes batches from all of them (fan-in);
/// - a step runs at most one call at a time unless it is reentrant, and
///   independent steps run at the same time;
/// - once a step's input is over (a generator is exhausted, or every parent
///   is done and its inbox is empty) it is finished: `finish` is asked for
///   output until it has none, then its children learn it is done. A
///   global step is scheduled exactly like this: it gets every batch, and
///   its output comes from `finish`;
/// - a sink (a step no other step reads: a writer, a Hub pusher) is
///   finished only once every other step is done: a writer publishes its
///   file in `finish`, so a run that fails anywhere else never replaces an
///   existing output;
/// - an item whose call must wait for something outside the run (answers
///   of a provider batch) is held aside: the step goes on with its other
///   items but is not finished while it holds any; when no call is in
///   flight and nothing can start the run is waiting (`isWaiting`), and
///   `resumeHeld()` gives the held items back, in their order.
public struct Scheduler<Item> {
    public enum Action {
        /// Call `process` of `step` with `item` (nil: pull a generator).
        case process(step: Int, item: Item?)
        /// Call `finish` of `step`.
        case finish(step: Int)
    }

    public struct Node: Sendable {
        public var parents: [Int]
        public var isGenerator: Bool
        public var maxInFlight: Int

        public init(parents: [Int], isGenerator: Bool, maxInFlight: Int = 1) {
            self.parents = parents
            self.isGenerator = isGenerator
            self.maxInFlight = maxInFlight
        }
    }

    private enum Phase { case running, finishing, done }

    private struct State {
        var node: Node
        var children: [Int] = []
        /// Items waiting for the step, in order.
        var inbox = FIFO<Item>()
        var inFlight = 0
        /// Inbox slots promised to parents' calls in flight.
        var reserved = 0
        var parentsDone = 0
        /// Items whose calls wait outside the run, in order.
        var held: [Item] = []
        var exhausted = false
        var phase = Phase.running

        var queued: Int { inbox.count }
        var occupied: Int { queued + reserved }

        mutating func popInbox() -> Item {
            guard let item = inbox.popFirst() else { preconditionFailure("a call was started for an empty inbox") }
            return item
        }
    }

    private var states: [State]
    /// Batches an inbox may hold before its parents are held back.
    public let capacity: Int
    public private(set) var failed = false

    public init(nodes: [Node], capacity: Int = 4) {
        precondition(capacity >= 1)
        self.capacity = capacity
        states = nodes.map { State(node: $0) }
        for (index, node) in nodes.enumerated() {
            for parent in node.parents { states[parent].children.append(index) }
        }
    }

    /// True when every step is done (or the run failed and nothing is in flight).
    public var isFinished: Bool {
        if failed { return states.allSatisfy { $0.inFlight == 0 } }
        return states.allSatisfy { $0.phase == .done }
    }

    /// Number of batches waiting in `step`'s inbox.
    public func queued(_ step: Int) -> Int { states[step].queued }

    public func isDone(_ step: Int) -> Bool { states[step].phase == .done }

    /// The first actions of a run.
    public mutating func start() -> [Action] { schedule() }

    /// A `process` call returned. `output` goes to the children (already
    /// cut to size by the executor, possibly several items); `exhausted`
    /// says a generator has no more rows.
    public mutating func processed(step: Int, outputs: [Item], exhausted: Bool = false) -> [Action] {
        states[step].inFlight -= 1
        releaseReservations(of: step)
        if exhausted { states[step].exhausted = true }
        deliver(outputs, from: step)
        return schedule()
    }

    /// A `finish` call returned `outputs`; `done` says the plugin had
    /// nothing more (it left its output released).
    public mutating func finished(step: Int, outputs: [Item], done: Bool) -> [Action] {
        states[step].inFlight -= 1
        releaseReservations(of: step)
        deliver(outputs, from: step)
        if done {
            states[step].phase = .done
            for child in states[step].children { states[child].parentsDone += 1 }
        }
        return schedule()
    }

    /// A `process` call's `item` waits for something outside the run: it is
    /// held aside (the call delivered nothing), and the step goes on.
    public mutating func held(step: Int, item: Item) -> [Action] {
        states[step].inFlight -= 1
        releaseReservations(of: step)
        states[step].held.append(item)
        return schedule()
    }

    /// Held items, step by step.
    public func heldCount(_ step: Int) -> Int { states[step].held.count }

    /// No call is in flight, none can start, and some step holds items: the
    /// run can only go on once what they wait for has come.
    public var isWaiting: Bool {
        !failed && states.allSatisfy { $0.inFlight == 0 } && states.contains { !$0.held.isEmpty }
    }

    /// Every held item goes back to the front of its step's inbox, in order.
    public mutating func resumeHeld() -> [Action] {
        for step in states.indices where !states[step].held.isEmpty {
            var inbox = states[step].held
            while let item = states[step].inbox.popFirst() { inbox.append(item) }
            states[step].inbox = FIFO(inbox)
            states[step].held = []
        }
        return schedule()
    }

    /// A call failed: nothing new starts; wait for in-flight calls.
    public mutating func fail(step: Int) {
        states[step].inFlight -= 1
        releaseReservations(of: step)
        failed = true
    }

    /// Stop starting calls (an interrupt): in-flight calls still report.
    public mutating func stop() { failed = true }

    /// Before `start()`: what a resumed run already has. A done step is
    /// not called again (its children count it as done); `inbox` holds the
    /// items a step must still (or again) process, in order.
    public mutating func restore(step: Int, inbox: [Item], done: Bool) {
        states[step].inbox = FIFO(inbox)
        if done {
            states[step].phase = .done
            for child in states[step].children { states[child].parentsDone += 1 }
        }
    }

    /// A call of `step` is starting: it will deliver (typically) one item to
    /// each child, so it takes one slot in each child's inbox now.
    private mutating func reserveSlots(for step: Int) {
        states[step].inFlight += 1
        for child in states[step].children { states[child].reserved += 1 }
    }

    private mutating func releaseReservations(of step: Int) {
        for child in states[step].children { states[child].reserved -= 1 }
    }

    private mutating func deliver(_ outputs: [Item], from step: Int) {
        guard !outputs.isEmpty else { return }
        for child in states[step].children {
            states[child].inbox.append(contentsOf: outputs)
        }
    }

    private func childrenHaveRoom(_ step: Int) -> Bool {
        states[step].children.allSatisfy { states[$0].occupied < capacity }
    }

    private func inputOver(_ state: State) -> Bool {
        if state.node.isGenerator { return state.exhausted }
        return state.parentsDone == state.node.parents.count && state.queued == 0 && state.held.isEmpty
    }

    /// Every step that feeds another is done (sinks wait for this to finish).
    private func othersDone(than sink: Int) -> Bool {
        states.indices.allSatisfy { $0 == sink || states[$0].children.isEmpty || states[$0].phase == .done }
    }

    private mutating func schedule() -> [Action] {
        guard !failed else { return [] }
        var actions: [Action] = []
        // Downstream first: draining inboxes frees room for producers.
        for step in states.indices.reversed() {
            switch states[step].phase {
            case .done:
                continue
            case .finishing:
                if states[step].inFlight == 0, childrenHaveRoom(step) {
                    reserveSlots(for: step)
                    actions.append(.finish(step: step))
                }
            case .running:
                while states[step].inFlight < states[step].node.maxInFlight, childrenHaveRoom(step) {
                    if states[step].node.isGenerator {
                        guard !states[step].exhausted, states[step].inFlight == 0 else { break }
                        reserveSlots(for: step)
                        actions.append(.process(step: step, item: nil))
                    } else {
                        guard states[step].queued > 0 else { break }
                        reserveSlots(for: step)
                        actions.append(.process(step: step, item: states[step].popInbox()))
                    }
                }
                if states[step].inFlight == 0, inputOver(states[step]), childrenHaveRoom(step),
                   !states[step].children.isEmpty || states[step].node.isGenerator || othersDone(than: step) {
                    states[step].phase = .finishing
                    reserveSlots(for: step)
                    actions.append(.finish(step: step))
                }
            }
        }
        return actions
    }
}
