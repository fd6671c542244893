import Logging
import PipelineArrow
import PipelineHost
import PipelineStore

/// Which steps' outputs a checkpointed run does not store, and how a
/// resumed run makes the ones it needs again.
///
/// A deterministic generator reads the same rows from the same input (the
/// fingerprint holds the input files' size and modification time), and a
/// resumed run re-reads it from the start anyway. Storing its rows only
/// wrote the input a second time, and twice more through SQLite's WAL.
/// The same goes for a cheap deterministic step fed by nothing else (a
/// filter, a map, keep_columns): its batches follow from its parent's. So
/// for these *replayable* steps the store keeps a marker per batch (number,
/// rows, digest) and the consumption records, not the rows; LLM steps,
/// global and stateful steps, and whatever they feed, store their rows as
/// before. On a pure-I/O pipeline (load, filter, write) checkpoints then
/// cost almost nothing.
///
/// On resume, before anything runs, each replayable subtree is replayed
/// from its generator by fresh instances, each step fed what it consumed
/// in the order it consumed it (so row ids come out the same), and every
/// batch an unfinished step will read from the store is written there,
/// in place of its marker. A batch whose digest differs from its marker's
/// stops the run: the input changed, or the step is not deterministic.
struct ReplayPlan {
    /// Per step: its outputs are replayed, not stored.
    let replayable: [Bool]

    init(plan: PipelinePlan) {
        var replayable: [Bool] = []
        var position: [String: Int] = [:]
        for step in plan.steps {
            let descriptor = step.descriptor
            let plain = descriptor.isDeterministic && !descriptor.usesLLM
            switch descriptor.kind {
            case .generator:
                replayable.append(plain)
            case .step:
                let parentReplayable = step.inputs.count == 1 && position[step.inputs[0]].map { replayable[$0] } == true
                replayable.append(plain && parentReplayable && !descriptor.isStateful && !descriptor.usesCredential)
            default:
                replayable.append(false)
            }
            position[step.name] = replayable.count - 1
        }
        self.replayable = replayable
    }

    /// Makes again, and stores, every replayed batch an unfinished step
    /// will read on this resume. `makeHost` creates a fresh host for a step
    /// (row ids from zero).
    func restore(plan: PipelinePlan, states: [RunStore.StepState], store: RunStore, logger: Logger,
                 makeHost: (Int) throws -> StepHost) throws {
        guard replayable.contains(true) else { return }
        let position = Dictionary(uniqueKeysWithValues: plan.steps.enumerated().map { ($1.name, $0) })
        var children = Array(repeating: [Int](), count: plan.steps.count)
        for (index, step) in plan.steps.enumerated() {
            for parent in step.inputs.compactMap({ position[$0] }) { children[parent].append(index) }
        }
        var markers: [[Int: UInt64]] = []
        for (index, step) in plan.steps.enumerated() {
            markers.append(replayable[index] && states[index].emitted > 0 ? try store.replayMarkers(step: step.name) : [:])
        }
        // Which of a step's batches an unfinished child will read: the
        // ones it has not consumed, or all of them for one that replays.
        let consumed = states.map { state in
            Set(state.consumed.compactMap { entry in position[entry.parent].map { Seam(parent: $0, seq: entry.seq) } })
        }
        func needed(_ step: Int, _ seq: Int) -> Bool {
            children[step].contains { child in
                !states[child].done && (plan.steps[child].descriptor.replaysOnResume
                    || !consumed[child].contains(Seam(parent: step, seq: seq)))
            }
        }
        for root in plan.steps.indices where plan.steps[root].descriptor.kind == .generator && replayable[root] {
            var members: [Int] = []
            var frontier = [root]
            while let step = frontier.popLast() {
                members.append(step)
                frontier.append(contentsOf: children[step].filter { replayable[$0] })
            }
            let wanted = members.reduce(0) { count, step in count + markers[step].keys.filter { needed(step, $0) }.count }
            guard wanted > 0 else { continue }
            logger.info("making the batches a resumed run needs again from their generator",
                        metadata: ["generator": "\(plan.steps[root].name)", "batches": "\(wanted)"])
            var replay = SubtreeReplay(plan: plan, states: states, store: store, children: children, markers: markers,
                                       replayable: replayable, needed: needed)
            try replay.run(root: root, members: members.sorted(), makeHost: makeHost)
        }
    }
}

/// A batch of `parent`, numbered `seq` there.
private struct Seam: Hashable {
    var parent: Int
    var seq: Int
}

/// One generator's replayable subtree, replayed once.
private struct SubtreeReplay {
    let plan: PipelinePlan
    let states: [RunStore.StepState]
    let store: RunStore
    let children: [[Int]]
    let markers: [[Int: UInt64]]
    let replayable: [Bool]
    let needed: (Int, Int) -> Bool

    private var hosts: [Int: StepHost] = [:]
    /// Per step: batches made so far (the next one's number).
    private var produced: [Int: Int] = [:]
    /// Per step: the parent's sequence numbers it consumed, in order, and
    /// how many of them it has been fed again.
    private var order: [Int: [Int]] = [:]
    private var fed: [Int: Int] = [:]
    /// Per step: the parent batches it consumed (the others it never saw).
    private var wants: [Int: Set<Int>] = [:]
    /// Parent batches that arrived before their turn.
    private var early: [Int: [Int: RecordBatch]] = [:]
    /// Batches to store, per step.
    private var filled: [Int: [(seq: Int, batch: RecordBatch)]] = [:]
    private var filledRows = 0

    init(plan: PipelinePlan, states: [RunStore.StepState], store: RunStore, children: [[Int]], markers: [[Int: UInt64]],
         replayable: [Bool], needed: @escaping (Int, Int) -> Bool) {
        self.plan = plan
        self.states = states
        self.store = store
        self.children = children
        self.markers = markers
        self.replayable = replayable
        self.needed = needed
    }

    mutating func run(root: Int, members: [Int], makeHost: (Int) throws -> StepHost) throws {
        for step in members where states[step].emitted > 0 {
            hosts[step] = try makeHost(step)
            produced[step] = 0
            if step != root {
                let parent = plan.steps[step].inputs[0]
                order[step] = states[step].consumed.filter { $0.parent == parent }.map(\.seq)
                wants[step] = Set(order[step] ?? [])
                fed[step] = 0
            }
        }
        guard let generator = hosts[root] else { return }
        while produced[root, default: 0] < states[root].emitted {
            let output = try generator.process(nil)
            for batch in output.batches { try emit(root, batch) }
            if output.exhausted { break }
        }
        // A finished step may have given its last batches from `finish`.
        for step in members where step != root && states[step].done {
            guard let host = hosts[step], fed[step] == order[step]?.count else { continue }
            while produced[step, default: 0] < states[step].emitted {
                let output = try host.finish()
                for batch in output.batches { try emit(step, batch) }
                if output.exhausted || output.batches.isEmpty { break }
            }
        }
        for step in members {
            let short = markers[step].keys.filter { $0 >= produced[step, default: 0] && needed(step, $0) }
            if let first = short.min() {
                throw ReplayError.fewerBatches(step: plan.steps[step].name, made: produced[step, default: 0], needed: first + 1)
            }
        }
        try flush()
    }

    private mutating func emit(_ step: Int, _ batch: RecordBatch) throws {
        let seq = produced[step, default: 0]
        produced[step] = seq + 1
        guard seq < states[step].emitted else { return }  // past where the run stopped: the run itself goes on from here
        if let digest = markers[step][seq] {
            guard RunStore.replayDigest(batch) == digest else {
                throw ReplayError.differentRows(step: plan.steps[step].name, seq: seq)
            }
            if needed(step, seq) {
                filled[step, default: []].append((seq, batch))
                filledRows += batch.length
                if filledRows >= 100_000 { try flush() }
            }
        }
        for child in children[step] where replayable[child] && wants[child]?.contains(seq) == true {
            early[child, default: [:]][seq] = batch
            try feed(child)
        }
    }

    /// Feeds `step` the parent batches that are next in its order.
    private mutating func feed(_ step: Int) throws {
        guard let host = hosts[step], let sequence = order[step] else { return }
        while let position = fed[step], position < sequence.count,
              let batch = early[step]?.removeValue(forKey: sequence[position]) {
            fed[step] = position + 1
            let output = try host.process(batch, inputIndex: 0)
            for made in output.batches { try emit(step, made) }
        }
    }

    private mutating func flush() throws {
        for (step, batches) in filled.sorted(by: { $0.key < $1.key }) {
            try store.fillReplayed(step: plan.steps[step].name, batches: batches)
        }
        filled = [:]
        filledRows = 0
    }
}

enum ReplayError: Error, CustomStringConvertible {
    case differentRows(step: String, seq: Int)
    case fewerBatches(step: String, made: Int, needed: Int)

    var description: String {
        switch self {
        case .differentRows(let step, let seq):
            "step \"\(step)\" made different rows on resume than in the run it resumes (batch \(seq)): its input changed, or it is not deterministic; run with --fresh to start over"
        case .fewerBatches(let step, let made, let needed):
            "step \"\(step)\" made \(made) batches on resume where the run it resumes had \(needed) or more: its input changed, or it is not deterministic; run with --fresh to start over"
        }
    }
}
