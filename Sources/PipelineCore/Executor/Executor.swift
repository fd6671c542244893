import Foundation
import Synchronization
import Logging
import PipelineArrow

/// How to run a plan.
public struct ExecutorOptions: Sendable {
    /// Where outputs, `run.log`, `errors.jsonl` and `summary.json` go.
    public var runDirectory: String
    /// Batches an edge may hold before its producer waits.
    public var queueCapacity = 4
    /// Worker threads; default: one per step (every step can run at once), at least 2.
    public var workers: Int?
    /// Called on the control thread after every completed call with the
    /// summary so far (for a progress display; keep it cheap).
    public var progress: (@Sendable (RunSummary) -> Void)?

    public init(runDirectory: String) { self.runDirectory = runDirectory }
}

/// Runs a validated plan: creates every step instance, streams batches
/// through them on a dedicated worker pool as the Scheduler decides, and
/// records a summary. The control thread (the caller's) owns all state;
/// workers only call plugins and report back.
public enum Executor {
    public static func run(_ plan: PipelinePlan, options: ExecutorOptions, logger: Logger) -> RunSummary {
        var summary = RunSummary(
            pipeline: plan.name, file: plan.file, runDirectory: options.runDirectory,
            steps: plan.steps.map { RunSummary.Step(name: $0.name, uses: $0.descriptor.id) })
        let clock = ContinuousClock.now
        summary.startedAt = Date().timeIntervalSince1970
        do {
            try FileManager.default.createDirectory(atPath: options.runDirectory, withIntermediateDirectories: true)
            let errors = ErrorRowLog(path: (options.runDirectory as NSString).appendingPathComponent("errors.jsonl"))
            try execute(plan, options: options, logger: logger, summary: &summary, errors: errors)
        } catch {
            summary.status = .failed
            summary.error = "\(error)"
            logger.error("run failed: \(error)")
        }
        let elapsed = ContinuousClock.now - clock
        summary.seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        summary.recordResourceUsage()
        writeSummary(summary, to: options.runDirectory, logger: logger)
        return summary
    }

    private static func execute(_ plan: PipelinePlan, options: ExecutorOptions, logger: Logger,
                                summary: inout RunSummary, errors: ErrorRowLog) throws {
        let index = Dictionary(uniqueKeysWithValues: plan.steps.enumerated().map { ($1.name, $0) })
        // Instances are created and destroyed on this (the control) thread.
        var runtimes: [StepRuntime] = []
        var generatorOrdinal: UInt64 = 0
        for (position, step) in plan.steps.enumerated() {
            let parameters = resolvingOutputPaths(step.parameters, schema: step.descriptor.parameterSchema,
                                                  runDirectory: options.runDirectory)
            var stepLogger = logger
            stepLogger[metadataKey: "step"] = "\(step.name)"
            let instance = try StepInstance(step.descriptor, parameters: parameters, label: step.name, logger: stepLogger)
            let tag: UInt64
            if step.descriptor.kind == .generator {
                tag = generatorOrdinal
                generatorOrdinal += 1
            } else {
                tag = 0x8000 | UInt64(position)
            }
            runtimes.append(StepRuntime(instance: instance, batchSize: step.batchSize, idTag: tag))
        }
        let nodes = plan.steps.map { step in
            Scheduler<RecordBatch>.Node(
                parents: step.inputs.compactMap { index[$0] }, isGenerator: step.descriptor.kind == .generator,
                maxInFlight: step.descriptor.isReentrant ? 4 : 1)
        }
        var scheduler = Scheduler<RecordBatch>(nodes: nodes, capacity: options.queueCapacity)
        let pool = WorkerPool(threads: options.workers ?? max(2, min(plan.steps.count, 64)))
        defer { pool.shutdown() }
        let completions = BlockingQueue<Completion>()
        var failure: (any Error)?

        func dispatch(_ actions: [Scheduler<RecordBatch>.Action]) {
            for action in actions {
                switch action {
                case .process(let step, let item):
                    let runtime = runtimes[step]
                    pool.submit { completions.put(runtime.process(step: step, item: item)) }
                case .finish(let step):
                    let runtime = runtimes[step]
                    pool.submit { completions.put(runtime.finish(step: step)) }
                }
            }
        }

        logger.info("run started", metadata: ["pipeline": "\(plan.name)", "steps": "\(plan.steps.count)"])
        dispatch(scheduler.start())
        while !scheduler.isFinished {
            let completion = completions.take()
            let step = completion.step
            summary.steps[step].batchesIn += completion.batchesIn
            summary.steps[step].rowsIn += completion.rowsIn
            summary.steps[step].busySeconds += completion.seconds
            switch completion.result {
            case .failure(let error):
                if failure == nil {
                    failure = error
                    logger.error("step failed, stopping the run", metadata: ["step": "\(plan.steps[step].name)"])
                }
                scheduler.fail(step: step)
                for runtime in runtimes { runtime.instance.interrupt() }
            case .success(let output):
                summary.steps[step].batchesOut += output.batches.count
                summary.steps[step].rowsOut += output.batches.reduce(0) { $0 + $1.length }
                for failed in output.errorRows {
                    summary.steps[step].rowErrors += failed.length
                    errors.append(failed, step: plan.steps[step].name)
                }
                let actions = completion.isFinish
                    ? scheduler.finished(step: step, outputs: output.batches, done: output.exhausted)
                    : scheduler.processed(step: step, outputs: output.batches, exhausted: output.exhausted)
                if scheduler.isDone(step) {
                    logger.debug("step done", metadata: ["step": "\(plan.steps[step].name)",
                                                          "rows_out": "\(summary.steps[step].rowsOut)"])
                }
                dispatch(actions)
            }
            options.progress?(summary)
        }
        errors.close()
        if let failure { throw failure }
        logger.info("run finished", metadata: ["pipeline": "\(plan.name)", "row_errors": "\(summary.rowErrors)"])
    }

    /// Parameters whose schema says `"format": "output-path"` are made
    /// absolute against the run directory.
    static func resolvingOutputPaths(_ parameters: [String: JSONValue], schema: JSONValue,
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

    private static func writeSummary(_ summary: RunSummary, to directory: String, logger: Logger) {
        let path = (directory as NSString).appendingPathComponent("summary.json")
        do {
            try Data((summary.json.serialized + "\n").utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            logger.error("could not write \(path): \(error)")
        }
    }
}

/// What a worker reports to the control thread.
struct Completion: @unchecked Sendable {
    struct Output {
        var batches: [RecordBatch] = []
        var errorRows: [RecordBatch] = []
        var exhausted = false
    }

    var step: Int
    var isFinish: Bool
    var batchesIn = 0
    var rowsIn = 0
    var seconds = 0.0
    var result: Result<Output, any Error>
}

/// One step instance and what the host adds around its calls: slicing
/// input to the step's batch size, row ids, and pulling out error rows.
final class StepRuntime: @unchecked Sendable {
    let instance: StepInstance
    let batchSize: Int
    /// Generators: their ordinal; other steps: 0x8000 | position. Goes in
    /// the top 16 bits of ids the host has to make up.
    let idTag: UInt64
    private let nextID = Mutex<UInt64>(0)

    init(instance: StepInstance, batchSize: Int, idTag: UInt64) {
        self.instance = instance
        self.batchSize = max(1, batchSize)
        self.idTag = idTag
    }

    func process(step: Int, item: RecordBatch?) -> Completion {
        call(step: step, isFinish: false) { completion, output in
            guard let item else {
                // A generator: no output means it is exhausted.
                guard let result = try instance.process(nil) else { output.exhausted = true; return }
                return try add(result, input: nil, to: &output)
            }
            var offset = 0
            repeat {
                let count = min(batchSize, item.length - offset)
                let chunk = count == item.length ? item : item.slice(from: offset, count: count)
                completion.batchesIn += 1
                completion.rowsIn += chunk.length
                if let result = try instance.process(chunk) { try add(result, input: chunk, to: &output) }
                offset += count
            } while offset < item.length
        }
    }

    func finish(step: Int) -> Completion {
        call(step: step, isFinish: true) { _, output in
            guard let result = try instance.finish() else { output.exhausted = true; return }
            try add(result, input: nil, to: &output)
        }
    }

    /// Runs one plugin call (or a few, for a sliced input), timing it and
    /// turning a thrown error into a failed completion.
    private func call(step: Int, isFinish: Bool,
                      _ body: (inout Completion, inout Completion.Output) throws -> Void) -> Completion {
        let start = ContinuousClock.now
        var completion = Completion(step: step, isFinish: isFinish, result: .success(.init()))
        var output = Completion.Output()
        do {
            try body(&completion, &output)
            completion.result = .success(output)
        } catch {
            completion.result = .failure(error)
        }
        let elapsed = ContinuousClock.now - start
        completion.seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return completion
    }

    /// Gives every row a `_row_id` and moves rows with an `_error` aside.
    private func add(_ batch: RecordBatch, input: RecordBatch?, to output: inout Completion.Output) throws {
        var batch = batch
        if batch.column("_row_id")?.type != .uint64 {
            batch = try batch.setting(ArrowField("_row_id", .uint64, nullable: false), rowIDs(for: batch, input: input))
        }
        if let errorColumn = batch.column("_error"), errorColumn.type == .utf8 || errorColumn.type == .largeUtf8 {
            if errorColumn.nullCount > 0 || errorColumn.length == 0 {
                let failed = (0..<batch.length).filter { errorColumn.isValid($0) }
                if !failed.isEmpty {
                    output.errorRows.append(try batch.take(failed))
                    let good = (0..<batch.length).filter { !errorColumn.isValid($0) }
                    batch = try batch.take(good)
                }
                batch = batch.removing("_error")
            } else {
                // Every row failed.
                output.errorRows.append(batch)
                return
            }
        }
        if batch.length > 0 { output.batches.append(batch) }
    }

    /// Ids for a batch that came without them: the input's ids when the
    /// step kept one row per input row, otherwise new ones (tag in the top
    /// 16 bits, a per-step counter below).
    private func rowIDs(for batch: RecordBatch, input: RecordBatch?) -> ArrowColumn {
        if let ids = input?.column("_row_id"), ids.type == .uint64, ids.length == batch.length {
            return ids
        }
        let first = nextID.withLock { next in
            defer { next += UInt64(batch.length) }
            return next
        }
        let builder = ColumnBuilder(.uint64)
        for row in 0..<batch.length { builder.append(idTag << 48 | (first + UInt64(row))) }
        return builder.finish()
    }
}

/// `errors.jsonl`: every failed row, with its step, as it happens.
final class ErrorRowLog {
    private let path: String
    private var handle: FileHandle?

    init(path: String) { self.path = path }

    func append(_ rows: RecordBatch, step: String) {
        if handle == nil {
            FileManager.default.createFile(atPath: path, contents: nil)
            handle = FileHandle(forWritingAtPath: path)
        }
        var text = ""
        var prefix = "{\"step\":"
        JSONValue.writeString(step, to: &prefix)
        for line in BatchJSON.rows(rows) { text += prefix + "," + line.dropFirst() + "\n" }
        handle?.write(Data(text.utf8))
    }

    func close() { try? handle?.close() }
}
