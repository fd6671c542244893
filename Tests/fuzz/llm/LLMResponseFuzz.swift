// libFuzzer target: what the host reads from an LLM server's answers
// (Sources/PipelineLLMClient): a chat completion (LLMClient.parseChat), an
// embeddings answer (EmbeddingsReader, through LLMClient.parseEmbeddings),
// an error body (LLMClient.errorMessage), and the JSON parser under them
// (JSONValue), whose compact serialization must parse back to the same value.
//
// Input: byte 0 = how many embeddings the request asked for (0...7); the
// rest is the response body.
@testable import PipelineLLMClient
@testable import PipelineJSON

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let count = Int(input.byte() % 8)
    let body = input.rest()

    if let chat = LLMClient.parseChat(body) {
        expect(chat.text != nil)
    }
    if let vectors = LLMClient.parseEmbeddings(body, count: count) {
        expect(vectors.count == count, "\(vectors.count) vectors for \(count) inputs")
        // What the fast reader accepts is JSON.
        if let text = String(validating: body, as: UTF8.self) {
            expect((try? JSONValue(parsing: text)) != nil, "EmbeddingsReader accepted what JSONValue refuses")
        }
    }
    _ = LLMClient.errorMessage(body)

    if let text = String(validating: body, as: UTF8.self), let value = try? JSONValue(parsing: text) {
        let again = value.serialized
        guard let reparsed = try? JSONValue(parsing: again) else {
            fatalError("serialized JSON does not parse: \(again)")
        }
        expect(reparsed == value, "JSON round trip changed the value: \(again)")
        _ = value.int64Value
    }
    return 0
}
