import Testing

@testable import PipelineJSON
@testable import PipelineLLMClient

/// `max_concurrency: auto`'s controller, fed by a deterministic simulation:
/// a client with endless work (or a fixed demand) sending up to the limit,
/// and a server with K slots that queues or refuses (429) the rest. No
/// clocks: every time is the simulation's.
@Suite("Adaptive concurrency")
struct AdaptiveConcurrencyTests {
    /// A server with `capacity` slots, each answer taking `latency` seconds.
    struct Simulation {
        enum Over { case queue, reject }

        var capacity: Int
        var latency = 0.05
        var over = Over.queue
        /// Requests the client has to send at once (nil: endless).
        var demand: Int?
        var controller: AdaptiveConcurrency

        private(set) var now = 0.0
        private(set) var answers: [Double] = []
        private(set) var refused = 0
        private(set) var peakInFlight = 0
        private var inFlight = 0
        private var busy = 0
        private var queue: [(started: Double, inFlight: Int)] = []
        private var events: [(time: Double, order: Int, started: Double, inFlight: Int, ok: Bool)] = []
        private var order = 0
        private var seed: UInt64 = 0x9E37_79B9_7F4A_7C15

        /// The latency of one answer: `latency` plus a seeded 0-10 %.
        private mutating func serviceTime() -> Double {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return latency * (1 + 0.1 * Double(seed >> 11) / Double(1 << 53))
        }

        init(capacity: Int, over: Over = .queue, demand: Int? = nil, bounds: AdaptiveConcurrency.Bounds = .init()) {
            self.capacity = capacity
            self.over = over
            self.demand = demand
            controller = AdaptiveConcurrency(bounds: bounds)
        }

        private mutating func schedule(_ time: Double, started: Double, inFlight: Int, ok: Bool) {
            order += 1
            let event = (time: time, order: order, started: started, inFlight: inFlight, ok: ok)
            let index = events.firstIndex { ($0.time, $0.order) > (time, order) } ?? events.count
            events.insert(event, at: index)
        }

        private mutating func send() {
            while inFlight < min(controller.limit, demand ?? Int.max) {
                inFlight += 1
                peakInFlight = max(peakInFlight, inFlight)
                if busy < capacity {
                    busy += 1
                    schedule(now + serviceTime(), started: now, inFlight: inFlight, ok: true)
                } else if over == .queue {
                    queue.append((now, inFlight))
                } else {
                    schedule(now + 0.001, started: now, inFlight: inFlight, ok: false)
                }
            }
        }

        /// Runs until `count` more answers arrived.
        mutating func run(answers count: Int) {
            let target = answers.count + count
            while answers.count < target {
                send()
                let event = events.removeFirst()
                now = event.time
                inFlight -= 1
                if event.ok {
                    answers.append(now)
                    busy -= 1
                    if !queue.isEmpty {
                        let next = queue.removeFirst()
                        busy += 1
                        schedule(now + serviceTime(), started: next.started, inFlight: next.inFlight, ok: true)
                    }
                } else {
                    refused += 1
                }
                controller.record(.init(started: event.started, finished: now, inFlight: event.inFlight,
                                        outcome: event.ok ? .ok : .overloaded))
            }
        }

        /// Answers per second over the last `count` answers.
        func rate(last count: Int) -> Double {
            let end = answers.count - 1
            return Double(count - 1) / (answers[end] - answers[end - count + 1])
        }
    }

    @Test func anOverloadHalvesTheLimitOncePerEpisodeAndNeverBelowOne() {
        var controller = AdaptiveConcurrency(bounds: .init(start: 16))
        controller.record(.init(started: 1, finished: 1.2, inFlight: 16, outcome: .overloaded))
        #expect(controller.limit == 8)
        // Sent before the cut: the same episode.
        controller.record(.init(started: 1.1, finished: 1.3, inFlight: 16, outcome: .overloaded))
        #expect(controller.limit == 8)
        // Sent after it: halves again.
        controller.record(.init(started: 1.4, finished: 1.5, inFlight: 8, outcome: .overloaded))
        #expect(controller.limit == 4)
        for time in stride(from: 2.0, to: 3.0, by: 0.1) {
            controller.record(.init(started: time, finished: time + 0.05, inFlight: 1, outcome: .overloaded))
        }
        #expect(controller.limit == 1)
        #expect(controller.lowest == 1 && controller.highest == 16)
        // Other errors say nothing about load.
        var other = AdaptiveConcurrency(bounds: .init(start: 16))
        other.record(.init(started: 1, finished: 1.2, inFlight: 16, outcome: .other))
        #expect(other.limit == 16)
    }

    @Test func a429AfterSettlingHalvesTheLimit() {
        var simulation = Simulation(capacity: 16)
        simulation.run(answers: 3000)
        let settled = simulation.controller.limit
        #expect(settled >= 16)
        simulation.controller.record(.init(started: simulation.now, finished: simulation.now + 0.01,
                                           inFlight: settled, outcome: .overloaded))
        #expect(simulation.controller.limit == settled / 2)
    }

    @Test(arguments: [1, 2, 4, 8, 16])
    func growthStopsAtTheKneeOfAQueueingServer(capacity: Int) {
        var simulation = Simulation(capacity: capacity)
        simulation.run(answers: 200 * capacity + 2000)
        let limit = simulation.controller.limit
        // At the knee, or a little past it (probes up that noise made look
        // like a gain are undone by probes down).
        #expect(limit >= capacity && limit <= capacity + max(2, capacity / 2), "limit \(limit) for capacity \(capacity)")
        #expect(simulation.controller.highest <= max(8, 2 * capacity), "highest \(simulation.controller.highest)")
        // Throughput at the end is the server's: K answers per latency.
        let best = Double(capacity) / (simulation.latency * 1.05)
        #expect(simulation.rate(last: 500) >= 0.95 * best, "\(simulation.rate(last: 500)) of \(best) per second")
    }

    @Test(arguments: [1, 2, 4, 8, 16])
    func overCapacity429sBringTheLimitToTheCapacity(capacity: Int) {
        var simulation = Simulation(capacity: capacity, over: .reject)
        simulation.run(answers: 200 * capacity + 2000)
        let limit = simulation.controller.limit
        #expect(limit == capacity || limit == capacity + 1, "limit \(limit) for capacity \(capacity)")
        let best = Double(capacity) / (simulation.latency * 1.05)
        #expect(simulation.rate(last: 500) >= 0.9 * best, "\(simulation.rate(last: 500)) of \(best) per second")
        // Probes past the capacity get rarer: few refusals for many answers.
        let before = simulation.refused
        simulation.run(answers: 2000)
        #expect(simulation.refused - before <= 2000 / 20, "\(simulation.refused - before) refused for 2000 answers")
    }

    @Test func itRecoversWhenTheErrorsStop() {
        var simulation = Simulation(capacity: 2, over: .reject)
        simulation.run(answers: 1000)
        #expect(simulation.controller.limit <= 3)
        // The server grows: probes find the room and the limit climbs.
        simulation.capacity = 16
        simulation.run(answers: 5000)
        #expect(simulation.controller.limit >= 14, "limit \(simulation.controller.limit)")
        #expect(simulation.rate(last: 500) >= 0.85 * 16 / (simulation.latency * 1.05))
    }

    @Test func aParallelServerIsFilledUpToMax() {
        var simulation = Simulation(capacity: 10_000, bounds: .init(max: 64))
        simulation.run(answers: 3000)
        #expect(simulation.controller.limit == 64)
        #expect(simulation.controller.ceiling == nil)
    }

    @Test func withoutDemandTheLimitDoesNotRise() {
        var simulation = Simulation(capacity: 10_000, demand: 3)
        simulation.run(answers: 2000)
        #expect(simulation.controller.limit == AdaptiveConcurrency.Bounds.defaultStart)
        #expect(simulation.controller.highest == AdaptiveConcurrency.Bounds.defaultStart)
    }

    @Test func boundsAreKept() {
        var simulation = Simulation(capacity: 4, over: .reject, bounds: .init(min: 6, max: 10, start: 8))
        simulation.run(answers: 2000)
        #expect(simulation.controller.lowest >= 6 && simulation.controller.highest <= 10)
        #expect(AdaptiveConcurrency.Bounds(min: 0, max: 0, start: 9) == AdaptiveConcurrency.Bounds(min: 1, max: 1, start: 1))
    }

    @Test func settingsReadAutoFixedAndBounds() throws {
        func parse(_ text: String) throws -> Concurrency { Concurrency(try JSONValue(parsing: text)) }
        #expect(try parse("12") == .fixed(12))
        #expect(Concurrency(nil) == .fixed(16))
        #expect(try parse(#""auto""#) == .auto(.init()))
        #expect(try parse(#"{"auto": {"max": 32, "start": 2}}"#) == .auto(.init(min: 1, max: 32, start: 2)))
        #expect(try parse(#"{"auto": {}}"#) == .auto(.init()))
        #expect(throws: LLMError.self) {
            try LLMConfig(name: "t", settings: try JSONValue(parsing: #"{"model": "m", "max_concurrency": "automatic"}"#),
                          environment: [:])
        }
    }
}
