import CPipelineABI
import PipelineArrow
import PipelineJSON
import PipelineLLMClient
import Synchronization

/// One step instance and everything the host adds around its calls, the
/// same for the executor, `pipeline plugins try` and the tests: input
/// sliced to the step's batch size, `_row_id`s on every output row, failed
/// rows (`_error`) moved aside as the step received them, and the run-time
/// contract checks of the header (declared outputs present; no output for
/// a non-empty input only from a step that says it filters).
package final class StepHost: @unchecked Sendable {
    /// What one process or finish call gave, split by the host.
    package struct Output {
        /// Good rows, `_row_id` set, `_error` stripped.
        package var batches: [RecordBatch] = []
        /// Failed rows, as the step received them plus its columns and `_error`.
        package var errorRows: [RecordBatch] = []
        /// The generator is exhausted, or finish has nothing more.
        package var exhausted = false
        package var batchesIn = 0
        package var rowsIn = 0
        /// Calls that returned no rows for a non-empty input from a step
        /// without PIPELINE_STEP_FILTERS (each also logged as a warning).
        package var batchesWithoutOutput = 0

        package init() {}
    }

    package let instance: StepInstance
    package let batchSize: Int
    /// Generators: their ordinal; other steps: 0x8000 | position. Goes in
    /// the top 16 bits of ids the host has to make up.
    package let idTag: UInt64
    private let nextID: Mutex<UInt64>
    /// Declared, non-optional, non-wildcard output columns (names resolved
    /// with the parameters): every batch must have them.
    private let requiredOutputs: [String]
    /// A step (not a generator or a global step, whose process emits
    /// nothing by contract) that declares outputs and not FILTERS: no rows
    /// for a non-empty input is reported.
    private let reportsEmptyOutput: Bool

    package init(instance: StepInstance, parameters: [String: JSONValue], batchSize: Int, idTag: UInt64,
                 nextID: UInt64 = 0) {
        self.instance = instance
        self.batchSize = max(1, batchSize)
        self.idTag = idTag
        self.nextID = Mutex(nextID)
        let descriptor = instance.descriptor
        requiredOutputs = descriptor.outputs.filter { !$0.isWildcard && !$0.optional && !$0.name.hasPrefix("_") }
            .map { $0.resolvedName(parameters) }
        reportsEmptyOutput = descriptor.kind == .step && !descriptor.outputs.isEmpty
            && descriptor.flags & UInt64(PIPELINE_STEP_FILTERS) == 0
    }

    /// The counter for fresh row ids, for the store.
    package var currentNextID: UInt64 { nextID.withLock { $0 } }

    /// One input batch (nil: a generator's next batch), sliced to the
    /// step's batch size.
    /// `inputIndex`: which of the step's inputs the batch comes from (-1: unknown).
    package func process(_ input: RecordBatch?, ioLines: IOLogLines? = nil, inputIndex: Int = -1) throws -> Output {
        var output = Output()
        guard let input else {
            // A generator: no output means it is exhausted.
            guard let result = try instance.process(nil, ioLines: ioLines) else {
                output.exhausted = true
                return output
            }
            try add(result, input: nil, to: &output)
            return output
        }
        var offset = 0
        repeat {
            let count = min(batchSize, input.length - offset)
            let chunk = count == input.length ? input : input.slice(from: offset, count: count)
            output.batchesIn += 1
            output.rowsIn += chunk.length
            let result = try instance.process(chunk, ioLines: ioLines, inputIndex: inputIndex)
            if reportsEmptyOutput, chunk.length > 0, (result?.length ?? 0) == 0 {
                output.batchesWithoutOutput += 1
                instance.warn("returned no rows for a batch of \(chunk.length) and does not declare PIPELINE_STEP_FILTERS: if it dropped them on purpose it should say so; otherwise those rows are lost (plugin \(instance.descriptor.libraryName), \(instance.descriptor.libraryPath))")
            }
            if let result { try add(result, input: chunk, to: &output) }
            offset += count
        } while offset < input.length
        return output
    }

    /// The step's buffered output after its last input.
    package func finish(ioLines: IOLogLines? = nil) throws -> Output {
        var output = Output()
        guard let result = try instance.finish(ioLines: ioLines) else {
            output.exhausted = true
            return output
        }
        try add(result, input: nil, to: &output)
        return output
    }

    /// Checks the contract, gives every row a `_row_id` and moves rows
    /// with an `_error` aside.
    private func add(_ batch: RecordBatch, input: RecordBatch?, to output: inout Output) throws {
        let missing = requiredOutputs.filter { batch.index(of: $0) == nil }
        if !missing.isEmpty {
            let names = missing.map { "\"\($0)\"" }.joined(separator: ", ")
            throw PluginError.callFailed(
                step: instance.label, function: input == nil ? "finish" : "process", status: .invalidData,
                message: "the output lacks the declared column\(missing.count == 1 ? "" : "s") \(names) (it has \(batch.fields.map(\.name).joined(separator: ", "))); plugin \(instance.descriptor.libraryName) (\(instance.descriptor.libraryPath)) breaks its own outputs_json",
                plugin: instance.descriptor.name)
        }
        var batch = batch
        if batch.column("_row_id")?.type != .uint64 {
            batch = try batch.setting(ArrowField("_row_id", .uint64, nullable: false), rowIDs(for: batch, input: input))
        }
        if let errorColumn = batch.column("_error"), errorColumn.type == .utf8 || errorColumn.type == .largeUtf8 {
            if errorColumn.nullCount > 0 || errorColumn.length == 0 {
                let failed = (0..<batch.length).filter { errorColumn.isValid($0) }
                if !failed.isEmpty {
                    output.errorRows += try asTheyCameIn(batch, failed, input: input)
                    let good = (0..<batch.length).filter { !errorColumn.isValid($0) }
                    batch = try batch.take(good)
                }
                batch = batch.removing("_error")
            } else {
                // Every row failed.
                output.errorRows += try asTheyCameIn(batch, Array(0..<batch.length), input: input)
                return
            }
        }
        if batch.length > 0 { output.batches.append(batch) }
    }

    /// The failed rows `failed` of a step's output, as the step received
    /// them: a failed row that carries an input row's id is recorded as
    /// that input row (every value that caused the error, where the step
    /// may have replaced some with null), plus the columns the step added,
    /// plus `_error`; other rows (from a generator, or with new ids) as the
    /// step emitted them.
    private func asTheyCameIn(_ batch: RecordBatch, _ failed: [Int], input: RecordBatch?) throws -> [RecordBatch] {
        guard let input, let inputIDs = input.column("_row_id"), inputIDs.type == .uint64,
              let ids = batch.column("_row_id"), ids.type == .uint64, let messages = batch.column("_error")
        else { return [try batch.take(failed)] }
        var position: [UInt64: Int] = [:]
        for row in 0..<input.length where inputIDs.isValid(row) { position[inputIDs.uint64(row)] = row }
        var found: [(input: Int, output: Int)] = []
        var unmatched: [Int] = []
        for row in failed {
            if ids.isValid(row), let source = position[ids.uint64(row)] { found.append((source, row)) } else { unmatched.append(row) }
        }
        var result: [RecordBatch] = []
        if !found.isEmpty {
            // The input's columns as they came in, then what the step added
            // (a raw answer that could not be parsed, say), then _error.
            var record = try input.take(found.map(\.input)).removing("_error")
            let emitted = try batch.take(found.map(\.output))
            for (index, field) in emitted.fields.enumerated()
            where field.name != "_error" && record.index(of: field.name) == nil {
                record = try record.setting(field, emitted.columns[index])
            }
            let errors = ColumnBuilder(.utf8)
            for (_, row) in found { errors.append(from: messages, row: row) }
            result.append(try record.setting(ArrowField("_error", .utf8), errors.finish()))
        }
        if !unmatched.isEmpty { result.append(try batch.take(unmatched)) }
        return result
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
