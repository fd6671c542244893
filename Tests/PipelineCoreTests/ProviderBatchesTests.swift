import Foundation
import Testing

@testable import PipelineHashing
@testable import PipelineJSON
@testable import PipelineLLMClient

/// The provider batch client (`ProviderBatches`) against llm-test-server's
/// Batch API over real HTTP on loopback, with its state in real SQLite
/// files: answers equal live answers, chunking, exactly one batch per chunk
/// across simulated kills, resubmission, retried polls, cancel.
@Suite("Provider batches", .serialized)
struct ProviderBatchesTests {
    typealias Server = LLMServiceTests.Server

    private func config(_ server: Server, retries: Int = 4) throws -> LLMConfig {
        try LLMConfig(name: "teacher", settings: [
            "base_url": .string(server.url + "/v1"), "model": "test-model", "retries": .number(Double(retries)),
            "api_key_env": "PIPELINE_BATCH_TEST_KEY",
        ], environment: ["PIPELINE_BATCH_TEST_KEY": "sk-batch-test"])
    }

    private func settings(_ extra: [String: JSONValue] = [:]) -> BatchSettings {
        var object: [String: JSONValue] = ["poll_seconds": .number(0.05), "max_poll_seconds": .number(0.2)]
        for (key, value) in extra { object[key] = value }
        return BatchSettings(settings: .object(object))
    }

    private func body(_ n: Int, words: Int = 0) -> [UInt8] {
        let padding = words > 0 ? " " + Array(repeating: "word", count: words).joined(separator: " ") : ""
        return Array(JSONValue.object([
            "model": "test-model", "temperature": .number(0), "max_tokens": .number(40),
            "messages": .array([.object(["role": "user", "content": .string("Explain topic number \(n) briefly.\(padding)")])]),
        ]).serialized.utf8)
    }

    private func http(_ server: Server, _ method: String, _ path: String, _ body: [UInt8] = []) -> HTTPExchange {
        HTTPEngine.shared.perform(HTTPRequest(url: server.url + path, headers: ["Content-Type: application/json"],
                                              body: body, timeout: 30, method: method))
    }

    private func batchStats(_ server: Server) throws -> JSONValue {
        let exchange = http(server, "GET", "/stats")
        let stats = try JSONValue(parsing: String(decoding: exchange.body, as: UTF8.self))
        return try #require(stats["batches"], "no batches in /stats")
    }

    /// How many batches the server created for each chunk (by metadata).
    private func batchesPerChunk(_ server: Server) throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for batch in try batchStats(server)["submissions"]?.arrayValue ?? [] {
            if let chunk = batch["metadata"]?["pipeline_chunk"]?.stringValue { counts[chunk, default: 0] += 1 }
        }
        return counts
    }

    /// Polls until every request has its final answer (at most `limit` polls).
    @discardableResult
    private func pollUntilDone(_ batches: ProviderBatches, limit: Int = 600) throws -> BatchProgress {
        var progress = try batches.poll()
        var polls = 1
        while !progress.done && polls < limit {
            Thread.sleep(forTimeInterval: progress.nextPollSeconds)
            progress = try batches.poll()
            polls += 1
        }
        return progress
    }

    private func text(_ answer: BatchAnswer) -> String? {
        guard case .response(200, let body) = answer else { return nil }
        return LLMClient.parseChat(body)?.text
    }

    private func statePath(_ label: String) throws -> String {
        try Fixtures.emptyDirectory(label).appendingPathComponent("batches.db").path
    }

    @Test func answersEqualLiveAnswersAndOneBatchIsMade() throws {
        let server = try Server(["--batch-seconds", "0.3"])
        let path = try statePath("batches-live")
        let batches = try ProviderBatches(path: path, llm: config(server), settings: settings(), runID: "run-1")
        for n in 0..<30 {
            #expect(try batches.answer(customID: "r\(n)", endpoint: "/chat/completions", body: body(n)) == .pending)
        }
        // Asking again records nothing new.
        #expect(try batches.answer(customID: "r0", endpoint: "/chat/completions", body: body(0)) == .pending)
        try batches.submitPending()
        let submitted = try batches.progress()
        #expect(submitted.pending == 30 && submitted.unsubmitted == 0)
        #expect(submitted.open.count == 1 && submitted.open.first?.batchID != nil)
        let progress = try pollUntilDone(batches)
        #expect(progress.done && progress.answered == 30 && progress.failed == 0 && progress.open.isEmpty)
        for n in 0..<30 {
            let answer = try batches.answer(customID: "r\(n)", endpoint: "/chat/completions", body: body(n))
            let live = http(server, "POST", "/v1/chat/completions", body(n))
            #expect(live.status == 200)
            let batchText = text(answer)
            #expect(batchText != nil && batchText == LLMClient.parseChat(live.body)?.text, "r\(n)")
        }
        // A fresh object on the same file (the next run) has every answer, and submits nothing.
        let again = try ProviderBatches(path: path, llm: config(server), settings: settings(), runID: "run-2")
        #expect(text(try again.answer(customID: "r7", endpoint: "/chat/completions", body: body(7))) != nil)
        try again.submitPending()
        let stats = try batchStats(server)
        #expect(stats["created"]?.int64Value == 1)
        #expect(stats["files_uploaded"]?.int64Value == 1)
        let metadata = stats["submissions"]?.arrayValue?.first?["metadata"]
        #expect(metadata?["pipeline_run"] == "run-1" && metadata?["pipeline_llm"] == "teacher")
        // `pipeline runs` reads the file without opening a client.
        let summary = ProviderBatches.pendingSummary(path: path)
        #expect(summary.count == 1 && summary.first?.llm == "teacher" && summary.first?.answered == 30)
        #expect(ProviderBatches.pendingSummary(path: path + ".missing").isEmpty)
        // The API key went in a header only: the state files do not hold it (the prompts they do).
        let files = [path, path + "-wal"].compactMap { FileManager.default.contents(atPath: $0) }
        #expect(files.contains { $0.range(of: Data("Explain topic number 7".utf8)) != nil })
        #expect(files.allSatisfy { $0.range(of: Data("sk-batch-test".utf8)) == nil })
    }

    @Test func chunksKeepToMaxRequestsAndMaxBytes() throws {
        let server = try Server(["--batch-seconds", "0.2"])
        // By requests: 20 requests, 7 a file -> 7, 7, 6.
        let byCount = try ProviderBatches(path: try statePath("batches-count"), llm: config(server),
                                          settings: settings(["max_requests": .number(7)]), runID: "run-count")
        for n in 0..<20 { _ = try byCount.answer(customID: "r\(n)", endpoint: "/chat/completions", body: body(n)) }
        try byCount.submitPending()
        #expect(try byCount.progress().open.map(\.requests) == [7, 7, 6])
        #expect(try pollUntilDone(byCount).answered == 20)

        // By bytes: a line is about 230 bytes; 1000 bytes a file holds 4.
        let line = ProviderBatches.line(customID: "r10", url: "/v1/chat/completions", body: body(10)).count
        let maxBytes = 4 * line + line / 2
        let path = try statePath("batches-bytes")
        let byBytes = try ProviderBatches(path: path, llm: config(server),
                                          settings: settings(["max_bytes": .number(Double(maxBytes))]), runID: "run-bytes")
        for n in 10..<20 { _ = try byBytes.answer(customID: "r\(n)", endpoint: "/chat/completions", body: body(n)) }
        // One request larger than a whole file fails at once, naming the limit.
        _ = try byBytes.answer(customID: "huge", endpoint: "/chat/completions", body: body(99, words: 400))
        try byBytes.submitPending()
        #expect(try byBytes.progress().open.map(\.requests) == [4, 4, 2])
        guard case .failed(let reason) = try byBytes.answer(customID: "huge", endpoint: "/chat/completions", body: []) else {
            Issue.record("the oversized request is not failed")
            return
        }
        #expect(reason.contains("max_bytes") && reason.contains("huge"))
        #expect(try pollUntilDone(byBytes).answered == 10)
        let stats = try batchStats(server)
        #expect(stats["created"]?.int64Value == 6)
        let uploaded = try #require(stats["bytes_uploaded"]?.int64Value)
        #expect(uploaded <= Int64(30 * (line + 4)), "30 lines of about \(line) bytes: \(uploaded)")
        #expect(try batchesPerChunk(server).values.allSatisfy { $0 == 1 })
    }

    /// A kill at every stage of a chunk's way, each followed by a fresh
    /// object on the same state file (the next run): one batch per chunk.
    @Test func exactlyOneBatchPerChunkAcrossKills() throws {
        let server = try Server(["--batch-seconds", "0.3"])
        let path = try statePath("batches-kills")
        let limits = settings(["max_requests": .number(5)])
        var batches = try ProviderBatches(path: path, llm: config(server), settings: limits, runID: "run-k")
        func restart() throws {
            batches = try ProviderBatches(path: path, llm: config(server), settings: limits, runID: "run-k")
        }
        var next = 0
        func record(_ count: Int) throws {
            for _ in 0..<count {
                _ = try batches.answer(customID: "k\(next)", endpoint: "/chat/completions", body: body(next))
                next += 1
            }
        }
        let points: [ProviderBatches.KillPoint] = [.afterRecord, .afterUpload, .beforeCreate, .afterCreate, .beforeCollect]
        for point in points {
            try record(5)
            batches.killPoint = point
            if point == .beforeCollect {
                try batches.submitPending()
                var stopped = false
                for _ in 0..<400 where !stopped {
                    do {
                        _ = try batches.poll()
                        Thread.sleep(forTimeInterval: 0.05)
                    } catch {
                        #expect("\(error)".contains("simulated kill"))
                        stopped = true
                    }
                }
                #expect(stopped, "a batch finished")
            } else {
                #expect(throws: BatchError.self) { try batches.submitPending() }
            }
            try restart()
            try batches.submitPending()
        }
        let progress = try pollUntilDone(batches)
        #expect(progress.answered == next && progress.failed == 0)
        let perChunk = try batchesPerChunk(server)
        #expect(perChunk.count == points.count, "\(perChunk)")
        #expect(perChunk.values.allSatisfy { $0 == 1 }, "\(perChunk)")
        #expect(try batchStats(server)["created"]?.int64Value == Int64(points.count))
        // Every request has its own answer.
        for n in 0..<next {
            let answer = try batches.answer(customID: "k\(n)", endpoint: "/chat/completions", body: body(n))
            #expect(text(answer) == LLMClient.parseChat(http(server, "POST", "/v1/chat/completions", body(n)).body)?.text)
        }
    }

    @Test func aCreateWhoseAnswerIsLostIsFoundByListing() throws {
        let server = try Server(["--batch-seconds", "0.2", "--batch-drop-create-rate", "1"])
        let batches = try ProviderBatches(path: try statePath("batches-drop"), llm: config(server),
                                          settings: settings(["max_requests": .number(4)]), runID: "run-d")
        for n in 0..<8 { _ = try batches.answer(customID: "d\(n)", endpoint: "/chat/completions", body: body(n)) }
        try batches.submitPending()
        #expect(try pollUntilDone(batches).answered == 8)
        let stats = try batchStats(server)
        #expect(stats["create_dropped"]?.int64Value == 2)
        #expect(stats["created"]?.int64Value == 2)
        #expect(try batchesPerChunk(server).values.allSatisfy { $0 == 1 })
    }

    @Test func expiredLinesAreResubmittedThenFailWithTheReason() throws {
        let server = try Server(["--batch-seconds", "0.2", "--batch-expire-rate", "1"])
        let batches = try ProviderBatches(path: try statePath("batches-expire"), llm: config(server),
                                          settings: settings(["resubmit": .number(1)]), runID: "run-e")
        for n in 0..<40 { _ = try batches.answer(customID: "e\(n)", endpoint: "/chat/completions", body: body(n)) }
        try batches.submitPending()
        let progress = try pollUntilDone(batches)
        #expect(progress.done)
        #expect(progress.answered + progress.failed == 40)
        #expect(progress.failed > 0, "every batch expires part way")
        let stats = try batchStats(server)
        #expect(stats["created"]?.int64Value == 2, "the first batch and one follow-up")
        for n in 0..<40 {
            if case .failed(let reason) = try batches.answer(customID: "e\(n)", endpoint: "/chat/completions", body: body(n)) {
                #expect(reason.contains("llm teacher") && reason.contains("batch_"), "\(reason)")
                #expect(reason.contains("expire"), "\(reason)")
                #expect(reason.contains("in 2 batches"), "\(reason)")
            }
        }
    }

    @Test func failedLinesAndFailedBatchesAreResubmittedThenFinal() throws {
        // Every line fails: a 500 (resubmitted) or a 400 (final, as the provider answered it).
        let server = try Server(["--batch-seconds", "0.1", "--batch-line-failure-rate", "1"])
        let batches = try ProviderBatches(path: try statePath("batches-lines"), llm: config(server),
                                          settings: settings(["resubmit": .number(2)]), runID: "run-f")
        for n in 0..<30 { _ = try batches.answer(customID: "f\(n)", endpoint: "/chat/completions", body: body(n)) }
        try batches.submitPending()
        let progress = try pollUntilDone(batches)
        #expect(progress.done)
        var rejected = 0, failed = 0
        for n in 0..<30 {
            switch try batches.answer(customID: "f\(n)", endpoint: "/chat/completions", body: body(n)) {
            case .response(400, let body):
                rejected += 1
                #expect(LLMClient.errorMessage(body) != nil)
            case .failed(let reason):
                failed += 1
                #expect(reason.contains("HTTP 500") && reason.contains("in 3 batches"), "\(reason)")
            default: Issue.record("f\(n): neither a 400 nor a failure")
            }
        }
        #expect(rejected + failed == 30 && rejected > 0 && failed > 0)
        #expect(try batchStats(server)["created"]?.int64Value == 3, "the first batch and two follow-ups")

        // A batch that fails validation: all its lines go again, then fail with its errors.
        let invalid = try Server(["--batch-seconds", "0.1", "--batch-fail-validation-rate", "1"])
        let refused = try ProviderBatches(path: try statePath("batches-invalid"), llm: config(invalid),
                                          settings: settings(["resubmit": .number(1)]), runID: "run-v")
        for n in 0..<5 { _ = try refused.answer(customID: "v\(n)", endpoint: "/chat/completions", body: body(n)) }
        try refused.submitPending()
        #expect(try pollUntilDone(refused).failed == 5)
        guard case .failed(let reason) = try refused.answer(customID: "v0", endpoint: "/chat/completions", body: []) else {
            Issue.record("v0 is not failed")
            return
        }
        #expect(reason.contains("the batch failed: "), "\(reason)")
        #expect(try batchStats(invalid)["created"]?.int64Value == 2)
    }

    @Test func pollsThatMeet5xxAnd429AreRetried() throws {
        let server = try Server(["--batch-seconds", "0.3", "--batch-poll-error-rate", "0.5", "--retry-after", "0"])
        let batches = try ProviderBatches(path: try statePath("batches-poll"), llm: config(server, retries: 8),
                                          settings: settings(["max_requests": .number(10)]), runID: "run-p")
        for n in 0..<30 { _ = try batches.answer(customID: "p\(n)", endpoint: "/chat/completions", body: body(n)) }
        try batches.submitPending()
        #expect(try pollUntilDone(batches).answered == 30)
        let stats = try batchStats(server)
        #expect((stats["poll_errors"]?.int64Value ?? 0) > 0)
        #expect(stats["created"]?.int64Value == 3)
    }

    @Test func aCancelledBatchIsCollectedAndTheNextRunSubmitsTheRest() throws {
        let server = try Server(["--batch-seconds", "0.2", "--batch-hold"])
        let path = try statePath("batches-cancel")
        let limits = settings(["max_requests": .number(5), "cancel_on_stop": .bool(true)])
        let batches = try ProviderBatches(path: path, llm: config(server), settings: limits, runID: "run-c")
        #expect(batches.settings.cancelOnStop)
        for n in 0..<5 { _ = try batches.answer(customID: "c\(n)", endpoint: "/chat/completions", body: body(n)) }
        try batches.submitPending()
        let open = try #require(ProviderBatches.pendingSummary(path: path).first?.open.first)
        #expect(open.batchID != nil && open.requests == 5 && (open.status == "validating" || open.status == "in_progress"))
        try batches.cancelOpen()
        #expect(try batchStats(server)["cancel_requests"]?.int64Value == 1)
        // The cancelled batch is collected (its answered lines kept, as an
        // expired batch's are); what it did not run waits, unsubmitted.
        var progress = try batches.poll()
        for _ in 0..<200 where !progress.open.isEmpty {
            Thread.sleep(forTimeInterval: 0.05)
            progress = try batches.poll()
        }
        #expect(progress.open.isEmpty && progress.pending == 5 && progress.unsubmitted == 5 && progress.failed == 0)
        #expect(try batchesPerChunk(server).count == 1, "no batch after the cancel")
        // The next run submits them again.
        _ = http(server, "POST", "/_control/batches/release")
        let next = try ProviderBatches(path: path, llm: config(server), settings: limits, runID: "run-c2")
        #expect(try pollUntilDone(next).answered == 5)
        #expect(try batchesPerChunk(server).count == 2)
    }

    /// Many threads ask at once (steps call from the worker pool): every
    /// request is recorded once and answered.
    @Test func requestsFromManyThreadsAtOnce() throws {
        let server = try Server(["--batch-seconds", "0.2", "--batch-upload-error-rate", "0.5", "--retry-after", "0"])
        let batches = try ProviderBatches(path: try statePath("batches-threads"), llm: config(server, retries: 8),
                                          settings: settings(["max_requests": .number(250)]), runID: "run-t")
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for k in 0..<200 {
                // Threads overlap: each request is asked for by two threads.
                let n = (thread / 2) * 200 + k
                _ = try? batches.answer(customID: "t\(n)", endpoint: "/chat/completions", body: body(n))
            }
        }
        #expect(try batches.progress().pending == 800)
        try batches.submitPending()
        #expect(try batches.progress().open.map(\.requests) == [250, 250, 250, 50])
        #expect(try pollUntilDone(batches).answered == 800)
        let stats = try batchStats(server)
        #expect((stats["upload_errors"]?.int64Value ?? 0) > 0, "uploads refused with 429/5xx were retried")
        #expect(stats["created"]?.int64Value == 4)
    }

    @Test func sha256OfKnownTexts() {
        #expect(SHA.sha256Hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA.sha256Hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA.sha256Hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(SHA.sha256Hex(million) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        // Fed in pieces of any size, the same digest.
        var hasher = SHA256()
        var offset = 0
        for size in [1, 63, 64, 65, 7, 1000, 999_000 - 200] where offset < million.count {
            let end = min(offset + size, million.count)
            hasher.update(Array(million[offset..<end]))
            offset = end
        }
        hasher.update(Array(million[offset...]))
        #expect(SHA.hex(hasher.finalize()) == SHA.sha256Hex(million))
    }

    @Test func settingsAndTheirDefaults() {
        let defaults = BatchSettings(settings: .bool(true))
        #expect(defaults == BatchSettings())
        #expect(defaults.completionWindow == "24h" && defaults.maxRequests == 50_000 && defaults.maxBytes == 200_000_000)
        #expect(defaults.resubmit == 1 && !defaults.cancelOnStop)
        let set = BatchSettings(settings: [
            "completion_window": "48h", "max_requests": .number(10), "max_bytes": .number(5000), "poll_seconds": .number(2),
            "max_poll_seconds": .number(1), "resubmit": .number(-3), "cancel_on_stop": .bool(true),
        ])
        #expect(set.completionWindow == "48h" && set.maxRequests == 10 && set.maxBytes == 5000)
        #expect(set.pollSeconds == 2 && set.maxPollSeconds == 2, "the most is never below the first")
        #expect(set.resubmit == 0 && set.cancelOnStop)
        #expect(ProviderBatches.batchEndpoint("/chat/completions") == "/v1/chat/completions")
        #expect(ProviderBatches.batchEndpoint("/v1/embeddings") == "/v1/embeddings")
    }

    /// Not a unit test: what 100 k prompts make (files, bytes) and how long
    /// recording, submitting and collecting take. PIPELINE_BATCH_SCALE=N runs
    /// it with N requests and prints the numbers.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["PIPELINE_BATCH_SCALE"] != nil))
    func scale() throws {
        let count = Int(ProcessInfo.processInfo.environment["PIPELINE_BATCH_SCALE"] ?? "") ?? 100_000
        let server = try Server(["--batch-seconds", "1"])
        let path = try statePath("batches-scale")
        let batches = try ProviderBatches(path: path, llm: config(server), settings: settings(["max_poll_seconds": .number(1)]),
                                          runID: "run-s")
        let clock = ContinuousClock()
        let bodies = (0..<count).map { body($0, words: 30) }
        let recording = try clock.measure {
            for n in 0..<count { _ = try batches.answer(customID: "s\(n)", endpoint: "/chat/completions", body: bodies[n]) }
        }
        let submitting = try clock.measure { try batches.submitPending() }
        let open = try batches.progress().open
        var progress = BatchProgress(llm: "teacher")
        let collecting = try clock.measure { progress = try pollUntilDone(batches, limit: 100_000) }
        let stats = try batchStats(server)
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        print("""
            batch scale: \(count) requests, \(open.count) files of \(open.map(\.requests)) requests, \
            \(stats["bytes_uploaded"]?.int64Value ?? 0) bytes uploaded; record \(recording), submit \(submitting), \
            poll until done \(collecting) (batch-seconds 1); answered \(progress.answered); batches.db \(size) bytes
            """)
        #expect(progress.answered == count)
    }
}
