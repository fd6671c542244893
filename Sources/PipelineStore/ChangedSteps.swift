import PipelineJSON
import PipelineSQLite

/// `pipeline run --resume-changed`: a run whose pipeline changed keeps the
/// stored work of every step whose definition and inputs did not change,
/// and starts over the first changed steps and everything that reads them.
extension RunStore {
    /// What a changed pipeline's run keeps and redoes, per step.
    public struct Rerun: Sendable {
        /// Steps whose stored state (outputs, consumption, counters, plugin
        /// state) is kept, in plan order.
        public var reused: [String] = []
        /// Steps started over, in plan order, each with why: what changed
        /// (old → new values, secrets hidden), that it is new, or which
        /// recomputed step it reads.
        public var recomputed: [(step: String, why: String)] = []
        /// Steps of the stored run the pipeline no longer has; their state is dropped.
        public var removed: [String] = []

        public var changesAnything: Bool { !recomputed.isEmpty || !removed.isEmpty }
    }

    /// Like `begin`, but a changed pipeline is not refused: the steps that
    /// changed (or are new) and every step downstream of them lose their
    /// stored state and take the new fingerprint; the others keep theirs.
    /// `inputs` gives each current step's parents. All of it in one
    /// transaction: a crash leaves either the old store or the new one.
    public func beginChanged(pipeline: String, steps: [Fingerprint],
                             inputs: [String: [String]]) throws(StoreError) -> (states: [String: StepState], rerun: Rerun) {
        let stored = try storedFingerprints()
        guard !stored.isEmpty else { return (try begin(pipeline: pipeline, steps: steps), Rerun()) }
        let before = Dictionary(stored.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var rerun = Rerun()
        var redo: Set<String> = []
        for step in steps {
            let why: String?
            if let old = before[step.name] {
                if !step.matches(stored: old) {
                    let what = old.parts.flatMap { oldParts in
                        step.parts.map { FingerprintParts.changes(from: oldParts, to: $0) }
                    } ?? []
                    why = what.isEmpty ? "it changed (a value that is not shown)" : what.joined(separator: "; ")
                } else if let parent = (inputs[step.name] ?? []).first(where: redo.contains) {
                    why = "it reads \(parent), which is recomputed"
                } else {
                    why = nil
                }
            } else {
                why = "it is new"
            }
            if let why {
                redo.insert(step.name)
                rerun.recomputed.append((step.name, why))
            } else {
                rerun.reused.append(step.name)
            }
        }
        let current = Set(steps.map(\.name))
        rerun.removed = stored.map(\.name).filter { !current.contains($0) }

        access.lock()
        defer { access.unlock() }
        try createStepStateTable()
        try database.transaction { () throws(StoreError) in
            for name in rerun.removed + rerun.recomputed.map(\.step) {
                for table in ["batches", "consumed", "error_rows", "step_state"] {
                    try database.prepare("DELETE FROM \(table) WHERE step = ?").run(.text(name))
                }
                try database.prepare("DELETE FROM steps WHERE name = ?").run(.text(name))
            }
            let insert = try database.prepare("INSERT INTO steps (name, position, config, parts) VALUES (?, ?, ?, ?)")
            let move = try database.prepare("UPDATE steps SET position = ? WHERE name = ?")
            for (position, step) in steps.enumerated() {
                if redo.contains(step.name) {
                    try insert.run(.text(step.name), .int(Int64(position)), .text(step.config),
                                   step.parts.map { .text($0.serialized) } ?? .null)
                } else {
                    try move.run(.int(Int64(position)), .text(step.name))
                }
            }
            try updateParts(steps.filter { !redo.contains($0.name) })
            try database.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('status', ?)")
                .run(.text(Status.running.rawValue))
        }
        return (try loadStates(), rerun)
    }
}
