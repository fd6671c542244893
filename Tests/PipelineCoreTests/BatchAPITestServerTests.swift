import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The Batch API of the built `llm-test-server` (/v1/files, /v1/batches),
/// over real HTTP on loopback: what the host's batch mode is built against.
@Suite("LLM test server: Batch API")
struct BatchAPITestServerTests {

    // MARK: the whole path

    @Test func uploadCreatePollAndTheOutputEqualsLiveAnswers() throws {
        let server = try RunningServer(["--batch-seconds", "0.4"])
        defer { server.stop() }
        let bodies = (0..<12).map { k in
            chatBody(content: "Question \(k): why is the sky blue?", extra: k % 3 == 0 ? #","seed":\#(k)"# : "")
        }
        let lines = bodies.enumerated().map { BatchInput.line(customID: "row-\($0.offset)", body: $0.element) }
        let file = try server.upload(lines.joined(separator: "\n") + "\n", filename: "chunk-7.jsonl")
        #expect(file["object"] as? String == "file")
        #expect(file["purpose"] as? String == "batch")
        #expect(file["filename"] as? String == "chunk-7.jsonl")
        #expect(file["bytes"] as? Int == (lines.joined(separator: "\n") + "\n").utf8.count)
        let fileID = try #require(file["id"] as? String)
        #expect(fileID.hasPrefix("file-"))
        #expect(file["created_at"] as? Int != nil)

        let metadata = ["run_id": "r-42", "chunk_id": "7", "note": "ünïcödé ✓"]
        let created = try server.createBatch(fileID: fileID, metadata: metadata)
        let batchID = try #require(created["id"] as? String)
        #expect(batchID.hasPrefix("batch_"))
        #expect(created["object"] as? String == "batch")
        #expect(created["status"] as? String == "validating")
        #expect(created["endpoint"] as? String == "/v1/chat/completions")
        #expect(created["completion_window"] as? String == "24h")
        #expect(created["input_file_id"] as? String == fileID)
        #expect(created["metadata"] as? [String: String] == metadata)
        let createdAt = try #require(created["created_at"] as? Int)
        #expect(created["expires_at"] as? Int == createdAt + 86400)
        #expect(created["output_file_id"] is NSNull)

        let (done, seen) = try server.waitForBatch(batchID)
        #expect(done["status"] as? String == "completed")
        #expect(BatchInput.isInLifeOrder(seen), "statuses seen: \(seen)")
        for key in ["in_progress_at", "finalizing_at", "completed_at"] { #expect(done[key] as? Int != nil, "\(key)") }
        #expect(done["failed_at"] is NSNull)
        #expect(done["errors"] is NSNull)
        #expect(done["error_file_id"] is NSNull, "nothing failed: no error file")
        #expect(done["request_counts"] as? [String: Int] == ["total": 12, "completed": 12, "failed": 0])
        #expect(done["metadata"] as? [String: String] == metadata)

        let outputID = try #require(done["output_file_id"] as? String)
        let outputFile = try server.get("/v1/files/\(outputID)").object()
        #expect(outputFile["purpose"] as? String == "batch_output")
        let output = try server.fileLines(outputID)
        #expect(output.count == 12)
        #expect(Set(output.compactMap { $0["custom_id"] as? String }) == Set((0..<12).map { "row-\($0)" }))
        for line in output {
            #expect((line["id"] as? String)?.hasPrefix("batch_req_") == true)
            #expect(line["error"] is NSNull)
            let customID = try #require(line["custom_id"] as? String)
            let index = try #require(Int(customID.dropFirst(4)))
            let response = try #require(line["response"] as? [String: Any])
            #expect(response["status_code"] as? Int == 200)
            #expect((response["request_id"] as? String)?.isEmpty == false)
            let body = try #require(response["body"] as? NSDictionary)
            let live = try server.post("/v1/chat/completions", bodies[index])
            #expect(live.status == 200)
            #expect(body == (try live.object()) as NSDictionary, "\(customID): the batch answer is the live answer")
        }

        // /stats: the batch and its metadata; live requests counted apart.
        let stats = try server.stats()
        #expect((stats["by_endpoint"] as? [String: Int])?["chat"] == 12, "only the live requests")
        let batches = try #require(stats["batches"] as? [String: Any])
        #expect(batches["files_uploaded"] as? Int == 1)
        #expect(batches["created"] as? Int == 1)
        #expect(batches["lines_answered"] as? Int == 12)
        #expect((batches["by_status"] as? [String: Int])?["completed"] == 1)
        let submissions = try #require(batches["submissions"] as? [[String: Any]])
        #expect(submissions.count == 1)
        #expect(submissions.first?["metadata"] as? [String: String] == metadata)
    }

    @Test func embeddingBatchesAnswerAsLiveEmbeddings() throws {
        let server = try RunningServer(["--batch-seconds", "0", "--embed-dim", "8"])
        defer { server.stop() }
        let bodies = ["alpha", "beta", "gamma"].map { #"{"model":"test-embed","input":"\#($0)"}"# }
        let lines = bodies.enumerated().map {
            BatchInput.line(customID: "e\($0.offset)", url: "/v1/embeddings", body: $0.element)
        }
        let fileID = try #require(try server.upload(lines.joined(separator: "\n"))["id"] as? String)
        let created = try server.createBatch(fileID: fileID, endpoint: "/v1/embeddings")
        let (done, _) = try server.waitForBatch(try #require(created["id"] as? String))
        #expect(done["status"] as? String == "completed")
        let output = try server.fileLines(try #require(done["output_file_id"] as? String))
        #expect(output.count == 3)
        for line in output {
            let customID = try #require(line["custom_id"] as? String)
            let index = try #require(Int(customID.dropFirst()))
            let body = try #require((line["response"] as? [String: Any])?["body"] as? NSDictionary)
            #expect(body == (try server.post("/v1/embeddings", bodies[index]).object()) as NSDictionary)
        }
    }

    // MARK: listing, cancelling, holding

    @Test func listIsNewestFirstWithCursorPagination() throws {
        let server = try RunningServer(["--batch-hold"])
        defer { server.stop() }
        let fileID = try #require(try server.upload(BatchInput.chatFile(count: 2))["id"] as? String)
        var ids: [String] = []
        for k in 0..<5 {
            ids.append(try #require(try server.createBatch(fileID: fileID, metadata: ["k": String(k)])["id"] as? String))
        }
        let newestFirst = Array(ids.reversed())
        let first = try server.get("/v1/batches?limit=2").object()
        #expect(first["object"] as? String == "list")
        #expect(BatchInput.ids(first) == Array(newestFirst[0..<2]))
        #expect(first["has_more"] as? Bool == true)
        #expect(first["first_id"] as? String == newestFirst[0])
        #expect(first["last_id"] as? String == newestFirst[1])
        let second = try server.get("/v1/batches?limit=2&after=\(newestFirst[1])").object()
        #expect(BatchInput.ids(second) == Array(newestFirst[2..<4]))
        #expect(second["has_more"] as? Bool == true)
        let third = try server.get("/v1/batches?limit=2&after=\(newestFirst[3])").object()
        #expect(BatchInput.ids(third) == [newestFirst[4]])
        #expect(third["has_more"] as? Bool == false)
        #expect(BatchInput.ids(try server.get("/v1/batches").object()) == newestFirst, "default limit 20")
        #expect(try server.get("/v1/batches?limit=0").status == 400)
        #expect(try server.get("/v1/batches?limit=101").status == 400)
        #expect(try server.get("/v1/batches?after=batch_nope").status == 400)
    }

    @Test func heldBatchStaysInProgressUntilReleased() throws {
        let server = try RunningServer(["--batch-hold", "--batch-seconds", "0.2"])
        defer { server.stop() }
        let fileID = try #require(try server.upload(BatchInput.chatFile(count: 4))["id"] as? String)
        let batchID = try #require(try server.createBatch(fileID: fileID)["id"] as? String)
        let (held, _) = try server.waitForBatch(batchID, until: ["in_progress"])
        // Several looks, well past --batch-seconds: still held, nothing answered.
        for _ in 0..<3 {
            usleep(200_000)
            let look = try server.get("/v1/batches/\(batchID)").object()
            #expect(look["status"] as? String == "in_progress")
            #expect((look["request_counts"] as? [String: Int])?["completed"] == 0)
        }
        #expect(held["output_file_id"] is NSNull)
        #expect(((try server.stats())["batches"] as? [String: Any])?["hold"] as? Bool == true)

        let released = try server.post("/_control/batches/release", "")
        #expect(released.status == 200)
        #expect(try released.object()["released"] as? Int == 1)
        let (done, _) = try server.waitForBatch(batchID)
        #expect(done["status"] as? String == "completed")
        #expect((done["request_counts"] as? [String: Int])?["completed"] == 4)

        // Holding again holds new batches only.
        #expect(try server.post("/_control/batches/hold", "").status == 200)
        let next = try #require(try server.createBatch(fileID: fileID)["id"] as? String)
        let (nextHeld, _) = try server.waitForBatch(next, until: ["in_progress"])
        #expect(nextHeld["status"] as? String == "in_progress")
    }

    @Test func cancelKeepsWhatWasAnsweredAndListsTheRest() throws {
        let server = try RunningServer(["--batch-hold", "--batch-seconds", "0.2"])
        defer { server.stop() }
        let fileID = try #require(try server.upload(BatchInput.chatFile(count: 5))["id"] as? String)
        let batchID = try #require(try server.createBatch(fileID: fileID)["id"] as? String)
        _ = try server.waitForBatch(batchID, until: ["in_progress"])
        let cancelling = try server.post("/v1/batches/\(batchID)/cancel", "")
        #expect(cancelling.status == 200)
        let object = try cancelling.object()
        #expect(object["status"] as? String == "cancelling")
        #expect(object["cancelling_at"] as? Int != nil)
        let (done, seen) = try server.waitForBatch(batchID)
        #expect(done["status"] as? String == "cancelled")
        #expect(seen.allSatisfy { $0 == "cancelling" || $0 == "cancelled" }, "\(seen)")
        #expect(done["cancelled_at"] as? Int != nil)
        #expect(done["request_counts"] as? [String: Int] == ["total": 5, "completed": 0, "failed": 5])
        #expect(done["output_file_id"] is NSNull)
        let errors = try server.fileLines(try #require(done["error_file_id"] as? String))
        #expect(errors.count == 5)
        for line in errors {
            #expect(line["response"] is NSNull)
            #expect((line["error"] as? [String: Any])?["code"] as? String == "batch_cancelled")
        }
        // A finished batch cannot be cancelled; an unknown one is not found.
        #expect(try server.post("/v1/batches/\(batchID)/cancel", "").status == 409)
        #expect(try server.post("/v1/batches/batch_nope/cancel", "").status == 404)
        #expect(((try server.stats())["batches"] as? [String: Any])?["lines_cancelled"] as? Int == 5)
    }

    // MARK: validation

    @Test func aBadInputFileFailsTheBatchWithLineErrors() throws {
        let server = try RunningServer(["--batch-seconds", "0"])
        defer { server.stop() }
        let good = chatBody(content: "hello")
        let lines = [
            BatchInput.line(customID: "a", body: good),
            "{not json",
            BatchInput.line(customID: "a", body: good),
            #"{"custom_id":"c","method":"GET","url":"/v1/chat/completions","body":{}}"#,
            BatchInput.line(customID: "d", url: "/v1/embeddings", body: good),
            #"{"custom_id":"e","method":"POST","url":"/v1/chat/completions"}"#,
            BatchInput.line(customID: "f", body: chatBody(model: "other-model", content: "hi")),
            #"{"method":"POST","url":"/v1/chat/completions","body":{}}"#,
        ]
        let fileID = try #require(try server.upload(lines.joined(separator: "\n"))["id"] as? String)
        let (done, _) = try server.waitForBatch(try #require(try server.createBatch(fileID: fileID)["id"] as? String))
        #expect(done["status"] as? String == "failed")
        #expect(done["failed_at"] as? Int != nil)
        #expect(done["in_progress_at"] is NSNull)
        #expect(done["output_file_id"] is NSNull && done["error_file_id"] is NSNull)
        let errors = try #require(done["errors"] as? [String: Any])
        #expect(errors["object"] as? String == "list")
        let data = try #require(errors["data"] as? [[String: Any]])
        let found = data.map { "\($0["line"] as? Int ?? -1):\($0["code"] as? String ?? "")" }
        #expect(found == ["2:invalid_json_line", "3:duplicate_custom_id", "4:invalid_method", "5:url_mismatch",
                          "6:missing_required_parameter", "7:model_mismatch", "8:missing_required_parameter"])
        #expect(data.allSatisfy { ($0["message"] as? String)?.isEmpty == false })
    }

    @Test func limitsAndAnEmptyFileFailValidation() throws {
        let server = try RunningServer(["--batch-seconds", "0", "--batch-max-requests", "2", "--batch-max-bytes", "700"])
        defer { server.stop() }
        func failure(_ content: String) throws -> String? {
            let fileID = try #require(try server.upload(content)["id"] as? String)
            let (done, _) = try server.waitForBatch(try #require(try server.createBatch(fileID: fileID)["id"] as? String))
            #expect(done["status"] as? String == "failed")
            return ((done["errors"] as? [String: Any])?["data"] as? [[String: Any]])?.first?["code"] as? String
        }
        #expect(try failure(BatchInput.chatFile(count: 3)) == "too_many_tasks")
        #expect(try failure(BatchInput.chatFile(count: 2, padding: 400)) == "file_too_large")
        #expect(try failure("\n") == "empty_file")
        let fileID = try #require(try server.upload(BatchInput.chatFile(count: 2))["id"] as? String)
        let (done, _) = try server.waitForBatch(try #require(try server.createBatch(fileID: fileID)["id"] as? String))
        #expect(done["status"] as? String == "completed", "within both limits")
    }

    @Test func createRefusesBadParameters() throws {
        let server = try RunningServer()
        defer { server.stop() }
        let fileID = try #require(try server.upload(BatchInput.chatFile(count: 1))["id"] as? String)
        func create(_ body: String) throws -> HTTPTestResponse { try server.post("/v1/batches", body) }
        let window = #""completion_window":"24h""#
        #expect(try create(#"{"input_file_id":"file-nope","endpoint":"/v1/chat/completions",\#(window)}"#).status == 400)
        #expect(try create(#"{"input_file_id":"\#(fileID)","endpoint":"/v1/moderations",\#(window)}"#).status == 400)
        #expect(try create(#"{"input_file_id":"\#(fileID)","endpoint":"/v1/chat/completions","completion_window":"soon"}"#).status == 400)
        #expect(try create(#"{"endpoint":"/v1/chat/completions",\#(window)}"#).status == 400)
        let tooMany = (0..<17).map { #""k\#($0)":"v""# }.joined(separator: ",")
        #expect(try create(#"{"input_file_id":"\#(fileID)","endpoint":"/v1/chat/completions",\#(window),"metadata":{\#(tooMany)}}"#).status == 400)
        #expect(try create(#"{"input_file_id":"\#(fileID)","endpoint":"/v1/chat/completions",\#(window),"metadata":{"n":1}}"#).status == 400)
        let sixteen = (0..<16).map { #""k\#($0)":"v""# }.joined(separator: ",")
        #expect(try create(#"{"input_file_id":"\#(fileID)","endpoint":"/v1/chat/completions",\#(window),"metadata":{\#(sixteen)}}"#).status == 200)
        #expect(((try server.stats())["batches"] as? [String: Any])?["created"] as? Int == 1)
    }

    // MARK: files

    @Test func filesRetrieveListContentAndDelete() throws {
        let server = try RunningServer()
        defer { server.stop() }
        let content = BatchInput.chatFile(count: 2)
        let first = try #require(try server.upload(content)["id"] as? String)
        let second = try #require(try server.upload(content, filename: "b.jsonl")["id"] as? String)
        #expect(first != second)
        #expect(try server.get("/v1/files/\(second)").object()["filename"] as? String == "b.jsonl")
        let content2 = try server.get("/v1/files/\(first)/content")
        #expect(content2.status == 200)
        #expect(String(decoding: content2.body, as: UTF8.self) == content)
        let listed = try server.get("/v1/files?purpose=batch").object()
        #expect(BatchInput.ids(listed) == [second, first])
        #expect(BatchInput.ids(try server.get("/v1/files?purpose=batch_output").object()) == [])
        let deleted = try server.request("DELETE", "/v1/files/\(first)")
        #expect(deleted.status == 200)
        #expect(try deleted.object()["deleted"] as? Bool == true)
        #expect(try server.get("/v1/files/\(first)").status == 404)
        #expect(try server.get("/v1/files/\(first)/content").status == 404)
        #expect(try server.request("DELETE", "/v1/files/\(first)").status == 404)

        // Only purpose batch; both fields needed; a multipart body.
        #expect(try server.upload(content, purpose: "fine-tune", expect: 400)["error"] != nil)
        #expect(try server.send(BatchInput.multipart(fields: [("purpose", nil, "batch")], boundary: "XyZ"),
                                contentType: "multipart/form-data; boundary=XyZ").status == 400)
        #expect(try server.send(Data(content.utf8), contentType: "application/jsonl").status == 400)
    }

    // MARK: faults

    @Test func failValidationFault() throws {
        let server = try RunningServer(["--batch-seconds", "0", "--batch-fail-validation-rate", "1"])
        defer { server.stop() }
        let fileID = try #require(try server.upload(BatchInput.chatFile(count: 3))["id"] as? String)
        let (done, _) = try server.waitForBatch(try #require(try server.createBatch(fileID: fileID)["id"] as? String))
        #expect(done["status"] as? String == "failed")
        let data = try #require((done["errors"] as? [String: Any])?["data"] as? [[String: Any]])
        #expect(data.first?["code"] as? String == "injected_validation_error")
        #expect(((try server.stats())["batches"] as? [String: Any])?["by_status"] as? [String: Int] == [
            "validating": 0, "in_progress": 0, "finalizing": 0, "completed": 0, "failed": 1, "expired": 0,
            "cancelling": 0, "cancelled": 0,
        ])
    }

    @Test func expireFaultSplitsTheLinesBetweenOutputAndErrorFiles() throws {
        let server = try RunningServer(["--batch-seconds", "0.3", "--batch-expire-rate", "1", "--seed", "3"])
        defer { server.stop() }
        let fileID = try #require(try server.upload(BatchInput.chatFile(count: 20))["id"] as? String)
        let (done, seen) = try server.waitForBatch(try #require(try server.createBatch(fileID: fileID)["id"] as? String))
        #expect(done["status"] as? String == "expired")
        #expect(BatchInput.isInLifeOrder(seen), "\(seen)")
        #expect(done["expired_at"] as? Int != nil)
        #expect(done["completed_at"] is NSNull)
        let counts = try #require(done["request_counts"] as? [String: Int])
        let errors = try server.fileLines(try #require(done["error_file_id"] as? String))
        let answered = try (done["output_file_id"] as? String).map { try server.fileLines($0) } ?? []
        #expect(counts["total"] == 20)
        #expect(counts["completed"] == answered.count)
        #expect(counts["failed"] == errors.count)
        #expect(answered.count + errors.count == 20)
        #expect(!errors.isEmpty)
        let ids = (answered + errors).compactMap { $0["custom_id"] as? String }
        #expect(Set(ids).count == 20, "each line in exactly one file")
        for line in errors {
            #expect(line["response"] is NSNull)
            #expect((line["error"] as? [String: Any])?["code"] as? String == "batch_expired")
        }
        #expect(answered.allSatisfy { ($0["response"] as? [String: Any])?["status_code"] as? Int == 200 })
        #expect(((try server.stats())["batches"] as? [String: Any])?["lines_expired"] as? Int == errors.count)
    }

    @Test func lineFailuresGoToTheErrorFileDeterministically() throws {
        func run() throws -> (failed: [String: Int], answered: Set<String>) {
            let server = try RunningServer(["--batch-seconds", "0", "--batch-line-failure-rate", "0.4", "--seed", "11"])
            defer { server.stop() }
            var lines = (0..<30).map { BatchInput.line(customID: "q\($0)", body: chatBody(content: "Prompt number \($0)")) }
            // A body the live route refuses: a 400 line, whatever the faults.
            lines.append(BatchInput.line(customID: "bad", body: #"{"model":"test-chat","messages":[]}"#))
            let fileID = try #require(try server.upload(lines.joined(separator: "\n"))["id"] as? String)
            let (done, _) = try server.waitForBatch(try #require(try server.createBatch(fileID: fileID)["id"] as? String))
            #expect(done["status"] as? String == "completed")
            let errors = try server.fileLines(try #require(done["error_file_id"] as? String))
            let answered = try server.fileLines(try #require(done["output_file_id"] as? String))
            #expect(done["request_counts"] as? [String: Int] == ["total": 31, "completed": answered.count, "failed": errors.count])
            var failed: [String: Int] = [:]
            for line in errors {
                #expect(line["error"] is NSNull)
                let response = try #require(line["response"] as? [String: Any])
                let status = try #require(response["status_code"] as? Int)
                #expect(((response["body"] as? [String: Any])?["error"] as? [String: Any])?["message"] is String)
                failed[try #require(line["custom_id"] as? String)] = status
            }
            return (failed, Set(answered.compactMap { $0["custom_id"] as? String }))
        }
        let first = try run()
        #expect(first.failed["bad"] == 400)
        #expect(first.failed.count > 1 && first.failed.count < 31, "some lines fail, not all: \(first.failed)")
        #expect(Set(first.failed.values).isSubset(of: [400, 500]))
        #expect(first.answered.union(first.failed.keys).count == 31)
        #expect(first.answered.isDisjoint(with: first.failed.keys))
        let second = try run()
        #expect(second.failed == first.failed, "the same seed fails the same lines")
    }

    @Test func aDroppedCreateStillCreatesTheBatch() throws {
        let server = try RunningServer(["--batch-seconds", "0", "--batch-drop-create-rate", "1"])
        defer { server.stop() }
        let fileID = try #require(try server.upload(BatchInput.chatFile(count: 2))["id"] as? String)
        #expect(throws: HTTPTestError.closedWithoutResponse) {
            _ = try server.createBatch(fileID: fileID, metadata: ["chunk_id": "c-9"])
        }
        let listed = try #require(try server.get("/v1/batches").object()["data"] as? [[String: Any]])
        #expect(listed.count == 1)
        #expect(listed.first?["metadata"] as? [String: String] == ["chunk_id": "c-9"])
        let (done, _) = try server.waitForBatch(try #require(listed.first?["id"] as? String))
        #expect(done["status"] as? String == "completed")
        let batches = try #require((try server.stats())["batches"] as? [String: Any])
        #expect(batches["created"] as? Int == 1)
        #expect(batches["create_dropped"] as? Int == 1)
    }

    @Test func pollAndUploadErrorsThenSuccess() throws {
        let server = try RunningServer(["--batch-seconds", "0", "--batch-poll-error-rate", "1", "--batch-upload-error-rate", "1",
                                        "--faults-first", "1", "--retry-after", "3"])
        defer { server.stop() }
        let content = BatchInput.chatFile(count: 2)
        let refused = try server.send(BatchInput.multipart(fields: [("purpose", nil, "batch"), ("file", "x.jsonl", content)],
                                                           boundary: "b0und"),
                                      contentType: "multipart/form-data; boundary=b0und")
        #expect([429, 500, 503].contains(refused.status))
        if refused.status != 500 { #expect(refused.header("retry-after") == "3") }
        // Nothing was stored; the same upload again goes through.
        let fileID = try #require(try server.upload(content)["id"] as? String)
        let created = try server.createBatch(fileID: fileID)
        let batchID = try #require(created["id"] as? String)
        let firstPoll = try server.get("/v1/batches/\(batchID)")
        #expect([429, 500, 503].contains(firstPoll.status), "status \(firstPoll.status)")
        if firstPoll.status == 429 { #expect(firstPoll.header("retry-after") == "3") }
        let secondPoll = try server.get("/v1/batches/\(batchID)")
        #expect(secondPoll.status == 200)
        #expect(try secondPoll.object()["id"] as? String == batchID)
        let (done, _) = try server.waitForBatch(batchID)
        #expect(done["status"] as? String == "completed")
        // A download is a GET too: refused once, then the file.
        let outputID = try #require(done["output_file_id"] as? String)
        #expect([429, 500, 503].contains(try server.get("/v1/files/\(outputID)/content").status))
        #expect(try server.fileLines(outputID).count == 2)
        let batches = try #require((try server.stats())["batches"] as? [String: Any])
        #expect(batches["upload_errors"] as? Int == 1)
        #expect(batches["poll_errors"] as? Int == 2)
        #expect(batches["files_uploaded"] as? Int == 1)
    }

    @Test func helpDocumentsTheBatchFlags() throws {
        let help = try ChildProcess.run(RunningServer.binary, ["--help"])
        #expect(help.status == 0)
        for flag in ["--batch-seconds", "--batch-hold", "--batch-max-requests", "--batch-max-bytes", "--batch-fail-validation-rate",
                     "--batch-expire-rate", "--batch-line-failure-rate", "--batch-drop-create-rate", "--batch-poll-error-rate",
                     "--batch-upload-error-rate", "--batch-output-order", "/_control/batches/release"] {
            #expect(help.output.contains(flag), "\(flag)")
        }
        let bad = try ChildProcess.run(RunningServer.binary, ["--batch-fail-validation-rate", "0.7", "--batch-expire-rate", "0.7"])
        #expect(bad.status == 2)
    }
}

// MARK: - helpers

enum BatchInput {
    static func line(customID: String, url: String = "/v1/chat/completions", body: String) -> String {
        #"{"custom_id":"\#(customID)","method":"POST","url":"\#(url)","body":\#(body)}"#
    }

    static func chatFile(count: Int, padding: Int = 0) -> String {
        (0..<count).map { k in
            line(customID: "c\(k)", body: chatBody(content: "Item \(k)" + String(repeating: " ", count: padding)))
        }.joined(separator: "\n") + "\n"
    }

    static func multipart(fields: [(name: String, filename: String?, value: String)], boundary: String) -> Data {
        var text = ""
        for field in fields {
            text += "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(field.name)\""
            if let filename = field.filename { text += "; filename=\"\(filename)\"\r\nContent-Type: application/jsonl" }
            text += "\r\n\r\n\(field.value)\r\n"
        }
        text += "--\(boundary)--\r\n"
        return Data(text.utf8)
    }

    static func ids(_ list: [String: Any]) -> [String] {
        (list["data"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
    }

    static let lifeOrder = ["validating", "in_progress", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled"]

    /// Statuses seen by successive polls never go back.
    static func isInLifeOrder(_ seen: [String]) -> Bool {
        let ranks = seen.map { lifeOrder.firstIndex(of: $0) ?? -1 }
        return !ranks.contains(-1) && zip(ranks, ranks.dropFirst()).allSatisfy { $0 <= $1 }
    }
}

extension RunningServer {
    func send(_ body: Data, contentType: String, method: String = "POST", path: String = "/v1/files") throws -> HTTPTestResponse {
        let connection = try HTTPTestConnection(port: port)
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        head += "Content-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n\r\n"
        try connection.write(Data(head.utf8) + body)
        return try connection.readResponse()
    }

    /// POST /v1/files; the File object (or the error body with `expect`).
    func upload(_ content: String, filename: String = "input.jsonl", purpose: String = "batch",
                expect: Int = 200) throws -> [String: Any] {
        let boundary = "----pipeline-test-\(content.utf8.count)"
        let body = BatchInput.multipart(fields: [("purpose", nil, purpose), ("file", filename, content)], boundary: boundary)
        let response = try send(body, contentType: "multipart/form-data; boundary=\(boundary)")
        #expect(response.status == expect, "\(String(decoding: response.body, as: UTF8.self))")
        return try response.object()
    }

    func createBatch(fileID: String, endpoint: String = "/v1/chat/completions",
                     metadata: [String: String]? = nil) throws -> [String: Any] {
        var object: [String: Any] = ["input_file_id": fileID, "endpoint": endpoint, "completion_window": "24h"]
        if let metadata { object["metadata"] = metadata }
        let body = try JSONSerialization.data(withJSONObject: object)
        let response = try request("POST", "/v1/batches", body: body)
        #expect(response.status == 200, "\(String(decoding: response.body, as: UTF8.self))")
        return try response.object()
    }

    /// Polls until the batch is in one of `until` (by default a final
    /// status); the last object and every status seen on the way.
    func waitForBatch(_ id: String, until: Set<String> = ["completed", "failed", "expired", "cancelled"],
                      within seconds: Double = 60) throws -> ([String: Any], [String]) {
        let deadline = Date().addingTimeInterval(seconds)
        var seen: [String] = []
        while true {
            let object = try get("/v1/batches/\(id)").object()
            let status = object["status"] as? String ?? "?"
            if seen.last != status { seen.append(status) }
            if until.contains(status) { return (object, seen) }
            guard Date() < deadline else {
                throw FixtureError(message: "batch \(id) still \(status) after \(seconds) s (seen \(seen))")
            }
            usleep(50_000)
        }
    }

    /// A file's content, one JSON object per line.
    func fileLines(_ id: String) throws -> [[String: Any]] {
        let response = try get("/v1/files/\(id)/content")
        #expect(response.status == 200)
        return try String(decoding: response.body, as: UTF8.self).split(separator: "\n").map { line in
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw FixtureError(message: "not a JSON object: \(line)")
            }
            return object
        }
    }
}
