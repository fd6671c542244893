import Foundation
import Synchronization
import Logging
import PipelineArrow
import PipelineJSON
import PipelineBase
import PipelineLLMClient
import PipelineSQLite
import PipelineStore
import PipelineDefinition
import PipelineHost
import PipelineServe

/// How to run a plan.
public struct ExecutorOptions: Sendable {
    /// Where outputs, `state.db`, `run.log`, `errors.jsonl` and `summary.json` go.
    public var runDirectory: String
    /// Batches an edge may hold before its producer waits.
    public var queueCapacity = 4
    /// Worker threads; default: one per step (every step can run at once), at least 2.
    public var workers: Int?
    /// Commit every batch to `state.db` so a killed run resumes exactly.
    /// Off: nothing is stored (a benchmark baseline, or throwaway runs).
    public var checkpoint = true
    /// Forget any stored state of this run directory and start over.
    public var fresh = false
    /// A pipeline that changed since the stored run: keep the steps that
    /// did not change (nor any step they read), redo the rest.
    public var resumeChanged = false
    /// The LLM response cache (SQLite), shared across runs; nil: no cache.
    public var llmCache: String?
    /// Environment for `${...}`-free settings such as api_key_env.
    public var environment: [String: String] = ProcessInfo.processInfo.environment
    /// Asks the run to stop (a signal): no new calls, in-flight ones finish
    /// and are committed, the run ends `interrupted`.
    public var stop: StopSignal?
    /// Called on the control thread after every completed call with the
    /// summary so far (for a progress display; keep it cheap).
    public var progress: (@Sendable (RunSummary) -> Void)?
    /// Where the run's live progress can be read from any thread (a status
    /// line's timer, JSON progress records); the executor makes its own
    /// when nil, for summary.json.
    public var live: LiveProgress?
    /// A preview: each generator stops after this many rows (the rest of
    /// the pipeline runs on them, global steps included).
    public var rowLimit: Int?
    /// Called on the control thread with every step's output of a call:
    /// its good batches and its failed rows (a preview prints them).
    public var onOutput: (@Sendable (_ step: String, _ batches: [RecordBatch], _ failed: [RecordBatch]) -> Void)?
    /// The pipeline file's text: redacted, it is what "pipeline.run/1" shows
    /// steps (a Hub pusher publishes it beside the data).
    public var pipelineText = ""
    /// What a run does once everything it can do before a provider batch
    /// (`llms: NAME: batch:`) answers is done: wait for the answers here,
    /// or end as `waiting` (exit code 7) for a later run to collect them.
    public var batchWait = BatchWait.exit

    public init(runDirectory: String) { self.runDirectory = runDirectory }
}

/// Lets another thread (a signal handler) stop a run.
public final class StopSignal: Sendable {
    private let requested = Atomic(false)
    private let waker = Mutex<(@Sendable () -> Void)?>(nil)

    public init() {}

    /// [thread-safe] Stop taking new work. Idempotent.
    public func request() {
        requested.store(true, ordering: .sequentiallyConsistent)
        waker.withLock { $0 }?()
    }

    public var isRequested: Bool { requested.load(ordering: .sequentiallyConsistent) }

    func onRequest(_ wake: @escaping @Sendable () -> Void) {
        waker.withLock { $0 = wake }
        if isRequested { wake() }
    }
}

/// Runs a validated plan: creates every step instance, streams batches
/// through them on a dedicated worker pool as the Scheduler decides,
/// commits each call's results to the run's state store, and records a
/// summary. The control thread (the caller's) owns all state; workers only
/// call plugins and report back.
public enum Executor {
    /// Runs (or resumes) `plan`. Throws only when the run cannot start: the
    /// state store cannot be opened, or holds a different pipeline.
    public static func run(_ plan: PipelinePlan, options: ExecutorOptions, logger: Logger) throws(StoreError) -> RunSummary {
        var summary = RunSummary(
            pipeline: plan.name, file: plan.file, runDirectory: options.runDirectory,
            steps: plan.steps.map { RunSummary.Step(name: $0.name, uses: $0.descriptor.id, inputs: $0.inputs) })
        let clock = ContinuousClock.now
        summary.startedAt = Date().timeIntervalSince1970
        do {
            try FileManager.default.createDirectory(atPath: options.runDirectory, withIntermediateDirectories: true)
        } catch {
            throw StoreError(.sqlite, "cannot create the run directory \(options.runDirectory): \(error.localizedDescription)")
        }
        if options.fresh {
            keepPreviousIOLog(in: options.runDirectory, logger: logger)
            forgetProviderBatches(in: options.runDirectory, logger: logger)
        }
        var store: RunStore?
        var states: [String: RunStore.StepState] = [:]
        if options.checkpoint {
            let opened = try RunStore(directory: options.runDirectory, fresh: options.fresh)
            let fingerprints = plan.steps.map { Self.fingerprint($0, llms: plan.llms) }
            if options.resumeChanged {
                let inputs = Dictionary(uniqueKeysWithValues: plan.steps.map { ($0.name, $0.inputs) })
                let begun = try opened.beginChanged(pipeline: plan.name, steps: fingerprints, inputs: inputs)
                states = begun.states
                if begun.rerun.changesAnything {
                    summary.rerun = report(begun.rerun, plan: plan, logger: logger)
                }
            } else {
                states = try opened.begin(pipeline: plan.name, steps: fingerprints)
            }
            store = opened
        }
        if let store, !states.isEmpty, states.values.allSatisfy(\.done) {
            // Nothing runs, so nothing is written: summary.json keeps the
            // figures of the attempts that did the work.
            logger.info("this run is already complete: nothing to do (run with --fresh to run it again)")
            restoreCounters(states, into: &summary)
            let attempts = try store.attempts()
            summary.add(attempts)
            summary.attempts = attempts.count
            summary.status = .succeeded
            return summary
        } else if states.values.contains(where: { $0.emitted > 0 || $0.done }) {
            let done = states.values.filter(\.done).count
            logger.info("resuming the run", metadata: ["steps_done": "\(done)", "steps": "\(plan.steps.count)"])
        }
        restoreCounters(states, into: &summary)
        // Earlier attempts (a killed or failed run this one resumes) count too.
        let earlier = try store?.attempts() ?? []
        var attempt = earlier.count + 1
        do {
            attempt = try store?.beginAttempt(startedAt: summary.startedAt) ?? attempt
        } catch {
            // The figures are secondary: a store that cannot take them (a
            // full disk) fails the run at its first commit, saying why.
            logger.warning("cannot record this attempt's figures: \(error)")
        }
        let thisStart = summary.startedAt
        summary.add(earlier)
        summary.attempts = earlier.count + 1
        summary.status = .running
        writeSummary(summary, to: options.runDirectory, logger: logger)
        do {
            var run = try Run(plan: plan, options: options, logger: logger, store: store, states: states,
                              attempt: attempt, startedAt: thisStart, clock: clock)
            // The servers of `serve:` stop when the run does, however it ends.
            defer { run.servers?.stopAll() }
            summary.servers = run.servers?.summary
            try run.execute(summary: &summary)
            summary.servers = run.servers?.summary
            if let failure = run.servers?.failure { throw ServeError(failure) }
            summary.status = run.interrupted ? .interrupted : run.waitingForBatches ? .waiting : .succeeded
            summary.providerBatches = run.batchesWaitedFor
            if let store {
                try store.setStatus(run.interrupted ? .interrupted : run.waitingForBatches ? .waiting : .succeeded)
                try writeErrorRows(from: store, to: options.runDirectory)
            }
        } catch {
            summary.status = .failed
            summary.error = "\(error)"
            logger.error("run failed: \(error)")
            try? store?.setStatus(.failed)
        }
        // This attempt's own figures, stored, then added to the earlier ones
        // (its LLM usage is in the summary already, from the clients).
        var this = store?.attemptProgress?() ?? RunStore.Attempt.measure(number: attempt, startedAt: thisStart, since: clock)
        if let store {
            do { try store.record(this) } catch { logger.error("could not record the run's figures: \(error)") }
        }
        this.llms = [:]
        summary.add([this])
        writeSummary(summary, to: options.runDirectory, logger: logger)
        return summary
    }

    /// The tag in the high bits of the row ids each step makes: generators
    /// are numbered among themselves, other steps by their place in the
    /// plan. A step's `rowIDTag` (a preview's pruned plan) keeps the tag it
    /// has in the whole pipeline, so its rows have the same ids there.
    package static func rowIDTags(_ plan: PipelinePlan) -> [UInt64] {
        var generatorOrdinal: UInt64 = 0
        return plan.steps.enumerated().map { position, step in
            if let tag = step.rowIDTag { return tag }
            guard step.descriptor.kind == .generator else { return 0x8000 | UInt64(position) }
            defer { generatorOrdinal += 1 }
            return generatorOrdinal
        }
    }

    /// Says what a changed pipeline's run keeps and redoes, step by step,
    /// and what happens to what steps wrote or pushed; returns the same
    /// for summary.json.
    static func report(_ rerun: RunStore.Rerun, plan: PipelinePlan, logger: Logger) -> JSONValue {
        let steps = Dictionary(uniqueKeysWithValues: plan.steps.map { ($0.name, $0) })
        var reused: [JSONValue] = [], recomputed: [JSONValue] = []
        for name in rerun.reused {
            var note = "stored outputs kept"
            if let step = steps[name], PreviewPlan.delivery(step) != nil {
                note += "; what it wrote or pushed stays as it is"
            }
            logger.info("reused \(name): \(note)")
            reused.append(.object(["step": .string(name), "note": .string(note)]))
        }
        for (name, why) in rerun.recomputed {
            var object: [String: JSONValue] = ["step": .string(name), "why": .string(why)]
            var line = "recomputed \(name): \(why)"
            if let step = steps[name], let delivery = PreviewPlan.delivery(step) {
                let what = step.credential != nil
                    ? "\(delivery): it sends its data again (a new push)"
                    : "\(delivery): the file is written again and replaces the old one when the run succeeds"
                object["delivery"] = .string(what)
                line += "; \(what)"
            }
            logger.info("\(line)")
            recomputed.append(.object(object))
        }
        for name in rerun.removed { logger.info("removed \(name): no longer in the pipeline; its stored state is dropped") }
        return .object(["reused": .array(reused), "recomputed": .array(recomputed),
                        "removed": .array(rerun.removed.map { .string($0) })])
    }

    /// Step counters as the store has them (every attempt's work).
    static func restoreCounters(_ states: [String: RunStore.StepState], into summary: inout RunSummary) {
        for (index, step) in summary.steps.enumerated() {
            if let counters = states[step.name]?.counters {
                summary.steps[index].batchesIn = counters.batchesIn
                summary.steps[index].rowsIn = counters.rowsIn
                summary.steps[index].batchesOut = counters.batchesOut
                summary.steps[index].rowsOut = counters.rowsOut
                summary.steps[index].rowErrors = counters.rowErrors
                summary.steps[index].busySeconds = counters.busySeconds
            }
        }
    }

    /// What determines a step's output: its plugin and version, its
    /// parameters, its inputs and its batch size. A change means the stored
    /// state belongs to another pipeline.
    /// Input files count too (by size and modification time): a resumed
    /// generator skips the batches it already emitted, which is only right
    /// if it reads the same data.
    /// The LLM's model and generation parameters are in the parts only, not
    /// in the hash (stores written before keep matching); the store compares
    /// them where it has them (RunStore.Fingerprint.matches).
    static func fingerprint(_ step: PlannedStep, llms: [String: JSONValue]) -> RunStore.Fingerprint {
        var parts = [step.descriptor.id, step.descriptor.version, JSONValue.object(step.parameters).serialized,
                     step.inputs.joined(separator: ","), String(step.batchSize)]
        var files: [String: (size: Int64, modified: Double)] = [:]
        for (key, property) in (step.descriptor.parameterSchema["properties"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key })
        where property["format"]?.stringValue == "input-path" {
            guard let path = step.parameters[key]?.stringValue,
                  let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { continue }
            let size = (attributes[.size] as? NSNumber)?.int64Value ?? -1
            let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            parts.append("\(key)=\(size)@\(modified)")
            files[key] = (size, modified)
        }
        // The hash decides; the parts (secrets hidden) say what changed.
        return RunStore.Fingerprint(name: step.name, config: fnv1a(parts.joined(separator: "\u{1F}")),
                                    parts: FingerprintParts.make(step, files: files, llm: step.llm.flatMap { llms[$0] }))
    }

    /// Parameters whose schema says `"format": "output-path"` are made
    /// absolute against the run directory.
    package static func resolvingOutputPaths(_ parameters: [String: JSONValue], schema: JSONValue,
                                     runDirectory: String) -> [String: JSONValue] {
        var resolved = parameters
        for (key, property) in schema["properties"]?.objectValue ?? [:]
        where property["format"]?.stringValue == "output-path" {
            if let path = parameters[key]?.stringValue, !path.hasPrefix("/") {
                resolved[key] = .string((runDirectory as NSString).appendingPathComponent(path))
            }
        }
        return resolved
    }

    static func writeSummary(_ summary: RunSummary, to directory: String, logger: Logger) {
        // While the run goes on, a crash rewrites this summary as failed.
        if summary.status == .running { CrashGuard.arm(summary) } else { CrashGuard.disarm() }
        let path = (directory as NSString).appendingPathComponent("summary.json")
        do {
            try AtomicFile.write(summary.json.serialized + "\n", to: path)
        } catch {
            logger.error("\(error)")
        }
    }

    /// The teacher I/O log records one run: a fresh run starts its own and
    /// keeps the previous run's, one generation back, as llm-io.previous.jsonl
    /// (a resumed run appends to the log of the run it resumes).
    /// `--fresh` starts over: the provider batches of the earlier run are
    /// forgotten (the provider may still run and bill them: say so).
    static func forgetProviderBatches(in directory: String, logger: Logger) {
        let path = (directory as NSString).appendingPathComponent(ProviderBatches.fileName)
        guard FileManager.default.fileExists(atPath: path) else { return }
        let pending = ProviderBatches.pendingSummary(path: path).filter { !$0.done }
        if !pending.isEmpty {
            logger.warning("--fresh: forgetting provider batches of the earlier run; the provider may still run (and bill) them",
                           metadata: ["batches": "\(pending.flatMap { $0.open.compactMap(\.batchID) }.joined(separator: ", "))"])
        }
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    static func keepPreviousIOLog(in directory: String, logger: Logger) {
        let log = (directory as NSString).appendingPathComponent("llm-io.jsonl")
        guard FileManager.default.fileExists(atPath: log) else { return }
        let previous = (directory as NSString).appendingPathComponent("llm-io.previous.jsonl")
        if rename(log, previous) != 0 {
            logger.warning("could not move \(log) aside: \(String(cString: strerror(errno))); this run appends to it")
        }
    }

    /// `errors.jsonl`, rebuilt from the store: every failed row once, with
    /// its step, whatever the number of resumes (format: BatchJSON.errorRecords).
    private static func writeErrorRows(from store: RunStore, to directory: String) throws {
        let path = (directory as NSString).appendingPathComponent("errors.jsonl")
        var text = ""
        try store.forEachErrorBatch { step, rows in
            for line in BatchJSON.errorRecords(rows, step: step) { text += line + "\n" }
        }
        if text.isEmpty {
            try? FileManager.default.removeItem(atPath: path)
        } else {
            try AtomicFile.write(text, to: path)
        }
    }
}

/// 64-bit FNV-1a of the UTF-8 text, as 16 hex digits (change detection, not security).
func fnv1a(_ text: String) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
        hash ^= UInt64(byte)
        hash &*= 0x0000_0100_0000_01B3
    }
    let hex = String(hash, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}

/// A batch on its way to a step: who emitted it and its number there. The
/// batch itself is nil for one still in the store (loaded when dispatched).
struct Item: @unchecked Sendable {
    var source: Int
    var seq: Int
    var batch: RecordBatch?
    /// Consumed before a resume by a step that replays: its outputs and
    /// consumption are already committed.
    var replayed = false
}

/// One run of the plan: the control thread's state.
/// `--batch-wait`.
public enum BatchWait: String, Sendable, CaseIterable {
    /// Poll until the provider batches are done, then go on.
    case block
    /// End the run as `waiting`; the same command collects the answers later.
    case exit
}

private struct Run {
    /// Calls of one reentrant step (an LLM step) in flight at once.
    static let reentrantCalls = 4

    let plan: PipelinePlan
    let options: ExecutorOptions
    let logger: Logger
    let store: RunStore?
    let writer: StoreWriter?
    /// The steps whose outputs are replayed on resume, not stored.
    let replayPlan: ReplayPlan
    var runtimes: [StepRuntime] = []
    var scheduler: Scheduler<Item>
    /// Per step: next output sequence number, next consumption order, and
    /// outputs still to drop while a replaying step catches up.
    var emitted: [Int]
    var consumedCount: [Int]
    var skipOutputs: [Int]
    var done: [Bool]
    /// Results of a step's calls, put back in the order the calls started.
    var order: InOrder<Completion>
    var interrupted = false
    /// The run ended waiting for provider batches (`--batch-wait exit`).
    var waitingForBatches = false
    /// Those batches, as last polled (summary.json's `provider_batches`).
    var batchesWaitedFor: JSONValue?
    /// Per step: an item of this pass waits for a provider batch, so every
    /// later item of the step waits too (its rows keep their order).
    var holding: [Bool]
    /// `--batch-wait block`: the run is waiting for provider batches.
    var awaitingBatches = false
    /// One client per named LLM, shared by the steps that use it.
    var llms: [String: LLMClient] = [:]
    /// The servers the run started for `llms: NAME: serve:`.
    var servers: ModelServers?
    /// The teacher I/O log of the run's LLMs: the control thread writes each
    /// call's lines to it before the call's commit.
    var ioLog: LLMIOLog?
    /// Rows of the batches each step is working on now.
    var rowsInFlight: [Int]
    let live: LiveProgress
    /// Rows each generator announced, by step name.
    let announcedRows: @Sendable () -> [String: Int]

    init(plan: PipelinePlan, options: ExecutorOptions, logger: Logger, store: RunStore?,
         states: [String: RunStore.StepState], attempt: Int, startedAt: Double, clock: ContinuousClock.Instant) throws {
        self.plan = plan
        self.options = options
        self.logger = logger
        self.store = store
        // Validation checked this; the file system may have changed since
        // (a symlink made, a --run-dir given to the executor only).
        let conflicts = PathConflicts.problems(PathConflicts.uses(of: plan, runDirectory: options.runDirectory))
        guard conflicts.isEmpty else { throw ExecutorError.pathConflicts(conflicts) }
        writer = store.map { StoreWriter(store: $0) }
        replayPlan = ReplayPlan(plan: plan)
        let index = Dictionary(uniqueKeysWithValues: plan.steps.enumerated().map { ($1.name, $0) })
        let state = plan.steps.map { states[$0.name] ?? RunStore.StepState() }
        emitted = state.map(\.emitted)
        consumedCount = state.map(\.consumed.count)
        done = state.map(\.done)
        order = InOrder(steps: plan.steps.count)
        rowsInFlight = Array(repeating: 0, count: plan.steps.count)
        holding = Array(repeating: false, count: plan.steps.count)
        live = options.live ?? LiveProgress()
        skipOutputs = zip(plan.steps, state).map { step, state in
            step.descriptor.replaysOnResume && !state.done ? state.emitted : 0
        }
        let nodes = plan.steps.map { step in
            Scheduler<Item>.Node(
                parents: step.inputs.compactMap { index[$0] }, isGenerator: step.descriptor.kind == .generator,
                maxInFlight: step.descriptor.isReentrant ? Run.reentrantCalls : 1)
        }
        scheduler = Scheduler<Item>(nodes: nodes, capacity: options.queueCapacity)
        // What each unfinished step still has to (re)process.
        for (position, step) in plan.steps.enumerated() {
            let parents = step.inputs.compactMap { index[$0] }
            var inbox: [Item] = []
            var seen = Set<String>()
            if !state[position].done {
                for consumed in state[position].consumed {
                    seen.insert("\(consumed.parent)#\(consumed.seq)")
                    if step.descriptor.replaysOnResume, let parent = index[consumed.parent] {
                        inbox.append(Item(source: parent, seq: consumed.seq, batch: nil, replayed: true))
                    }
                }
                for parent in parents {
                    for seq in 0..<state[parent].emitted where !seen.contains("\(plan.steps[parent].name)#\(seq)") {
                        inbox.append(Item(source: parent, seq: seq, batch: nil))
                    }
                }
            }
            scheduler.restore(step: position, inbox: inbox, done: state[position].done)
        }
        if !plan.llms.isEmpty {
            let cache = try options.llmCache.map { path throws(StoreError) in try LLMCache(path: path) }
            let log = LLMIOLog(path: (options.runDirectory as NSString).appendingPathComponent("llm-io.jsonl"),
                               committedLength: try store?.ioLogBytes())
            ioLog = log
            // Servers only for LLMs a step of this run uses (a preview runs a part).
            let stop = options.stop, used = Set(plan.steps.compactMap(\.llm))
            servers = try ModelServers.start(plan.llms.filter { used.contains($0.key) }, runDirectory: options.runDirectory,
                                             environment: options.environment, logger: logger,
                                             stopRequested: { stop?.isRequested ?? false },
                                             onGiveUp: { stop?.request() })
            // Batches are tagged with the run's id, which a resumed run keeps.
            let batchRunID = try store?.runID() ?? RunStore.newRunID()
            for (name, settings) in plan.llms {
                var config = try LLMConfig(name: name, settings: settings, environment: options.environment)
                let served = servers?.endpoint(for: name)
                if let served {
                    config.baseURL = served.url
                    config.cacheIdentity = served.cacheIdentity
                }
                let batches = try config.batch.map { settings throws(BatchError) in
                    try ProviderBatches(path: (options.runDirectory as NSString).appendingPathComponent(ProviderBatches.fileName),
                                        llm: config, settings: settings, runID: batchRunID)
                }
                llms[name] = LLMClient(config: config, cache: cache, log: log, endpoint: served?.endpoint,
                                       providerBatches: batches)
            }
        }
        // The secrets of the credentials steps send, read before any step
        // is created: a missing one fails the run before anything is sent.
        var credentials: [String: HostCredential] = [:]
        for step in plan.steps {
            guard let name = step.credential, credentials[name] == nil, let settings = plan.credentials[name] else { continue }
            credentials[name] = try HostCredential(name: name, settings: settings, environment: options.environment)
        }
        // Every commit also records what this attempt has cost so far, so a
        // killed attempt still counts in the next one's summary.
        let clients = llms
        store?.attemptProgress = {
            RunStore.Attempt.measure(number: attempt, startedAt: startedAt, since: clock,
                                     llms: clients.mapValues(\.usage))
        }
        let writer = self.writer
        let run = RunContext(runID: try store?.runID() ?? RunStore.newRunID(), pipelineName: plan.name,
                             pipelineText: options.pipelineText, store: store,
                             flush: { () throws(StoreError) in try writer?.flush() })
        announcedRows = { run.expectedRows() }
        // Instances are created (and destroyed) on this, the control, thread.
        let tags = Executor.rowIDTags(plan)
        let clientsByName = llms
        func makeHost(_ position: Int, nextID: UInt64) throws -> StepHost {
            let step = plan.steps[position]
            let parameters = Executor.resolvingOutputPaths(step.parameters, schema: step.descriptor.parameterSchema,
                                                           runDirectory: options.runDirectory)
            var stepLogger = logger
            stepLogger[metadataKey: "step"] = "\(step.name)"
            let instance = try StepInstance(step.descriptor, parameters: parameters, label: step.name, logger: stepLogger,
                                            llm: step.llm.flatMap { clientsByName[$0] }, run: run,
                                            credential: step.credential.flatMap { credentials[$0] },
                                            inputs: step.inputs)
            return StepHost(instance: instance, parameters: parameters, batchSize: step.batchSize, idTag: tags[position],
                            nextID: nextID)
        }
        // What a resumed run reads of the batches it did not store.
        if let store, options.checkpoint {
            try replayPlan.restore(plan: plan, states: state, store: store, logger: logger) { position in
                try makeHost(position, nextID: 0)
            }
        }
        for (position, step) in plan.steps.enumerated() {
            guard !state[position].done else {
                runtimes.append(StepRuntime(host: nil, nextID: state[position].nextID))
                continue
            }
            // A replaying step makes its ids again from zero; the others go on.
            let nextID = step.descriptor.replaysOnResume ? 0 : state[position].nextID
            runtimes.append(StepRuntime(host: try makeHost(position, nextID: nextID), nextID: nextID))
        }
    }

    mutating func execute(summary: inout RunSummary) throws {
        // Enough threads for every call the scheduler may have in flight at
        // once (a blocking LLM call holds its thread), so no step waits for one.
        let slots = plan.steps.reduce(0) { $0 + ($1.descriptor.isReentrant ? Self.reentrantCalls : 1) }
        let pool = WorkerPool(threads: options.workers ?? max(2, min(slots, 64)))
        defer {
            pool.shutdown()
            writer?.close()
        }
        let events = BlockingQueue<Event>()
        options.stop?.onRequest { events.put(.stop) }
        var failure: (any Error)?
        var lastSummaryWrite = ContinuousClock.now
        let index = Dictionary(uniqueKeysWithValues: plan.steps.enumerated().map { ($1.name, $0) })
        live.attach(LiveProgress.Shape(parents: plan.steps.map { $0.inputs.compactMap { index[$0] } },
                                       isGenerator: plan.steps.map { $0.descriptor.kind == .generator },
                                       llm: plan.steps.map(\.llm), clients: llms, announced: announcedRows),
                    summary: summary)
        // The loop also wakes every second, so summary.json (read by
        // `pipeline runs`) moves during long calls too.
        let ticker = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "pipeline.executor.tick"))
        ticker.schedule(deadline: .now() + 1, repeating: 1)
        ticker.setEventHandler { events.put(.tick) }
        ticker.resume()
        defer { ticker.cancel() }

        logger.info("run started", metadata: ["pipeline": "\(plan.name)", "steps": "\(plan.steps.count)"])
        try dispatch(scheduler.start(), pool: pool, events: events)
        while !scheduler.isFinished {
            let ready: [Completion]
            switch events.take() {
            case .stop:
                guard !interrupted, failure == nil else { continue }
                interrupted = true
                logger.warning("stopping: no new work; waiting for calls in flight, then saving")
                scheduler.stop()
                for runtime in runtimes { runtime.instance?.interrupt() }
                continue
            case .completed(let value):
                ready = order.arrived(value, step: value.step, ticket: value.ticket)
            case .tick:
                // Rates are measured over samples; take one a second.
                _ = live.snapshot()
                ready = []
            }
            for completion in ready { try handle(completion, summary: &summary, failure: &failure, pool: pool, events: events) }
            if scheduler.isWaiting && failure == nil && !interrupted {
                try awaitProviderBatches(pool: pool, events: events)
            }
            if !ready.isEmpty {
                live.post(summary, rowsInFlight: rowsInFlight, done: plan.steps.indices.map(scheduler.isDone))
                options.progress?(summary)
            }
            // Keep summary.json current for `pipeline runs`, with the live
            // progress, a few times a minute.
            if ContinuousClock.now - lastSummaryWrite > .seconds(5) {
                lastSummaryWrite = .now
                Executor.writeSummary(live.snapshot() ?? summary, to: options.runDirectory, logger: logger)
            }
        }
        // Everything the run did is in the store before it says how it ended.
        try writer?.flush()
        // Lines of calls that failed stay, to explain the failure.
        if let ioLog, let store { try store.setIOLogBytes(ioLog.bytes) }
        recordLLMUsage(into: &summary)
        if let failure { throw failure }
        if interrupted {
            for client in llms.values.sorted(by: { $0.config.name < $1.config.name }) {
                do {
                    if try client.cancelProviderBatchesOnStop() {
                        logger.warning("llm \(client.config.name): asked the provider to cancel its open batches (cancel_on_stop); what they answered is kept")
                    }
                } catch {
                    logger.error("llm \(client.config.name): could not cancel its provider batches: \(error)")
                }
            }
            logger.warning("interrupted; run the same command again to resume", metadata: ["pipeline": "\(plan.name)"])
        } else if waitingForBatches {
            logger.warning("waiting for provider batches; run the same command later to collect them", metadata: ["pipeline": "\(plan.name)"])
        } else {
            logger.info("run finished", metadata: ["pipeline": "\(plan.name)", "row_errors": "\(summary.rowErrors)"])
        }
    }

    /// One call's result, in the order its step's calls started: its rows
    /// are counted, committed and handed to the children.
    private mutating func handle(_ completion: Completion, summary: inout RunSummary, failure: inout (any Error)?,
                                 pool: WorkerPool, events: BlockingQueue<Event>) throws {
        let step = completion.step
        rowsInFlight[step] -= completion.rowsDispatched
        // The call's log lines go in before its results are committed
        // (with the log's new length): see LLMIOLog.
        // A call that asked a provider batch for answers it does not have
        // yet delivers nothing: its input is held, uncommitted, and given
        // to the step again once the batch has answered (or, after an
        // exit, by the run that resumes). Later calls of the step in this
        // pass are held too, so its rows keep their order.
        var succeeded = false
        if case .success = completion.result { succeeded = true }
        if let item = completion.item, !completion.isFinish,
           completion.ioLines.waitsForBatch || (holding[step] && succeeded) {
            _ = completion.ioLines.take()
            holding[step] = true
            // A held input is read from the store when it is given back:
            // one the store keeps only a marker of gets its rows there.
            if let writer, replayPlan.replayable[item.source], let input = completion.input {
                try writer.enqueue(.fill(step: plan.steps[item.source].name, [(item.seq, input)]))
            }
            try dispatch(scheduler.held(step: step, item: item), pool: pool, events: events)
            return
        }
        if completion.ioLines.waitsForBatch {
            let where_ = completion.isFinish ? "finish" : "a generator's process"
            throw ExecutorError.batchInWrongPlace(step: plan.steps[step].name, call: where_)
        }
        let lines = completion.ioLines.take()
        if !lines.isEmpty { ioLog?.write(lines) }
        switch completion.result {
        case .failure(let error):
            scheduler.fail(step: step)
            if interrupted || failure != nil { return }
            failure = error
            logger.error("step failed, stopping the run", metadata: ["step": "\(plan.steps[step].name)"])
            for runtime in runtimes { runtime.instance?.interrupt() }
        case .success(var output):
            let replayed = completion.item?.replayed ?? false
            if !replayed {
                summary.steps[step].batchesIn += completion.batchesIn
                summary.steps[step].rowsIn += completion.rowsIn
            }
            summary.steps[step].busySeconds += completion.seconds
            if let limit = options.rowLimit, plan.steps[step].descriptor.kind == .generator {
                Self.limit(&output, to: limit - summary.steps[step].rowsOut)
            }
            // A replaying step catching up: what it emits again is stored already.
            let skipped = min(skipOutputs[step], output.batches.count)
            if skipped > 0 || replayed {
                output.batches.removeFirst(skipped)
                output.errorRows = []
                skipOutputs[step] -= skipped
            }
            summary.steps[step].batchesOut += output.batches.count
            summary.steps[step].rowsOut += output.batches.reduce(0) { $0 + $1.length }
            summary.steps[step].rowErrors += output.errorRows.reduce(0) { $0 + $1.length }
            summary.steps[step].batchesWithoutOutput += output.batchesWithoutOutput
            options.onOutput?(plan.steps[step].name, output.batches, output.errorRows)
            let isDone = completion.isFinish && output.exhausted
            let firstSeq = emitted[step]
            emitted[step] += output.batches.count
            var consumed: (parent: String, seq: Int, ord: Int)?
            if let item = completion.item, !replayed {
                consumed = (plan.steps[item.source].name, item.seq, consumedCount[step])
                consumedCount[step] += 1
            }
            if let writer {
                var commit = RunStore.Commit(step: plan.steps[step].name, counters: summary.steps[step],
                                             nextID: runtimes[step].currentNextID)
                commit.outputs = output.batches
                commit.firstSeq = firstSeq
                commit.errorRows = output.errorRows
                commit.consumed = consumed
                commit.done = isDone
                commit.ioLogBytes = ioLog?.bytes
                commit.replayable = replayPlan.replayable[step]
                try writer.enqueue(commit)
            }
            let items = output.batches.enumerated().map { Item(source: step, seq: firstSeq + $0, batch: $1) }
            let actions = completion.isFinish
                ? scheduler.finished(step: step, outputs: items, done: output.exhausted)
                : scheduler.processed(step: step, outputs: items, exhausted: output.exhausted)
            if isDone {
                logger.debug("step done", metadata: ["step": "\(plan.steps[step].name)",
                                                      "rows_out": "\(summary.steps[step].rowsOut)"])
            }
            try dispatch(actions, pool: pool, events: events)
        }
    }

    /// Nothing can go on before provider batches answer: every LLM with
    /// `batch:` submits what the held calls asked for (record, then act),
    /// then the run either ends as waiting (`--batch-wait exit`) or polls
    /// on the loop's ticks until the answers are in and gives the held
    /// items back (`block`).
    private mutating func awaitProviderBatches(pool: WorkerPool, events: BlockingQueue<Event>) throws {
        let batched = llms.values.filter(\.usesProviderBatches).sorted { $0.config.name < $1.config.name }
        guard !batched.isEmpty else { throw ExecutorError.heldWithoutBatches }
        // Once per wait: while it lasts, each poll submits what comes up
        // (resubmissions) itself.
        if !awaitingBatches {
            for client in batched { try client.submitProviderBatches() }
        }
        switch options.batchWait {
        case .exit:
            // Once before giving up: the batches a resumed run finds may be
            // done (the usual case for the next cron run).
            var answered = true
            for client in batched where try !client.pollProviderBatches(now: true) { answered = false }
            if answered {
                try resumeHeldCalls(pool: pool, events: events)
                return
            }
            waitingForBatches = true
            batchesWaitedFor = .array(batched.flatMap(\.providerBatchesJSON))
            let open = batched.map { "\($0.config.name): \($0.providerBatchStatus)" }.joined(separator: "; ")
            logger.info("provider batches submitted; ending the run as waiting", metadata: ["batches": "\(open)"])
            scheduler.stop()
        case .block:
            if !awaitingBatches {
                awaitingBatches = true
                let open = batched.map { "\($0.config.name): \($0.providerBatchStatus)" }.joined(separator: "; ")
                logger.info("waiting for provider batches", metadata: ["batches": "\(open)"])
            }
            var answered = true
            for client in batched where try !client.pollProviderBatches() { answered = false }
            guard answered else { return }
            awaitingBatches = false
            try resumeHeldCalls(pool: pool, events: events)
        }
    }

    /// The answers are in: the held items go back to their steps, in order.
    private mutating func resumeHeldCalls(pool: WorkerPool, events: BlockingQueue<Event>) throws {
        for step in holding.indices { holding[step] = false }
        // The held inputs are read back from the store.
        try writer?.flush()
        logger.info("provider batches answered; going on")
        try dispatch(scheduler.resumeHeld(), pool: pool, events: events)
    }

    /// Keeps the first `room` rows of a generator's output; once it has
    /// given that many, it is treated as exhausted.
    private static func limit(_ output: inout Completion.Output, to room: Int) {
        var left = max(0, room)
        var kept: [RecordBatch] = []
        for batch in output.batches where left > 0 {
            kept.append(batch.length <= left ? batch : batch.slice(from: 0, count: left))
            left -= kept[kept.count - 1].length
        }
        output.batches = kept
        if left == 0 { output.exhausted = true }
    }

    /// Requests and tokens of this run, per LLM and per step.
    private func recordLLMUsage(into summary: inout RunSummary) {
        for (name, client) in llms {
            var total = LLMUsage()
            for (step, usage) in client.usage {
                total.add(usage)
                if let index = summary.steps.firstIndex(where: { $0.name == step }) {
                    summary.steps[index].llm = (summary.steps[index].llm ?? LLMUsage()).adding(usage)
                }
            }
            summary.llms[name] = (summary.llms[name] ?? LLMUsage()).adding(total)
            summary.concurrency[name] = client.concurrency
        }
    }

    private mutating func dispatch(_ actions: [Scheduler<Item>.Action], pool: WorkerPool,
                                   events: BlockingQueue<Event>) throws {
        for action in actions {
            switch action {
            case .process(let step, var item):
                if var loaded = item, loaded.batch == nil, let store {
                    loaded.batch = try store.batch(step: plan.steps[loaded.source].name, seq: loaded.seq)
                    item = loaded
                }
                let runtime = runtimes[step]
                let job = item
                let ticket = order.ticket(for: step)
                let inputIndex = item.flatMap { plan.steps[step].inputs.firstIndex(of: plan.steps[$0.source].name) } ?? -1
                let rows = item?.batch?.length ?? 0
                rowsInFlight[step] += rows
                pool.submit {
                    var completion = runtime.process(step: step, item: job, inputIndex: inputIndex).ticketed(ticket)
                    completion.rowsDispatched = rows
                    events.put(.completed(completion))
                }
            case .finish(let step):
                let runtime = runtimes[step]
                let ticket = order.ticket(for: step)
                pool.submit { events.put(.completed(runtime.finish(step: step).ticketed(ticket))) }
            }
        }
    }
}

/// What wakes the control thread.
private enum Event: @unchecked Sendable {
    case completed(Completion)
    case stop
    /// A second passed.
    case tick
}

/// What a worker reports to the control thread.
struct Completion: @unchecked Sendable {
    typealias Output = StepHost.Output

    var step: Int
    /// The call's place among its step's calls (see InOrder).
    var ticket = 0
    var isFinish: Bool
    /// The input of a process call (nil for generators and finish), without its batch.
    var item: Item?
    /// The input batch itself (kept for an input held for a provider batch).
    var input: RecordBatch?
    var batchesIn = 0
    var rowsIn = 0
    /// Rows of the input batch, as counted in flight when the call started.
    var rowsDispatched = 0
    var seconds = 0.0
    /// The teacher I/O log lines of the call's LLM requests.
    var ioLines = IOLogLines()
    var result: Result<Output, any Error>

    func ticketed(_ ticket: Int) -> Completion {
        var copy = self
        copy.ticket = ticket
        return copy
    }
}

/// A step's StepHost (the host's side of its calls: slicing, row ids,
/// error rows, contract checks) as the executor's workers call it.
final class StepRuntime: @unchecked Sendable {
    /// Nil for a step a resumed run has already finished.
    let host: StepHost?
    private let resumedNextID: UInt64

    init(host: StepHost?, nextID: UInt64) {
        self.host = host
        resumedNextID = nextID
    }

    var instance: StepInstance? { host?.instance }

    /// The counter for fresh row ids, for the store.
    var currentNextID: UInt64 { host?.currentNextID ?? resumedNextID }

    func process(step: Int, item input: Item?, inputIndex: Int) -> Completion {
        call(step: step, isFinish: false, item: input) { host, ioLines in
            try host.process(input?.batch, ioLines: ioLines, inputIndex: inputIndex)
        }
    }

    func finish(step: Int) -> Completion {
        call(step: step, isFinish: true, item: nil) { host, ioLines in try host.finish(ioLines: ioLines) }
    }

    /// Runs one plugin call (or a few, for a sliced input), timing it and
    /// turning a thrown error into a failed completion.
    private func call(step: Int, isFinish: Bool, item: Item?,
                      _ body: (StepHost, IOLogLines) throws -> StepHost.Output) -> Completion {
        let start = ContinuousClock.now
        var completion = Completion(step: step, isFinish: isFinish, item: item.map { Item(source: $0.source, seq: $0.seq, replayed: $0.replayed) },
                                    input: item?.batch, result: .success(.init()))
        do {
            guard let host else { throw ExecutorError.stepAlreadyDone }
            let output = try body(host, completion.ioLines)
            completion.batchesIn = output.batchesIn
            completion.rowsIn = output.rowsIn
            completion.result = .success(output)
        } catch {
            completion.result = .failure(error)
        }
        completion.seconds = (ContinuousClock.now - start).seconds
        return completion
    }
}

enum ExecutorError: Error, CustomStringConvertible {
    case stepAlreadyDone
    case pathConflicts([Diagnostic])
    /// A generator or a `finish` call asked a provider batch (validation
    /// refuses such pipelines; a plugin may still do it).
    case batchInWrongPlace(step: String, call: String)
    case heldWithoutBatches

    var description: String {
        switch self {
        case .stepAlreadyDone: "internal error: a finished step was called again"
        case .pathConflicts(let problems): problems.map(\.description).joined(separator: "\n")
        case .batchInWrongPlace(let step, let call):
            "step \"\(step)\" asked an LLM with batch: for answers in \(call) call; only the process calls of a stateless step can wait for a provider batch"
        case .heldWithoutBatches: "internal error: calls are held for provider batches, but no LLM has batch:"
        }
    }
}
