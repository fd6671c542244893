// Counters shared by every connection thread, behind one lock.

import Foundation

final class Stats: @unchecked Sendable {
    private let lock = NSLock()
    private var started = Date()
    private var byEndpoint: [String: Int] = [:]
    private var byKind: [String: Int] = [:]
    private var byStatus: [Int: Int] = [:]
    private var faults: [String: Int] = [:]
    private var embeddingInputs = 0
    private var promptTokens = 0
    private var completionTokens = 0
    private var inflight = 0
    private var maxInflight = 0
    private var connectionsAccepted = 0
    private var connectionsOpen = 0
    private var maxConnectionsOpen = 0
    /// How many times each distinct request (path + body) was received.
    private var attempts: [UInt64: Int] = [:]

    private func locked<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }

    func connectionOpened() {
        locked {
            connectionsAccepted += 1
            connectionsOpen += 1
            maxConnectionsOpen = max(maxConnectionsOpen, connectionsOpen)
        }
    }

    func connectionClosed() {
        locked { connectionsOpen -= 1 }
    }

    func request(endpoint: String) {
        locked { byEndpoint[endpoint, default: 0] += 1 }
    }

    /// An LLM request starts: counts it in flight and returns its attempt
    /// number (0 for the first time this exact request is seen).
    /// (Every distinct request costs one dictionary entry, about 40 bytes,
    /// until `/stats/reset`.)
    func begin(kind: String?, requestHash: UInt64) -> Int {
        locked {
            if let kind { byKind[kind, default: 0] += 1 }
            inflight += 1
            maxInflight = max(maxInflight, inflight)
            let attempt = attempts[requestHash, default: 0]
            attempts[requestHash] = attempt + 1
            return attempt
        }
    }

    func end() {
        locked { inflight -= 1 }
    }

    func fault(_ name: String) {
        locked { faults[name, default: 0] += 1 }
    }

    func status(_ code: Int) {
        locked { byStatus[code, default: 0] += 1 }
    }

    func tokens(prompt: Int, completion: Int, embeddingInputs inputs: Int = 0) {
        locked {
            promptTokens += prompt
            completionTokens += completion
            embeddingInputs += inputs
        }
    }

    /// Zeroes every counter and forgets the attempt history (a fresh fault
    /// schedule); requests and connections still open stay counted as open.
    func reset() {
        locked {
            started = Date()
            byEndpoint = [:]
            byKind = [:]
            byStatus = [:]
            faults = [:]
            embeddingInputs = 0
            promptTokens = 0
            completionTokens = 0
            maxInflight = inflight
            connectionsAccepted = 0
            maxConnectionsOpen = connectionsOpen
            attempts = [:]
        }
    }

    func snapshot(config: Config) -> JSON {
        locked {
            func counts(_ d: [String: Int]) -> JSON {
                .object(d.sorted(by: { $0.key < $1.key }).map { ($0.key, .int($0.value)) })
            }
            let llmRequests = ["chat", "completions", "embeddings"].reduce(0) { $0 + byEndpoint[$1, default: 0] }
            var faultCounts = Dictionary(uniqueKeysWithValues: Fault.allCases.map { ($0.rawValue, 0) })
            faultCounts["junk_scores"] = 0
            faultCounts.merge(faults) { $1 }
            return .object([
                ("requests", .int(llmRequests)),
                ("by_endpoint", counts(byEndpoint)),
                ("by_kind", counts(byKind)),
                ("by_status", .object(byStatus.sorted(by: { $0.key < $1.key }).map { (String($0.key), .int($0.value)) })),
                ("faults", counts(faultCounts)),
                ("embedding_inputs", .int(embeddingInputs)),
                ("prompt_tokens", .int(promptTokens)),
                ("completion_tokens", .int(completionTokens)),
                ("total_tokens", .int(promptTokens + completionTokens)),
                ("inflight", .int(inflight)),
                ("max_inflight", .int(maxInflight)),
                ("connections", .object([
                    ("accepted", .int(connectionsAccepted)),
                    ("open", .int(connectionsOpen)),
                    ("max_open", .int(maxConnectionsOpen)),
                ])),
                ("distinct_requests", .int(attempts.count)),
                ("uptime_s", .number((Date().timeIntervalSince(started) * 1000).rounded() / 1000)),
                ("latency_ms", .number(config.latencyMs)),
                ("latency_jitter_ms", .number(config.latencyJitterMs)),
                ("embed_dim", .int(config.embedDim)),
                ("seed", config.seed <= UInt64(Int.max) ? .int(Int(config.seed)) : .string(String(config.seed))),
                ("pid", .int(Int(getpid()))),
            ])
        }
    }
}
