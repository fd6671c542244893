import Foundation
import PipelineJSON

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a run did, step by step: written to `summary.json` in the run
/// directory and shown at the end of `pipeline run`.
public struct RunSummary: Sendable {
    public struct Step: Sendable {
        public var name: String
        public var uses: String
        /// The steps this one reads from.
        public var inputs: [String] = []
        public var batchesIn = 0
        public var rowsIn = 0
        public var batchesOut = 0
        public var rowsOut = 0
        /// Rows that failed (a non-null `_error`), kept out of later steps.
        public var rowErrors = 0
        /// Batches (of this attempt) for which a step without
        /// PIPELINE_STEP_FILTERS returned no rows: how a bug loses data.
        public var batchesWithoutOutput = 0
        /// Seconds spent inside the plugin's process/finish calls.
        public var busySeconds = 0.0
        /// LLM requests and tokens of the step in this run, if it used one.
        public var llm: LLMUsage?
        /// Where the step is, while the run goes on (never in a finished summary).
        public var progress: StepProgress?

        public init(name: String, uses: String, inputs: [String] = []) {
            self.name = name
            self.uses = uses
            self.inputs = inputs
        }
    }

    public enum Status: String, Sendable {
        case running, succeeded, failed, interrupted
        /// Held calls wait for provider batches (`--batch-wait exit`): the
        /// same command, run later, collects the answers and goes on.
        case waiting
    }

    public var pipeline: String
    public var file: String
    public var runDirectory: String
    public var status: Status = .succeeded
    /// Why the run failed, if it did.
    public var error: String?
    public var startedAt: Double = 0
    public var seconds = 0.0
    /// CPU seconds (user + system) of the whole process.
    public var cpuSeconds = 0.0
    /// Peak resident memory of the process, in bytes.
    public var peakRSSBytes = 0
    public var steps: [Step]
    /// LLM requests and tokens of this run, per named LLM.
    public var llms: [String: LLMUsage] = [:]
    /// Each LLM's concurrency limit in this attempt (in `summary.json`
    /// under `llms.NAME.concurrency`).
    public var concurrency: [String: LLMConcurrency] = [:]
    /// What a `--resume-changed` run kept and redid (reused, recomputed
    /// with why, removed), when the pipeline had changed.
    public var rerun: JSONValue?
    /// The model servers the run started (`serve:`): where, how fast, restarts.
    public var servers: JSONValue?
    /// The provider batches the run waits for (`batch:`), as last polled:
    /// `[{llm, batch_id, chunk, status, created, requests, completed, failed, checked}]`.
    public var providerBatches: JSONValue?
    /// How many times the run was started (the first run and each resume
    /// that did work); the figures above add up all of them.
    public var attempts = 1

    public init(pipeline: String, file: String, runDirectory: String, startedAt: Double = 0, steps: [Step]) {
        self.pipeline = pipeline
        self.file = file
        self.runDirectory = runDirectory
        self.startedAt = startedAt
        self.steps = steps
    }

    public var rowErrors: Int { steps.reduce(0) { $0 + $1.rowErrors } }

    private var llmsJSON: [String: JSONValue] {
        var result = llms.mapValues(\.json)
        for (name, limit) in concurrency {
            guard case .object(var object) = result[name] ?? .object([:]) else { continue }
            object["concurrency"] = limit.json
            result[name] = .object(object)
        }
        return result
    }

    /// A line per LLM under `max_concurrency: auto`: the limit it settled at.
    public var concurrencyLines: [String] {
        concurrency.keys.sorted().compactMap { name in
            concurrency[name].flatMap { $0.auto ? $0.line(llm: name) : nil }
        }
    }

    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "pipeline": .string(pipeline), "file": .string(file), "run_directory": .string(runDirectory),
            "status": .string(status.rawValue), "started_at": .number(startedAt), "attempts": .number(Double(attempts)),
            "seconds": .number((seconds * 1000).rounded() / 1000), "row_errors": .number(Double(rowErrors)),
            "cpu_seconds": .number((cpuSeconds * 1000).rounded() / 1000), "peak_rss_bytes": .number(Double(peakRSSBytes)),
            "llms": .object(llmsJSON),
            "steps": .array(steps.map { step in
                var object: [String: JSONValue] = [
                    "name": .string(step.name), "uses": .string(step.uses),
                    "inputs": .array(step.inputs.map { .string($0) }),
                    "batches_in": .number(Double(step.batchesIn)), "rows_in": .number(Double(step.rowsIn)),
                    "batches_out": .number(Double(step.batchesOut)), "rows_out": .number(Double(step.rowsOut)),
                    "row_errors": .number(Double(step.rowErrors)),
                    "batches_without_output": .number(Double(step.batchesWithoutOutput)),
                    "busy_seconds": .number((step.busySeconds * 1000).rounded() / 1000),
                ]
                if let llm = step.llm { object["llm"] = llm.json }
                if let progress = step.progress { object["progress"] = progress.json }
                return .object(object)
            }),
        ]
        if let error { object["error"] = .string(error) }
        if let rerun { object["rerun"] = rerun }
        if let servers { object["servers"] = servers }
        if let providerBatches { object["provider_batches"] = providerBatches }
        return .object(object)
    }

    /// A table for people, one line per step.
    public var table: String {
        var lines = ["STEP                 ROWS IN   ROWS OUT   ERRORS   BUSY s"]
        for step in steps {
            func pad(_ text: String, _ width: Int) -> String {
                text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
            }
            let name = step.name.count > 18 ? String(step.name.prefix(17)) + "…" : step.name
            lines.append(name.padding(toLength: 18, withPad: " ", startingAt: 0)
                + pad("\(step.rowsIn)", 10) + pad("\(step.rowsOut)", 11) + pad("\(step.rowErrors)", 9)
                + pad(String(format2(step.busySeconds)), 9))
        }
        return lines.joined(separator: "\n")
    }
}

func format2(_ value: Double) -> String {
    let hundredths = Int((value * 100).rounded())
    let fraction = hundredths % 100
    return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
}

extension RunSummary {
    /// CPU time and peak memory of this process, from getrusage.
    package static func processUsage() -> (cpuSeconds: Double, peakRSSBytes: Int) {
        var usage = rusage()
        #if os(Linux)
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return (0, 0) }
        let peak = Int(usage.ru_maxrss) * 1024
        #else
        guard getrusage(RUSAGE_SELF, &usage) == 0 else { return (0, 0) }
        let peak = Int(usage.ru_maxrss)
        #endif
        let cpu = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        return (cpu, peak)
    }
}

