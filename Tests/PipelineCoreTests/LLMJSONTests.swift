import Foundation
import Testing

@testable import PipelineCore
@testable import PipelineJSON
@testable import PipelineLLMClient

/// The LLM client's byte-level JSON (request bodies, cache keys, I/O log
/// lines, embeddings answers) against the JSONValue it replaced per request.
@Suite("LLM JSON")
struct LLMJSONTests {
    static let samples: [JSONValue] = [
        .null, .bool(true), .bool(false), .number(0), .number(-0.0), .number(42), .number(-7), .number(0.7),
        .number(1e15), .number(1e300), .number(-2.5e-8), .number(123_456_789_012_345),
        .string(""), .string("plain"), .string("quote \" backslash \\ slash /"),
        .string("lines\n\r\ttabs and \u{01}\u{1F}\u{7F} controls"), .string("héllo wörld 漢字 🎉 \u{2028}"),
        .array([]), .array([.number(1), .string("a"), .null, .array([.bool(true)])]),
        .object([:]),
        .object(["model": .string("m"), "messages": .array([.object(["role": .string("user"), "content": .string("Hi \"there\"\n")])]),
                 "temperature": .number(0.7), "max_tokens": .number(512), "Zeta": .null, "alpha": .object(["b": .number(1), "a": .number(2)])]),
    ]

    @Test func jsonValueNumbersFollowRFC8259() throws {
        for text in ["0", "-0", "7", "-12", "0.5", "-0.25", "1e3", "1E+3", "2.5e-3", "123456789.125"] {
            #expect(try JSONValue(parsing: text) == .number(Double(text) ?? .nan), "\(text)")
        }
        for text in ["01", "-01", "1.", ".5", "+1", "1e", "1e+", "-", "1.e3", "0x10", "1..2", "--1"] {
            #expect(throws: JSONError.self, "\(text) is not a JSON number") { try JSONValue(parsing: text) }
        }
    }

    /// The text JSONValue.serialized gave before JSONBytes became the one
    /// writer behind it: cache keys and resumed runs' fingerprints hash it.
    static let serializedSamples: [String] = [
        "null", "true", "false", "0", "0", "42", "-7", "0.7", "1000000000000000.0", "1e+300", "-2.5e-08",
        "123456789012345",
        #""""#, #""plain""#, #""quote \" backslash \\ slash /""#,
        "\"lines\\n\\r\\ttabs and \\u0001\\u001f\u{7F} controls\"", "\"héllo wörld 漢字 🎉 \u{2028}\"",
        "[]", #"[1,"a",null,[true]]"#, "{}",
        #"{"Zeta":null,"alpha":{"a":2,"b":1},"max_tokens":512,"messages":[{"content":"Hi \"there\"\n","role":"user"}],"model":"m","temperature":0.7}"#,
    ]

    @Test func bytesAreWhatJSONValueSerializes() {
        #expect(Self.samples.count == Self.serializedSamples.count)
        for (sample, expected) in zip(Self.samples, Self.serializedSamples) {
            var out = JSONBytes()
            out.value(sample)
            #expect(String(decoding: out.bytes, as: UTF8.self) == expected)
            #expect(sample.serialized == expected)
        }
    }

    @Test func objectsFromFieldsSortTheirKeysLikeJSONValue() {
        let body: JSONValue = .object(["model": .string("m"), "input": .array([.string("a\nb")])])
        var bodyBytes = JSONBytes()
        bodyBytes.value(body)
        let line = JSONBytes.object([("step", .string("s")), ("attempt", .int(2)), ("request", .raw(bodyBytes.bytes)),
                                     ("cached", .bool(false)), ("latency_ms", .int(51)), ("error", .value(.string("x")))])
        let expected = JSONValue.object(["step": .string("s"), "attempt": .number(2), "request": body, "cached": .bool(false),
                                         "latency_ms": .number(51), "error": .string("x")]).serialized
        #expect(String(decoding: line.bytes, as: UTF8.self) == expected)
    }

    @Test func cacheKeysAreTheOnesEarlierRunsStored() {
        let body: [String: JSONValue] = ["model": .string("m"), "temperature": .number(0),
                                         "messages": .array([.object(["role": .string("user"), "content": .string("hé \"x\"")])])]
        var bytes = JSONBytes()
        bytes.value(.object(body))
        let chat = LLMCache.key(JSONValue.object([
            "url": .string("http://h/v1"), "endpoint": .string("chat"), "body": .object(body), "generation": .number(3),
        ]).serialized)
        #expect(LLMClient.cacheKey(url: "http://h/v1", endpoint: "chat", body: bytes.bytes, generation: 3) == chat)
        let embeddings = LLMCache.key(JSONValue.object([
            "url": .string("http://h/v1"), "endpoint": .string("embeddings"), "body": .object(body),
        ]).serialized)
        #expect(LLMClient.cacheKey(url: "http://h/v1", endpoint: "embeddings", body: bytes.bytes, generation: nil) == embeddings)
        // The keys themselves, as stored by earlier runs' caches.
        #expect(chat == "5a2a6a13a50ee602d01ee5aaaca3f992")
        #expect(embeddings == "46d28868ade950e75314b10587ca8e0d")
    }

    /// The JSONValue-based reading the client used before.
    static func reference(_ text: String, count: Int) -> [[Float]]? {
        guard let json = try? JSONValue(parsing: text), let data = json["data"]?.arrayValue, data.count == count else { return nil }
        var vectors = [[Float]](repeating: [], count: count)
        for (position, item) in data.enumerated() {
            let index = Int(item["index"]?.int64Value ?? Int64(position))
            guard index >= 0, index < count, let values = item["embedding"]?.arrayValue else { return nil }
            vectors[index] = values.compactMap { $0.doubleValue.map(Float.init) }
        }
        return vectors
    }

    @Test func embeddingsAreReadAsBefore() {
        var generator = SystemRandomNumberGenerator()
        var numbers: [String] = ["0", "-0", "-0.0", "1", "0.5", "-0.125", "1e3", "1E-3", "2.5e+10", "-1.7976931348623157e308",
                                 "4.9e-324", "0.000000000000000000000000000001", "123456789012345678901234567890",
                                 "0.12345678901234567890123", "3.4028235e38", "1.00000005960464477539062500001"]
        for _ in 0..<2000 {
            let value = Double.random(in: -1...1, using: &generator) * pow(10, Double(Int.random(in: -30...30, using: &generator)))
            numbers.append("\(value)")
            numbers.append(String(format: "%.9g", Float(value)))
        }
        let vector = "[" + numbers.joined(separator: ", ") + "]"
        let text = """
            { "object": "list", "model": "e\\u006d", "usage": {"prompt_tokens": 3, "total_tokens": 3, "x": [true, false, null, {"y": "\\""}]},
              "data": [ {"index": 1, "object": "embedding", "embedding": [1, 2.5, -3e-2]},
                        {"embedding": \(vector), "index": 0, "object": "embedding"} ] }
            """
        let expected = Self.reference(text, count: 2)
        #expect(expected != nil)
        let got = LLMClient.parseEmbeddings(Array(text.utf8), count: 2)
        #expect(got?.count == 2)
        if let got, let expected {
            #expect(got[1] == expected[1])
            #expect(got[0].count == expected[0].count)
            for (a, b) in zip(got[0], expected[0]) where a.bitPattern != b.bitPattern {
                Issue.record("\(a) != \(b)")
            }
        }
        // Without indexes: position order; escaped keys are still keys.
        let plain = #"{"d\u0061ta":[{"embedding":[0.25]},{"embedding":[-1,null,"x",2]}]}"#
        #expect(LLMClient.parseEmbeddings(Array(plain.utf8), count: 2) == Self.reference(plain, count: 2))
        #expect(LLMClient.parseEmbeddings(Array(plain.utf8), count: 2) == [[0.25], [-1, 2]])
    }

    @Test func malformedEmbeddingsAnswersAreRejected() {
        for text in [#"{"data":[{"embedding":[1,2]}]}"#.replacingOccurrences(of: "]}]}", with: "]}]"),
                     #"{"data":[{"embedding":[1,2]}]} x"#, #"{"data":[{"embedding":[1,,2]}]}"#,
                     #"{"data":[{"embedding":[1e400]}]}"#, #"{"data":[{"embedding":[-]}]}"#,
                     #"{"data":[{"embedding":[1e]}]}"#, #"{"data":[{"index":5,"embedding":[1]}]}"#,
                     #"{"data":[{"index":0}]}"#, #"{"data":[]}"#, #"{"data":[{"embedding":[1]},{"embedding":[2]}]}"#,
                     #"{"data":{"embedding":[1]}}"#, #"["data"]"#, "", #"{"data":[{"embedding":[1]}],}"#,
                     #"{"data":[{"embedding":[1]}], "x": tru}"#, "{\"data\":[{\"embedding\":[1]}], \"x\": \"a\nb\"}"] {
            #expect(LLMClient.parseEmbeddings(Array(text.utf8), count: 1) == nil, "\(text)")
            #expect(Self.reference(text, count: 1) == nil, "reference accepts \(text)")
        }
        // Numbers JSONValue read leniently (strtod's grammar) are malformed JSON here.
        for text in [#"{"data":[{"embedding":[01]}]}"#, #"{"data":[{"embedding":[1.]}]}"#, #"{"data":[{"embedding":[.5]}]}"#] {
            #expect(LLMClient.parseEmbeddings(Array(text.utf8), count: 1) == nil, "\(text)")
        }
    }
}
