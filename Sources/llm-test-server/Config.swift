// Command-line flags.

import Foundation

struct Config: Sendable {
    var port = 8000
    var portFile: String?
    var embedDim = 384
    var latencyMs = 0.0
    var latencyJitterMs = 0.0
    var seed: UInt64 = 0
    var errorRate = 0.0
    var errorStatus = 500
    var rateLimitRate = 0.0
    var retryAfter = 1
    var unavailableRate = 0.0
    var hangRate = 0.0
    var dropRate = 0.0
    var malformedRate = 0.0
    var junkScoresRate = 0.0
    /// Faults only on attempts 0..<faultsFirst of each distinct request.
    var faultsFirst: Int?
    /// Answer a chat request without seed and temperature 0 with a new
    /// sample each time, as a sampling server does.
    var sampleUnseeded = false
    /// At most this many LLM requests in service at once (nil: no limit).
    var capacity: Int?
    var overCapacity = OverCapacity.queue
    /// Act as a server still loading its model for this long after start:
    /// /health and the LLM routes answer 503, /v1/models 200 (llama-server).
    var loadingMs = 0.0

    // The Batch API (Batches.swift).
    var batchSeconds = 2.0
    var batchHold = false
    var batchMaxRequests = 50_000
    var batchMaxBytes = 200 * 1024 * 1024
    var batchOutputOrder = BatchOutputOrder.shuffled
    var batchFailValidationRate = 0.0
    var batchExpireRate = 0.0
    var batchLineFailureRate = 0.0
    var batchDropCreateRate = 0.0
    var batchPollErrorRate = 0.0
    var batchUploadErrorRate = 0.0

    static let usage = """
        usage: llm-test-server [options]

        A deterministic OpenAI-compatible server on 127.0.0.1 for tests and benchmarks.
        Prints `llm-test-server listening on http://127.0.0.1:PORT` when ready.

          --port N                 port to listen on, 0 picks a free one (default 8000)
          --port-file PATH         also write the port to PATH (atomically)
          --embed-dim N            default embedding dimension (default 384)
          --latency-ms MS          sleep before every LLM answer (default 0)
          --latency-jitter-ms MS   plus a seeded extra of 0..MS (default 0)
          --seed N                 seed for faults and jitter (default 0)
          --error-rate F           answer F of requests with --error-status (default 500)
          --error-status N         status for --error-rate, 400-599
          --rate-limit-rate F      answer F with 429 and Retry-After
          --retry-after S          Retry-After seconds for 429 and 503 (default 1)
          --unavailable-rate F     answer F with 503 and Retry-After
          --hang-rate F            never answer F (until the client closes)
          --drop-rate F            close the connection without an answer for F
          --malformed-rate F       answer F with 200 and a truncated JSON body
          --junk-scores-rate F     wrap F of score and judge answers in chatter (preamble, order, remarks)
          --faults-first N         inject faults only on the first N attempts of each distinct request
          --sample-unseeded        answer a chat request that has neither a "seed" nor "temperature": 0
                                   with a new sample every time it arrives (a sampling server)
          --capacity K             at most K LLM requests in service at once (sleeping their
                                   latency and being answered); the others wait (default: no limit)
          --over-capacity MODE     what a request beyond --capacity gets: queue (waits its turn,
                                   first come first served; default) or 429 (refused at once with
                                   Retry-After --retry-after)
          --loading-ms MS          for MS after start act as a server loading its model: /health and the
                                   LLM routes answer 503 "Loading model", /v1/models answers 200 (default 0)

        The Batch API (/v1/files and /v1/batches, as OpenAI's; see docs/llm-test-server.md):
          --batch-seconds S        a batch goes validating -> in_progress -> finalizing -> completed
                                   in about S seconds of real time, whatever its completion_window
                                   (default 2; 0: done at the first look)
          --batch-hold             hold new batches in_progress, nothing answered, until
                                   POST /_control/batches/release (POST /_control/batches/hold holds again)
          --batch-max-requests N   at most N requests in one batch input file (default 50000)
          --batch-max-bytes N      at most N bytes in one batch input file (default 209715200)
          --batch-output-order O   output and error file lines in input order (input) or in a seeded
                                   shuffled order as the real API does not promise any (shuffled; default)
          --batch-fail-validation-rate F  fail F of batches in validation (status failed, errors.data)
          --batch-expire-rate F    expire F of batches part way: status expired, the answered lines in
                                   the output file, the others in the error file with code batch_expired
          --batch-line-failure-rate F     answer F of batch lines with a 500 or a 400 content error
                                   (in the error file; the batch still completes)
          --batch-drop-create-rate F      create F of batches, then close the connection without answering
          --batch-poll-error-rate F       answer F of GETs on /v1/batches and /v1/files with 429
                                   (Retry-After --retry-after), 500 or 503
          --batch-upload-error-rate F     answer F of uploads (POST /v1/files) with 429, 500 or 503,
                                   storing nothing
          --help                   this text

        Rates are fractions in [0, 1]; the error, rate-limit, unavailable, hang, drop and
        malformed rates are exclusive and must sum to at most 1. A fault decision depends on
        (--seed, the request body, how many times that exact body was received), never on timing.
        An answer depends on the model, the messages, the request's own "seed" (as a sampling
        server's does) and the choice index. A model whose name ends in "-reasoner" also sends a
        reasoning trace in "reasoning_content", one ending in "-reasoner-v2" in "reasoning".
        With --sample-unseeded, an unseeded chat request at a temperature other than 0 also depends
        on how many such requests came before it.

        A chat request whose response_format carries a JSON Schema ({"type": "json_schema",
        "json_schema": {"name", "schema"}} or llama-cpp-python's {"type": "json_object", "schema"})
        is answered with JSON that conforms to it, and so is a request without response_format
        whose user message ends in "JSON Schema:" and a JSON object (a schema in the prompt). A
        user message containing [schema-fault:invalid-first] or [schema-fault:junk-first] makes
        the first attempt (no assistant message yet) violate the schema or answer prose;
        [schema-fault:fenced] wraps every answer in a ```json fence with prose around it;
        [schema-fault:never] never conforms.

        The judge step's prompts ("[Response to rate]", or "[Response 1]" and "[Response 2]") get a
        seeded 1-10 rating, or the verdict for the response whose text hashes higher (tie for equal
        texts) whatever its position, as JSON with a rationale; a model whose name ends in
        "-first-biased" always prefers the first position. A judged response containing
        [judge-fault:junk] gets the judgement as text in chatter, [judge-fault:no-verdict] none at
        all, [judge-fault:out-of-range] a rating of 11 (verdict "3"); --junk-scores-rate also
        applies to judgements.

        A batch line is answered exactly as the same body sent live (without the live faults and
        --junk-scores-rate). The batch faults depend on --seed and on how many times the same thing was
        seen: the input file's bytes for a batch, the line's url and body for a line, the route for a
        poll; --faults-first N bounds them as it bounds the live faults. The validation and expire rates
        are exclusive and must sum to at most 1.
        """

    struct UsageError: Error {
        let message: String
    }

    /// Parses `--flag value` and `--flag=value`. Returns nil for `--help`.
    static func parse(_ arguments: [String]) throws(UsageError) -> Config? {
        var config = Config()
        var index = 0
        while index < arguments.count {
            var flag = arguments[index]
            var inlineValue: String?
            if flag.hasPrefix("--"), let eq = flag.firstIndex(of: "=") {
                inlineValue = String(flag[flag.index(after: eq)...])
                flag = String(flag[..<eq])
            }
            index += 1
            if flag == "--help" || flag == "-h" { return nil }

            func value() throws(UsageError) -> String {
                if let inlineValue { return inlineValue }
                guard index < arguments.count else { throw UsageError(message: "\(flag) needs a value") }
                index += 1
                return arguments[index - 1]
            }
            func integer(_ range: ClosedRange<Int>) throws(UsageError) -> Int {
                let text = try value()
                guard let n = Int(text), range.contains(n) else {
                    throw UsageError(message: "\(flag): expected an integer in \(range.lowerBound)...\(range.upperBound), got '\(text)'")
                }
                return n
            }
            func milliseconds() throws(UsageError) -> Double {
                let text = try value()
                guard let ms = Double(text), ms.isFinite, ms >= 0, ms <= 3_600_000 else {
                    throw UsageError(message: "\(flag): expected milliseconds >= 0, got '\(text)'")
                }
                return ms
            }
            func rate() throws(UsageError) -> Double {
                let text = try value()
                guard let f = Double(text), f >= 0, f <= 1 else {
                    throw UsageError(message: "\(flag): expected a fraction in [0, 1], got '\(text)'")
                }
                return f
            }

            switch flag {
            case "--port": config.port = try integer(0...65535)
            case "--port-file": config.portFile = try value()
            case "--embed-dim": config.embedDim = try integer(1...65536)
            case "--latency-ms": config.latencyMs = try milliseconds()
            case "--latency-jitter-ms": config.latencyJitterMs = try milliseconds()
            case "--seed":
                let text = try value()
                guard let seed = UInt64(text) ?? Int64(text).map({ UInt64(bitPattern: $0) }) else {
                    throw UsageError(message: "--seed: expected an integer, got '\(text)'")
                }
                config.seed = seed
            case "--error-rate": config.errorRate = try rate()
            case "--error-status": config.errorStatus = try integer(400...599)
            case "--rate-limit-rate": config.rateLimitRate = try rate()
            case "--retry-after": config.retryAfter = try integer(0...86400)
            case "--unavailable-rate": config.unavailableRate = try rate()
            case "--hang-rate": config.hangRate = try rate()
            case "--drop-rate": config.dropRate = try rate()
            case "--malformed-rate": config.malformedRate = try rate()
            case "--junk-scores-rate": config.junkScoresRate = try rate()
            case "--faults-first": config.faultsFirst = try integer(0...1_000_000)
            case "--sample-unseeded": config.sampleUnseeded = true
            case "--capacity": config.capacity = try integer(1...100_000)
            case "--over-capacity":
                let text = try value()
                guard let mode = OverCapacity(rawValue: text) else {
                    throw UsageError(message: "--over-capacity: expected queue or 429, got '\(text)'")
                }
                config.overCapacity = mode
            case "--loading-ms": config.loadingMs = try milliseconds()
            case "--batch-seconds":
                let text = try value()
                guard let seconds = Double(text), seconds.isFinite, seconds >= 0, seconds <= 86400 else {
                    throw UsageError(message: "--batch-seconds: expected seconds in 0...86400, got '\(text)'")
                }
                config.batchSeconds = seconds
            case "--batch-hold": config.batchHold = true
            case "--batch-max-requests": config.batchMaxRequests = try integer(1...10_000_000)
            case "--batch-max-bytes": config.batchMaxBytes = try integer(1...HTTPLimits.maxBodyBytes)
            case "--batch-output-order":
                let text = try value()
                guard let order = BatchOutputOrder(rawValue: text) else {
                    throw UsageError(message: "--batch-output-order: expected input or shuffled, got '\(text)'")
                }
                config.batchOutputOrder = order
            case "--batch-fail-validation-rate": config.batchFailValidationRate = try rate()
            case "--batch-expire-rate": config.batchExpireRate = try rate()
            case "--batch-line-failure-rate": config.batchLineFailureRate = try rate()
            case "--batch-drop-create-rate": config.batchDropCreateRate = try rate()
            case "--batch-poll-error-rate": config.batchPollErrorRate = try rate()
            case "--batch-upload-error-rate": config.batchUploadErrorRate = try rate()
            default:
                throw UsageError(message: "unknown option '\(flag)'")
            }
        }
        let exclusive = config.errorRate + config.rateLimitRate + config.unavailableRate + config.hangRate
            + config.dropRate + config.malformedRate
        guard exclusive <= 1.0 + 1e-9 else {
            throw UsageError(message: "the error, rate-limit, unavailable, hang, drop and malformed rates sum to \(exclusive), more than 1")
        }
        guard config.batchFailValidationRate + config.batchExpireRate <= 1.0 + 1e-9 else {
            throw UsageError(message: "--batch-fail-validation-rate and --batch-expire-rate sum to more than 1")
        }
        return config
    }
}

enum BatchOutputOrder: String, Sendable {
    case input
    case shuffled
}

enum Fault: String, Sendable, CaseIterable {
    case error
    case rateLimit = "rate_limit"
    case unavailable
    case hang
    case drop
    case malformed
}

/// What to do to one request, decided from (seed, request, attempt) only.
struct FaultPlan: Sendable {
    var fault: Fault?
    var junkScores = false
    var latencyMs = 0.0

    init(config: Config, requestHash: UInt64, attempt: Int) {
        var hash = StableHash()
        hash.add(config.seed)
        hash.add(requestHash)
        hash.add(UInt64(attempt))
        var rng = SeededRandom(seed: hash.mixed)
        let draw = rng.unit()
        let junkDraw = rng.unit()
        let jitterDraw = rng.unit()

        latencyMs = config.latencyMs + config.latencyJitterMs * jitterDraw
        let eligible = config.faultsFirst.map { attempt < $0 } ?? true
        guard eligible else { return }
        let rates: [(Fault, Double)] = [
            (.error, config.errorRate), (.rateLimit, config.rateLimitRate), (.unavailable, config.unavailableRate),
            (.hang, config.hangRate), (.drop, config.dropRate), (.malformed, config.malformedRate),
        ]
        var cumulative = 0.0
        for (fault, rate) in rates where rate > 0 {
            cumulative += rate
            if draw < cumulative {
                self.fault = fault
                break
            }
        }
        junkScores = config.junkScoresRate > 0 && junkDraw < config.junkScoresRate
    }
}
