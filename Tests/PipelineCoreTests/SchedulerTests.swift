import Testing

@testable import PipelineCore

/// The scheduler alone: items are Ints, "plugins" are simulated, and calls
/// complete in a random (seeded) order, as they would on a worker pool.
@Suite("Scheduler state machine")
struct SchedulerTests {
    /// A small deterministic generator (SplitMix64).
    struct Random {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int((z ^ (z >> 31)) % UInt64(bound))
        }
    }

    /// Runs the machine to the end. `generated` items per generator; a
    /// global step (in `globals`) swallows its input and emits one item
    /// (the count) from finish.
    struct Simulation {
        var scheduler: Scheduler<Int>
        var received: [Int: [Int]] = [:]
        var maxQueued = 0
        var finishCalls: [Int: Int] = [:]
        let nodes: [Scheduler<Int>.Node]
        let globals: Set<Int>

        init(nodes: [Scheduler<Int>.Node], capacity: Int, globals: Set<Int> = []) {
            self.nodes = nodes
            self.globals = globals
            scheduler = Scheduler(nodes: nodes, capacity: capacity)
        }

        mutating func run(generated: Int, seed: UInt64, failAt: (step: Int, call: Int)? = nil) -> Int {
            var random = Random(state: seed)
            var produced: [Int: Int] = [:]
            var pending = scheduler.start()
            var calls = 0
            var swallowed: [Int: Int] = [:]
            while !pending.isEmpty {
                let action = pending.remove(at: random.next(pending.count))
                calls += 1
                switch action {
                case .process(let step, let item):
                    if let failAt, failAt.step == step, received[step, default: []].count == failAt.call {
                        scheduler.fail(step: step)
                        continue
                    }
                    if let item { received[step, default: []].append(item) }
                    if nodes[step].isGenerator {
                        let n = produced[step, default: 0]
                        if n == generated {
                            pending += scheduler.processed(step: step, outputs: [], exhausted: true)
                        } else {
                            produced[step] = n + 1
                            pending += scheduler.processed(step: step, outputs: [step * 1000 + n])
                        }
                    } else if globals.contains(step) {
                        swallowed[step, default: 0] += 1
                        pending += scheduler.processed(step: step, outputs: [])
                    } else {
                        pending += scheduler.processed(step: step, outputs: item.map { [$0] } ?? [])
                    }
                case .finish(let step):
                    finishCalls[step, default: 0] += 1
                    if globals.contains(step), finishCalls[step] == 1 {
                        pending += scheduler.finished(step: step, outputs: [swallowed[step, default: 0]], done: false)
                    } else {
                        pending += scheduler.finished(step: step, outputs: [], done: true)
                    }
                }
                for step in nodes.indices { maxQueued = max(maxQueued, scheduler.queued(step)) }
            }
            return calls
        }
    }

    // gen(0) → a(1) → sink(3); gen → b(2) → sink   (fan-out, then fan-in)
    let diamond: [Scheduler<Int>.Node] = [
        .init(parents: [], isGenerator: true),
        .init(parents: [0], isGenerator: false),
        .init(parents: [0], isGenerator: false),
        .init(parents: [1, 2], isGenerator: false),
    ]

    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func everyItemReachesEveryPathExactlyOnce(seed: UInt64) {
        var simulation = Simulation(nodes: diamond, capacity: 2)
        _ = simulation.run(generated: 50, seed: seed)
        #expect(simulation.scheduler.isFinished)
        let expected = (0..<50).map { $0 }
        #expect(simulation.received[1]?.sorted() == expected)
        #expect(simulation.received[2]?.sorted() == expected)
        // Fan-in: the sink sees each item once from each parent.
        #expect(simulation.received[3]?.sorted() == expected.flatMap { [$0, $0] })
        // Each step is finished exactly once (no output from finish).
        #expect(simulation.finishCalls == [0: 1, 1: 1, 2: 1, 3: 1])
    }

    @Test(arguments: [1, 2, 3] as [Int])
    func inboxesNeverExceedTheirCapacity(capacity: Int) {
        var simulation = Simulation(nodes: diamond, capacity: capacity)
        _ = simulation.run(generated: 200, seed: 42)
        #expect(simulation.scheduler.isFinished)
        // A producer starts only while its children have room, counting
        // calls in flight, and each call delivers one item here.
        #expect(simulation.maxQueued <= capacity)
    }

    @Test func generatorIsPulledOnlyWhenTheChildHasRoom() {
        var scheduler = Scheduler<Int>(nodes: [
            .init(parents: [], isGenerator: true),
            .init(parents: [0], isGenerator: false),
        ], capacity: 1)
        // Both start: the generator pull (the child has nothing to do yet).
        var actions = scheduler.start()
        #expect(actions.count == 1)
        actions = scheduler.processed(step: 0, outputs: [1])
        // The child takes item 1; its inbox is free again, so the generator runs too.
        #expect(actions.count == 2)
        // The child is slow: the generator fills the inbox, then must wait.
        actions = scheduler.processed(step: 0, outputs: [2])
        #expect(actions.isEmpty)
        #expect(scheduler.queued(1) == 1)
        // The child finishes item 1: it takes item 2, and the generator resumes.
        actions = scheduler.processed(step: 1, outputs: [])
        #expect(actions.count == 2)
    }

    @Test func globalStepEmitsOnlyAfterAllItsInput() {
        // gen(0) → global(1) → after(2)
        let nodes: [Scheduler<Int>.Node] = [
            .init(parents: [], isGenerator: true),
            .init(parents: [0], isGenerator: false),
            .init(parents: [1], isGenerator: false),
        ]
        var simulation = Simulation(nodes: nodes, capacity: 2, globals: [1])
        _ = simulation.run(generated: 30, seed: 7)
        #expect(simulation.scheduler.isFinished)
        #expect(simulation.received[1]?.count == 30)
        // The step after the global one got exactly one item: the count.
        #expect(simulation.received[2] == [30])
        #expect(simulation.finishCalls[1] == 2)
    }

    @Test func reentrantStepRunsSeveralCallsAtOnce() {
        var scheduler = Scheduler<Int>(nodes: [
            .init(parents: [], isGenerator: true),
            .init(parents: [0], isGenerator: false, maxInFlight: 3),
        ], capacity: 8)
        var inFlight = 0
        _ = scheduler.start()
        for item in 0..<5 {
            for action in scheduler.processed(step: 0, outputs: [item]) {
                if case .process(1, _) = action { inFlight += 1 }
            }
        }
        // Items arrive while none of step 1's calls return: three run at once.
        #expect(inFlight == 3)
        #expect(scheduler.queued(1) == 2)
    }

    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func aSinkIsFinishedOnlyAfterEveryOtherStep(seed: UInt64) {
        // gen(0) → sinkA(1); gen → slow(2) → sinkB(3): sinkA's input ends
        // long before slow is done, yet it is finished only after it.
        let nodes: [Scheduler<Int>.Node] = [
            .init(parents: [], isGenerator: true),
            .init(parents: [0], isGenerator: false),
            .init(parents: [0], isGenerator: false),
            .init(parents: [2], isGenerator: false),
        ]
        var scheduler = Scheduler<Int>(nodes: nodes, capacity: 4)
        var pending = scheduler.start()
        var random = Random(state: seed)
        var produced = 0
        var slowHeld: [Int] = []
        var finishedOrder: [Int] = []
        while !pending.isEmpty || !slowHeld.isEmpty {
            if pending.isEmpty {
                // The slow step answers only when nothing else can move.
                slowHeld.removeFirst()
                pending += scheduler.processed(step: 2, outputs: [1])
                continue
            }
            switch pending.remove(at: random.next(pending.count)) {
            case .process(0, _):
                produced += 1
                pending += produced > 6 ? scheduler.processed(step: 0, outputs: [], exhausted: true)
                    : scheduler.processed(step: 0, outputs: [produced])
            case .process(2, let item):
                slowHeld.append(item ?? 0)
            case .process(let step, _):
                pending += scheduler.processed(step: step, outputs: [])
            case .finish(let step):
                finishedOrder.append(step)
                if step == 1 { #expect(scheduler.isDone(2), "sinkA finished before slow was done") }
                pending += scheduler.finished(step: step, outputs: [], done: true)
            }
        }
        #expect(scheduler.isFinished)
        #expect(Set(finishedOrder) == [0, 1, 2, 3])
        #expect(finishedOrder.firstIndex(of: 1)! > finishedOrder.firstIndex(of: 2)!)
    }

    /// Items whose calls wait outside the run (a provider batch): the step
    /// takes every other item meanwhile, is not finished while it holds any,
    /// the run is waiting once nothing else can happen, and the held items
    /// come back in their order, ahead of anything that came since.
    @Test func heldItemsWaitAndComeBackInOrder() {
        // generator 0 -> step 1 (holds every item on the first pass) -> sink 2
        var scheduler = Scheduler<Int>(nodes: [.init(parents: [], isGenerator: true),
                                              .init(parents: [0], isGenerator: false),
                                              .init(parents: [1], isGenerator: false)], capacity: 2)
        var pending = scheduler.start()
        var next = 0
        var firstPass: [Int] = []
        var delivered: [Int] = []
        var finished: Set<Int> = []
        func step(_ action: Scheduler<Int>.Action, pass: Int, _ scheduler: inout Scheduler<Int>) -> [Scheduler<Int>.Action] {
            switch action {
            case .process(0, _):
                next += 1
                return scheduler.processed(step: 0, outputs: [next], exhausted: next == 5)
            case .process(1, let item?):
                if pass == 1 {
                    firstPass.append(item)
                    return scheduler.held(step: 1, item: item)
                }
                return scheduler.processed(step: 1, outputs: [item * 10])
            case .process(2, let item?):
                delivered.append(item)
                return scheduler.processed(step: 2, outputs: [])
            case .finish(let s):
                finished.insert(s)
                return scheduler.finished(step: s, outputs: [], done: true)
            default:
                Issue.record("unexpected action \(action)")
                return []
            }
        }
        while !pending.isEmpty { pending += step(pending.removeFirst(), pass: 1, &scheduler) }
        // Every item was taken once and held; the generator ran dry, nothing else can happen.
        #expect(firstPass == [1, 2, 3, 4, 5])
        #expect(scheduler.heldCount(1) == 5)
        #expect(scheduler.isWaiting && !scheduler.isFinished)
        #expect(finished == [0], "step 1 must not finish while it holds items, nor the sink before it")
        pending = scheduler.resumeHeld()
        #expect(!scheduler.isWaiting)
        while !pending.isEmpty { pending += step(pending.removeFirst(), pass: 2, &scheduler) }
        #expect(delivered == [10, 20, 30, 40, 50])
        #expect(scheduler.isFinished && finished == [0, 1, 2])
    }

    @Test func aFailureElsewhereLeavesSinksUnfinished() {
        // gen(0) → sinkA(1); gen → b(2) → sinkB(3); b fails after sinkA's input is over.
        var scheduler = Scheduler<Int>(nodes: [
            .init(parents: [], isGenerator: true),
            .init(parents: [0], isGenerator: false),
            .init(parents: [0], isGenerator: false),
            .init(parents: [2], isGenerator: false),
        ], capacity: 4)
        var actions = scheduler.start()
        actions = scheduler.processed(step: 0, outputs: [], exhausted: true)
        // gen is exhausted: gen finishes; nothing reached the sinks.
        var finished: [Int] = []
        while let action = actions.first {
            actions.removeFirst()
            switch action {
            case .finish(let step) where step == 2:
                scheduler.fail(step: 2)
            case .finish(let step):
                finished.append(step)
                actions += scheduler.finished(step: step, outputs: [], done: true)
            case .process(let step, _):
                actions += scheduler.processed(step: step, outputs: [])
            }
        }
        #expect(scheduler.failed)
        #expect(!finished.contains(1), "a sink was finished although the run failed")
        #expect(!finished.contains(3))
    }

    @Test func afterAFailureNothingNewStarts() {
        var simulation = Simulation(nodes: diamond, capacity: 2)
        _ = simulation.run(generated: 100, seed: 3, failAt: (step: 1, call: 10))
        #expect(simulation.scheduler.failed)
        #expect(simulation.scheduler.isFinished)
        #expect((simulation.received[1]?.count ?? 0) == 10)
        #expect((simulation.received[3]?.count ?? 0) < 200)
    }

    /// Results put back in call order, per step: a late first call holds
    /// the later ones; another step's results are not held by it.
    @Test func inOrderReleasesResultsInTheOrderTheCallsStarted() {
        var order = InOrder<String>(steps: 2)
        let a = (0..<4).map { _ in order.ticket(for: 0) }
        let b = order.ticket(for: 1)
        #expect(a == [0, 1, 2, 3] && b == 0)
        #expect(order.arrived("a2", step: 0, ticket: 2).isEmpty)
        #expect(order.arrived("a1", step: 0, ticket: 1).isEmpty)
        #expect(order.arrived("b0", step: 1, ticket: 0) == ["b0"])
        #expect(order.heldCount(0) == 2)
        #expect(order.arrived("a0", step: 0, ticket: 0) == ["a0", "a1", "a2"])
        #expect(order.arrived("a3", step: 0, ticket: 3) == ["a3"])
        #expect(order.heldCount(0) == 0)
    }
}
