// libFuzzer target: how the push_to_hub client reads the Hub's answers
// (Plugins/hub/HubClient.swift): creating the repository, the head
// commit, preupload, the LFS batch/upload/verify answers, the commit, error
// bodies and headers (X-Error-Code, Retry-After, RateLimit), retries,
// conflicts and unknown outcomes. The answers come from the fuzzer through
// a scripted "pipeline.http/1"; sleeping is a no-op here.
//
// Input: byte 0 = options (attempts, when the host cancels); then records,
// one per HTTP exchange:
//   u8 kind (0: a response, 1: connection failure, 2: timeout, 3: cancelled)
//   u16 status (little-endian), u8 header length, headers, u16 body length, body
@testable import PipelineHub
import PipelineRetry
@testable import PluginKit
#if canImport(Glibc)
import Glibc
#endif

/// No retry in this process ever waits.
@_cdecl("usleep")
public func fuzzUsleep(_ microseconds: UInt32) -> Int32 { 0 }

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let options = input.byte()
    var script: [ScriptedResponse] = []
    while !input.isAtEnd, script.count < 64 {
        let kind = input.byte() & 3
        let status = input.u16()
        let headers = input.take(Int(input.byte()))
        let body = input.take(input.u16())
        let codes = [PIPELINE_OK, PIPELINE_IO, PIPELINE_TIMEOUT, PIPELINE_CANCELLED]
        script.append(ScriptedResponse(status: pipeline_status(codes[Int(kind)]), httpStatus: Int32(status),
                                       headers: headers, body: body))
    }
    FuzzHost.reset(script, cancelAtPoll: options & 0x80 != 0 ? Int(options & 0x0F) + 1 : 0)

    let settings = HubClient.Settings(
        endpoint: "http://hub.invalid/", repoID: "fuzz/data", revision: options & 0x40 != 0 ? "refs/pr/1" : "main",
        isPrivate: options & 0x20 != 0,
        retry: PushToHub.retryPolicy(attempts: Int(options & 3) + 1, backoff: 0), timeout: 5, step: "push_to_hub")
    let client = HubClient(settings: settings, context: FuzzHost.context)
    let files = [
        HubFile(path: "data/train-00000.jsonl", bytes: Array("{\"a\": 1}\n".utf8)),
        HubFile(path: "README.md", bytes: Array("---\nconfigs: []\n---\n".utf8)),
    ]
    do throws(StepError) {
        try client.createRepository()
        _ = try client.push(files, summary: "Upload", description: "fuzz")
    } catch {
        expect(!error.message.isEmpty, "an error without a message")
    }
    expect(FuzzHost.requests <= 64 * 2, "\(FuzzHost.requests) requests for \(script.count) answers")
    return 0
}
