// The Batch API's routes, shaped as OpenAI's: /v1/files (upload, list,
// retrieve, content, delete), /v1/batches (create, list, retrieve,
// cancel), and the test controls /_control/batches/{hold,release}.
// State and the clock are in BatchStore.swift.

import Foundation

extension Server {
    typealias Routed = (action: HTTPAction, inflight: Bool)

    /// nil when `route` is not a Batch API route.
    func batchRoute(_ request: HTTPRequest, route: String) -> Routed? {
        let parts = route.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        guard let head = parts.first else { return nil }
        switch (head, parts.count) {
        case ("files", _) where parts.count <= 3:
            stats.request(endpoint: "files")
            return filesRoute(request, parts: Array(parts.dropFirst()))
        case ("batches", _) where parts.count <= 3:
            stats.request(endpoint: "batches")
            return batchesRoute(request, parts: Array(parts.dropFirst()))
        case ("_control", 3) where parts[1] == "batches" && (parts[2] == "hold" || parts[2] == "release"):
            guard request.method == "POST" else { return respond(batchNotAllowed("POST")) }
            let hold = parts[2] == "hold"
            let released = batches.locked { () -> Int in
                batches.advanceAll(now: BatchStore.now())
                return batches.setHold(hold, now: BatchStore.now())
            }
            return respond(.json(200, .object([("hold", .bool(hold)), ("released", .int(released))])))
        default:
            return nil
        }
    }

    private func respond(_ response: HTTPResponse) -> Routed { (.respond(response), false) }

    private func batchNotAllowed(_ allowed: String) -> HTTPResponse {
        .error(405, "method not allowed; use \(allowed)", headers: [("Allow", allowed)])
    }

    // MARK: faults

    /// --batch-poll-error-rate and --batch-upload-error-rate: 429, 500 or 503,
    /// decided from (seed, key, attempt).
    private func injectedError(key: UInt64, rate: Double) -> HTTPResponse? {
        guard rate > 0 else { return nil }
        return batches.locked { () -> HTTPResponse? in
            var (rng, eligible) = batches.draws(key)
            guard eligible, rng.unit() < rate else { return nil }
            let retryAfter = [("Retry-After", String(config.retryAfter))]
            let which = rng.unit()
            if which < 1.0 / 3 {
                return .error(429, "injected fault: rate limit reached; retry after \(config.retryAfter) s",
                              type: "requests", code: "rate_limit_exceeded", headers: retryAfter)
            }
            if which < 2.0 / 3 {
                return .error(500, "injected fault: the server had an error while processing the request",
                              type: "server_error", code: "injected_error")
            }
            return .error(503, "injected fault: the server is overloaded; retry after \(config.retryAfter) s",
                          type: "server_error", code: "service_unavailable", headers: retryAfter)
        }
    }

    private func pollFault(_ request: HTTPRequest, route: String) -> HTTPResponse? {
        guard request.method == "GET" else { return nil }
        var key = StableHash()
        key.add("batch-poll")
        key.separator()
        key.add(route)
        guard let response = injectedError(key: key.mixed, rate: config.batchPollErrorRate) else { return nil }
        batches.locked { batches.count { $0.pollErrors += 1 } }
        return response
    }

    // MARK: /v1/files

    private func filesRoute(_ request: HTTPRequest, parts: [String]) -> Routed {
        if let fault = pollFault(request, route: "/files/" + parts.joined(separator: "/")) { return respond(fault) }
        switch parts.count {
        case 0:
            switch request.method {
            case "POST": return respond(upload(request))
            case "GET": return respond(listFiles(request))
            default: return respond(batchNotAllowed("GET, POST"))
            }
        case 1:
            let id = parts[0]
            switch request.method {
            case "GET":
                guard let file = batches.locked({ batches.file(id) }) else { return respond(noFile(id)) }
                return respond(.json(200, file.object))
            case "DELETE":
                guard batches.locked({ batches.deleteFile(id) }) else { return respond(noFile(id)) }
                return respond(.json(200, .object([("id", .string(id)), ("object", .string("file")), ("deleted", .bool(true))])))
            default:
                return respond(batchNotAllowed("GET, DELETE"))
            }
        default:
            guard parts[1] == "content" else {
                return respond(.error(404, "no route for \(request.method) \(request.path)", code: "not_found"))
            }
            guard request.method == "GET" else { return respond(batchNotAllowed("GET")) }
            let id = parts[0]
            guard let file = batches.locked({ batches.file(id) }) else { return respond(noFile(id)) }
            var response = HTTPResponse(status: 200, body: file.content)
            response.contentType = "application/octet-stream"
            return respond(response)
        }
    }

    private func noFile(_ id: String) -> HTTPResponse {
        .error(404, "no such file: '\(id)'", code: "not_found", param: "file_id")
    }

    private func upload(_ request: HTTPRequest) -> HTTPResponse {
        let parts: [FormPart]
        do {
            let boundary = try Multipart.boundary(contentType: request.header("content-type"))
            parts = try Multipart.parse(request.body, boundary: boundary)
        } catch {
            return .error(400, error.message)
        }
        guard let purposePart = parts.last(where: { $0.name == "purpose" }) else {
            return .error(400, "the upload has no 'purpose' field", code: "missing_required_parameter", param: "purpose")
        }
        let purpose = String(decoding: purposePart.content, as: UTF8.self)
        guard purpose == "batch" else {
            return .error(400, "purpose is '\(purpose)'; llm-test-server takes only purpose 'batch' files", param: "purpose")
        }
        guard let filePart = parts.last(where: { $0.name == "file" }) else {
            return .error(400, "the upload has no 'file' field", code: "missing_required_parameter", param: "file")
        }
        var key = StableHash()
        key.add("batch-upload")
        key.separator()
        key.add(filePart.content)
        if let fault = injectedError(key: key.mixed, rate: config.batchUploadErrorRate) {
            batches.locked { batches.count { $0.uploadErrors += 1 } }
            return fault
        }
        let file = batches.locked { () -> StoredFile in
            batches.count {
                $0.filesUploaded += 1
                $0.bytesUploaded += filePart.content.count
            }
            return batches.addFile(filename: filePart.filename ?? "upload.jsonl", purpose: purpose, content: filePart.content)
        }
        return .json(200, file.object)
    }

    private func listFiles(_ request: HTTPRequest) -> HTTPResponse {
        let limit: Int
        switch pageLimit(request, default: 10_000, max: 10_000) {
        case .success(let n): limit = n
        case .failure(let response): return response
        }
        let purpose = request.queryValue("purpose")
        let all = batches.locked { batches.listFiles(purpose: purpose) }
        var rest = all[...]
        if let after = request.queryValue("after") {
            guard let index = rest.firstIndex(where: { $0.id == after }) else {
                return .error(400, "after: no file with id '\(after)'", param: "after")
            }
            rest = rest[(index + 1)...]
        }
        let page = Array(rest.prefix(limit))
        return .json(200, listObject(page.map(\.object), ids: page.map(\.id), hasMore: rest.count > limit))
    }

    private enum Limit {
        case success(Int)
        case failure(HTTPResponse)
    }

    private func pageLimit(_ request: HTTPRequest, default fallback: Int, max: Int) -> Limit {
        guard let text = request.queryValue("limit") else { return .success(fallback) }
        guard let n = Int(text), (1...max).contains(n) else {
            return .failure(.error(400, "limit must be an integer in 1...\(max), got '\(text)'", param: "limit"))
        }
        return .success(n)
    }

    private func listObject(_ data: [JSON], ids: [String], hasMore: Bool) -> JSON {
        .object([
            ("object", .string("list")),
            ("data", .array(data)),
            ("first_id", ids.first.map { .string($0) } ?? .null),
            ("last_id", ids.last.map { .string($0) } ?? .null),
            ("has_more", .bool(hasMore)),
        ])
    }

    // MARK: /v1/batches

    private func batchesRoute(_ request: HTTPRequest, parts: [String]) -> Routed {
        if let fault = pollFault(request, route: "/batches/" + parts.joined(separator: "/")) { return respond(fault) }
        let now = BatchStore.now()
        switch parts.count {
        case 0:
            switch request.method {
            case "POST": return createBatch(request)
            case "GET":
                let limit: Int
                switch pageLimit(request, default: 20, max: 100) {
                case .success(let n): limit = n
                case .failure(let response): return respond(response)
                }
                let after = request.queryValue("after")
                let listed = batches.locked { () -> JSON? in
                    batches.advanceAll(now: now)
                    guard let (page, hasMore) = batches.listBatches(limit: limit, after: after) else { return nil }
                    return listObject(page.map { batchObject($0, now: now) }, ids: page.map(\.id), hasMore: hasMore)
                }
                guard let listed else {
                    return respond(.error(400, "after: no batch with id '\(after ?? "")'", param: "after"))
                }
                return respond(.json(200, listed))
            default:
                return respond(batchNotAllowed("GET, POST"))
            }
        case 1:
            guard request.method == "GET" else { return respond(batchNotAllowed("GET")) }
            let id = parts[0]
            let object = batches.locked { () -> JSON? in
                batches.advanceAll(now: now)
                return batches.batch(id).map { batchObject($0, now: now) }
            }
            guard let object else { return respond(noBatch(id)) }
            return respond(.json(200, object))
        default:
            guard parts[1] == "cancel" else {
                return respond(.error(404, "no route for \(request.method) \(request.path)", code: "not_found"))
            }
            guard request.method == "POST" else { return respond(batchNotAllowed("POST")) }
            let id = parts[0]
            let outcome = batches.locked { () -> (BatchStore.CancelOutcome, JSON?) in
                batches.advanceAll(now: now)
                let outcome = batches.cancel(id, now: now)
                if case .cancelled(let record) = outcome { return (outcome, batchObject(record, now: now)) }
                return (outcome, nil)
            }
            switch outcome {
            case (.cancelled, let object?): return respond(.json(200, object))
            case (.tooLate(let status), _):
                return respond(.error(409, "batch '\(id)' is \(status) and cannot be cancelled", code: "invalid_state"))
            default: return respond(noBatch(id))
            }
        }
    }

    private func noBatch(_ id: String) -> HTTPResponse {
        .error(404, "no such batch: '\(id)'", code: "not_found", param: "batch_id")
    }

    private func createBatch(_ request: HTTPRequest) -> Routed {
        let json: JSON
        do {
            json = try JSONParser.parse(request.body)
        } catch {
            return respond(.error(400, request.body.isEmpty ? "the request body is empty; send a JSON object"
                                                            : "the request body is not valid JSON: \(error.message)"))
        }
        guard case .object = json else { return respond(.error(400, "the request body must be a JSON object")) }
        guard let fileID = json["input_file_id"]?.string else {
            return respond(.error(400, "input_file_id is required (a string)", code: "missing_required_parameter",
                                  param: "input_file_id"))
        }
        guard let endpointText = json["endpoint"]?.string else {
            return respond(.error(400, "endpoint is required (a string)", code: "missing_required_parameter", param: "endpoint"))
        }
        guard let endpoint = BatchEndpoint(rawValue: endpointText) else {
            let known = BatchEndpoint.allCases.map(\.rawValue).joined(separator: ", ")
            return respond(.error(400, "endpoint '\(endpointText)' is not supported; use one of \(known)", param: "endpoint"))
        }
        guard let window = json["completion_window"]?.string else {
            return respond(.error(400, "completion_window is required (a string such as \"24h\")",
                                  code: "missing_required_parameter", param: "completion_window"))
        }
        guard let windowSeconds = Self.windowSeconds(window) else {
            return respond(.error(400, "completion_window '\(window)' is not a duration in hours such as \"24h\"",
                                  param: "completion_window"))
        }
        var metadata: [(String, String)]?
        switch json["metadata"] {
        case nil, .null?:
            break
        case .object(let members)?:
            guard members.count <= 16 else {
                return respond(.error(400, "metadata has \(members.count) keys; at most 16", param: "metadata"))
            }
            var pairs: [(String, String)] = []
            for (key, value) in members {
                guard let text = value.string else {
                    return respond(.error(400, "metadata['\(key)'] must be a string", param: "metadata"))
                }
                guard key.count <= 64, text.count <= 512 else {
                    return respond(.error(400, "metadata['\(key)']: keys are at most 64 characters, values at most 512",
                                          param: "metadata"))
                }
                pairs.append((key, text))
            }
            metadata = pairs
        default:
            return respond(.error(400, "metadata must be an object of strings", param: "metadata"))
        }

        let now = BatchStore.now()
        enum Created {
            case object(JSON, id: String, dropped: Bool)
            case refused(HTTPResponse)
        }
        let created = batches.locked { () -> Created in
            guard let file = batches.file(fileID) else {
                return .refused(.error(400, "input_file_id: no such file: '\(fileID)'", param: "input_file_id"))
            }
            guard file.purpose == "batch" else {
                return .refused(.error(400, "input_file_id: file '\(fileID)' has purpose '\(file.purpose)', not 'batch'",
                                       param: "input_file_id"))
            }
            var key = StableHash()
            key.add("batch-create")
            key.separator()
            key.add(file.content)
            var (rng, eligible) = batches.draws(key.mixed)
            let fateDraw = rng.unit(), fraction = rng.unit(), dropDraw = rng.unit()
            var fate = BatchFate.normal
            if eligible {
                if fateDraw < config.batchFailValidationRate {
                    fate = .failValidation
                } else if fateDraw < config.batchFailValidationRate + config.batchExpireRate {
                    fate = .expire(fraction)
                }
            }
            let record = batches.createBatch(input: file, endpoint: endpoint, completionWindow: window,
                                             windowSeconds: windowSeconds, metadata: metadata, fate: fate)
            let dropped = eligible && dropDraw < config.batchDropCreateRate
            if dropped { batches.count { $0.createDropped += 1 } }
            return .object(batchObject(record, now: now), id: record.id, dropped: dropped)
        }
        let object: JSON, id: String, dropped: Bool
        switch created {
        case .refused(let response): return respond(response)
        case .object(let created, let createdID, let wasDropped): (object, id, dropped) = (created, createdID, wasDropped)
        }
        // Validate and answer the lines off this connection's thread.
        let store = batches
        let work: @Sendable () -> Void = { [self] in store.prepare(id, answer: batchAnswer) }
        if !spawnDetachedThread(work) { work() }
        return dropped ? (.drop, false) : respond(.json(200, object))
    }

    /// "24h" (the real API's only value) or any other whole number of hours.
    static func windowSeconds(_ text: String) -> Int? {
        guard text.hasSuffix("h"), let hours = Int(text.dropLast()), (1...8760).contains(hours) else { return nil }
        return hours * 3600
    }

    /// The Batch object as the real API returns it.
    func batchObject(_ record: BatchRecord, now: Double) -> JSON {
        func time(_ value: Double?) -> JSON { value.map { .int(Int($0)) } ?? .null }
        let counts = batches.requestCounts(record, now: now)
        let created = Int(record.created)
        return .object([
            ("id", .string(record.id)),
            ("object", .string("batch")),
            ("endpoint", .string(record.endpoint.rawValue)),
            ("errors", record.errors.map { .object([("object", .string("list")), ("data", .array($0))]) } ?? .null),
            ("input_file_id", .string(record.inputFileID)),
            ("completion_window", .string(record.completionWindow)),
            ("status", .string(record.status)),
            ("output_file_id", record.outputFileID.map { .string($0) } ?? .null),
            ("error_file_id", record.errorFileID.map { .string($0) } ?? .null),
            ("created_at", .int(created)),
            ("in_progress_at", time(record.inProgressAt)),
            ("expires_at", .int(created + record.windowSeconds)),
            ("finalizing_at", time(record.finalizingAt)),
            ("completed_at", time(record.completedAt)),
            ("failed_at", time(record.failedAt)),
            ("expired_at", time(record.expiredAt)),
            ("cancelling_at", time(record.cancellingAt)),
            ("cancelled_at", time(record.cancelledAt)),
            ("request_counts", .object([
                ("total", .int(counts.total)),
                ("completed", .int(counts.completed)),
                ("failed", .int(counts.failed)),
            ])),
            ("metadata", record.metadata.map { .object($0.map { ($0.0, .string($0.1)) }) } ?? .null),
        ])
    }

    /// The `batches` section of /stats.
    func batchStats() -> JSON {
        let now = BatchStore.now()
        return batches.locked {
            batches.advanceAll(now: now)
            return batches.snapshot(now: now) { batchObject($0, now: now) }
        }
    }
}
