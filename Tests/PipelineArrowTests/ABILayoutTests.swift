import CPipelineABI
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What Swift sees of the C structures, keyed like the header's layout
/// assertions ("offsetof(pipeline_host, log)", "sizeof(pipeline_host)").
/// `sizeof` is Swift's stride: MemoryLayout.size leaves out tail padding.
private let swiftLayout: [String: Int?] = [
    "sizeof(struct ArrowSchema)": MemoryLayout<ArrowSchema>.stride,
    "sizeof(struct ArrowArray)": MemoryLayout<ArrowArray>.stride,

    "offsetof(pipeline_host, struct_size)": MemoryLayout<pipeline_host>.offset(of: \.struct_size),
    "offsetof(pipeline_host, abi_major)": MemoryLayout<pipeline_host>.offset(of: \.abi_major),
    "offsetof(pipeline_host, abi_minor)": MemoryLayout<pipeline_host>.offset(of: \.abi_minor),
    "offsetof(pipeline_host, host_version)": MemoryLayout<pipeline_host>.offset(of: \.host_version),
    "offsetof(pipeline_host, log)": MemoryLayout<pipeline_host>.offset(of: \.log),
    "offsetof(pipeline_host, set_error)": MemoryLayout<pipeline_host>.offset(of: \.set_error),
    "offsetof(pipeline_host, is_cancelled)": MemoryLayout<pipeline_host>.offset(of: \.is_cancelled),
    "offsetof(pipeline_host, get_extension)": MemoryLayout<pipeline_host>.offset(of: \.get_extension),
    "offsetof(pipeline_host, log_plugin)": MemoryLayout<pipeline_host>.offset(of: \.log_plugin),
    "offsetof(pipeline_host, refuse)": MemoryLayout<pipeline_host>.offset(of: \.refuse),
    "sizeof(pipeline_host)": MemoryLayout<pipeline_host>.stride,

    "offsetof(pipeline_step_desc, struct_size)": MemoryLayout<pipeline_step_desc>.offset(of: \.struct_size),
    "offsetof(pipeline_step_desc, kind)": MemoryLayout<pipeline_step_desc>.offset(of: \.kind),
    "offsetof(pipeline_step_desc, flags)": MemoryLayout<pipeline_step_desc>.offset(of: \.flags),
    "offsetof(pipeline_step_desc, id)": MemoryLayout<pipeline_step_desc>.offset(of: \.id),
    "offsetof(pipeline_step_desc, name)": MemoryLayout<pipeline_step_desc>.offset(of: \.name),
    "offsetof(pipeline_step_desc, version)": MemoryLayout<pipeline_step_desc>.offset(of: \.version),
    "offsetof(pipeline_step_desc, description)": MemoryLayout<pipeline_step_desc>.offset(of: \.description),
    "offsetof(pipeline_step_desc, inputs_json)": MemoryLayout<pipeline_step_desc>.offset(of: \.inputs_json),
    "offsetof(pipeline_step_desc, outputs_json)": MemoryLayout<pipeline_step_desc>.offset(of: \.outputs_json),
    "offsetof(pipeline_step_desc, params_schema_json)":
        MemoryLayout<pipeline_step_desc>.offset(of: \.params_schema_json),
    "offsetof(pipeline_step_desc, create)": MemoryLayout<pipeline_step_desc>.offset(of: \.create),
    "offsetof(pipeline_step_desc, process)": MemoryLayout<pipeline_step_desc>.offset(of: \.process),
    "offsetof(pipeline_step_desc, finish)": MemoryLayout<pipeline_step_desc>.offset(of: \.finish),
    "offsetof(pipeline_step_desc, interrupt)": MemoryLayout<pipeline_step_desc>.offset(of: \.interrupt),
    "offsetof(pipeline_step_desc, destroy)": MemoryLayout<pipeline_step_desc>.offset(of: \.destroy),
    "sizeof(pipeline_step_desc)": MemoryLayout<pipeline_step_desc>.stride,

    "offsetof(pipeline_plugin, struct_size)": MemoryLayout<pipeline_plugin>.offset(of: \.struct_size),
    "offsetof(pipeline_plugin, abi_major)": MemoryLayout<pipeline_plugin>.offset(of: \.abi_major),
    "offsetof(pipeline_plugin, abi_minor)": MemoryLayout<pipeline_plugin>.offset(of: \.abi_minor),
    "offsetof(pipeline_plugin, name)": MemoryLayout<pipeline_plugin>.offset(of: \.name),
    "offsetof(pipeline_plugin, version)": MemoryLayout<pipeline_plugin>.offset(of: \.version),
    "offsetof(pipeline_plugin, description)": MemoryLayout<pipeline_plugin>.offset(of: \.description),
    "offsetof(pipeline_plugin, step_count)": MemoryLayout<pipeline_plugin>.offset(of: \.step_count),
    "offsetof(pipeline_plugin, steps)": MemoryLayout<pipeline_plugin>.offset(of: \.steps),
    "sizeof(pipeline_plugin)": MemoryLayout<pipeline_plugin>.stride,

    "offsetof(pipeline_params_ext, struct_size)": MemoryLayout<pipeline_params_ext>.offset(of: \.struct_size),
    "offsetof(pipeline_params_ext, get_string)": MemoryLayout<pipeline_params_ext>.offset(of: \.get_string),
    "offsetof(pipeline_params_ext, get_int64)": MemoryLayout<pipeline_params_ext>.offset(of: \.get_int64),
    "offsetof(pipeline_params_ext, get_double)": MemoryLayout<pipeline_params_ext>.offset(of: \.get_double),
    "offsetof(pipeline_params_ext, get_bool)": MemoryLayout<pipeline_params_ext>.offset(of: \.get_bool),
    "offsetof(pipeline_params_ext, get_string_count)":
        MemoryLayout<pipeline_params_ext>.offset(of: \.get_string_count),
    "offsetof(pipeline_params_ext, get_string_at)": MemoryLayout<pipeline_params_ext>.offset(of: \.get_string_at),
    "sizeof(pipeline_params_ext)": MemoryLayout<pipeline_params_ext>.stride,

    "sizeof(pipeline_llm_request)": MemoryLayout<pipeline_llm_request>.stride,
    "offsetof(pipeline_llm_response, text)": MemoryLayout<pipeline_llm_response>.offset(of: \.text),
    "offsetof(pipeline_llm_response, prompt_tokens)": MemoryLayout<pipeline_llm_response>.offset(of: \.prompt_tokens),
    "sizeof(pipeline_llm_response)": MemoryLayout<pipeline_llm_response>.stride,
    "offsetof(pipeline_llm_ext, embed)": MemoryLayout<pipeline_llm_ext>.offset(of: \.embed),
    "offsetof(pipeline_llm_ext, embed_with_errors)": MemoryLayout<pipeline_llm_ext>.offset(of: \.embed_with_errors),
    "offsetof(pipeline_llm_ext, complete_answers)": MemoryLayout<pipeline_llm_ext>.offset(of: \.complete_answers),
    "offsetof(pipeline_llm_ext, submit_answer)": MemoryLayout<pipeline_llm_ext>.offset(of: \.submit_answer),
    "offsetof(pipeline_llm_ext, complete_answers_for_rows)":
        MemoryLayout<pipeline_llm_ext>.offset(of: \.complete_answers_for_rows),
    "offsetof(pipeline_llm_ext, submit_answer_for_row)": MemoryLayout<pipeline_llm_ext>.offset(of: \.submit_answer_for_row),
    "sizeof(pipeline_llm_ext)": MemoryLayout<pipeline_llm_ext>.stride,
    "offsetof(pipeline_llm_answer, response)": MemoryLayout<pipeline_llm_answer>.offset(of: \.response),
    "offsetof(pipeline_llm_answer, reasoning)": MemoryLayout<pipeline_llm_answer>.offset(of: \.reasoning),
    "sizeof(pipeline_llm_answer)": MemoryLayout<pipeline_llm_answer>.stride,
    "offsetof(pipeline_http_request, method)": MemoryLayout<pipeline_http_request>.offset(of: \.method),
    "offsetof(pipeline_http_request, timeout_seconds)":
        MemoryLayout<pipeline_http_request>.offset(of: \.timeout_seconds),
    "sizeof(pipeline_http_request)": MemoryLayout<pipeline_http_request>.stride,
    "offsetof(pipeline_http_response, http_status)": MemoryLayout<pipeline_http_response>.offset(of: \.http_status),
    "offsetof(pipeline_http_response, headers)": MemoryLayout<pipeline_http_response>.offset(of: \.headers),
    "sizeof(pipeline_http_response)": MemoryLayout<pipeline_http_response>.stride,
    "offsetof(pipeline_http_ext, perform_authenticated)":
        MemoryLayout<pipeline_http_ext>.offset(of: \.perform_authenticated),
    "sizeof(pipeline_http_ext)": MemoryLayout<pipeline_http_ext>.stride,
    "offsetof(pipeline_run_ext, input_index)": MemoryLayout<pipeline_run_ext>.offset(of: \.input_index),
    "offsetof(pipeline_run_ext, input_name)": MemoryLayout<pipeline_run_ext>.offset(of: \.input_name),
    "offsetof(pipeline_run_ext, expect_rows)": MemoryLayout<pipeline_run_ext>.offset(of: \.expect_rows),
    "sizeof(pipeline_run_ext)": MemoryLayout<pipeline_run_ext>.stride,

    // The frozen sizes of each release (never change).
    "PIPELINE_HOST_SIZE_1_0": Int(PIPELINE_HOST_SIZE_1_0),
    "PIPELINE_HOST_SIZE_1_3": Int(PIPELINE_HOST_SIZE_1_3),
    "PIPELINE_STEP_DESC_SIZE_1_0": Int(PIPELINE_STEP_DESC_SIZE_1_0),
    "PIPELINE_PLUGIN_SIZE_1_0": Int(PIPELINE_PLUGIN_SIZE_1_0),
    "PIPELINE_PARAMS_EXT_SIZE_1_0": Int(PIPELINE_PARAMS_EXT_SIZE_1_0),
    "PIPELINE_LLM_EXT_SIZE_1_0": Int(PIPELINE_LLM_EXT_SIZE_1_0),
    "PIPELINE_LLM_EXT_SIZE_1_2": Int(PIPELINE_LLM_EXT_SIZE_1_2),
    "PIPELINE_LLM_EXT_SIZE_1_4": Int(PIPELINE_LLM_EXT_SIZE_1_4),
    "PIPELINE_LLM_ANSWER_SIZE_1_4": Int(PIPELINE_LLM_ANSWER_SIZE_1_4),
    "PIPELINE_RUN_EXT_SIZE_1_4": Int(PIPELINE_RUN_EXT_SIZE_1_4),
    "PIPELINE_LLM_EXT_SIZE_1_5": Int(PIPELINE_LLM_EXT_SIZE_1_5),
    "PIPELINE_RUN_EXT_SIZE_1_5": Int(PIPELINE_RUN_EXT_SIZE_1_5),
    "PIPELINE_HTTP_EXT_SIZE_1_1": Int(PIPELINE_HTTP_EXT_SIZE_1_1),
    "PIPELINE_HTTP_EXT_SIZE_1_3": Int(PIPELINE_HTTP_EXT_SIZE_1_3),
    "PIPELINE_RUN_EXT_SIZE_1_1": Int(PIPELINE_RUN_EXT_SIZE_1_1),
    "PIPELINE_LLM_REQUEST_SIZE": Int(PIPELINE_LLM_REQUEST_SIZE),
    "PIPELINE_LLM_RESPONSE_SIZE": Int(PIPELINE_LLM_RESPONSE_SIZE),
    "PIPELINE_HTTP_REQUEST_SIZE": Int(PIPELINE_HTTP_REQUEST_SIZE),
    "PIPELINE_HTTP_RESPONSE_SIZE": Int(PIPELINE_HTTP_RESPONSE_SIZE),

    "offsetof(ArrowSchema, release)": MemoryLayout<ArrowSchema>.offset(of: \.release),
    "offsetof(ArrowSchema, private_data)": MemoryLayout<ArrowSchema>.offset(of: \.private_data),
    "offsetof(ArrowArray, buffers)": MemoryLayout<ArrowArray>.offset(of: \.buffers),
    "offsetof(ArrowArray, release)": MemoryLayout<ArrowArray>.offset(of: \.release),
    "offsetof(ArrowArray, private_data)": MemoryLayout<ArrowArray>.offset(of: \.private_data),
]

/// The ABI as the header's _Static_assert lines state it (LP64), plus the
/// fields the header leaves implicit: every struct starts with struct_size
/// at 0, and pipeline_params_ext is seven pointer-aligned slots.
private let expectedLayout: [String: Int] = [
    "sizeof(struct ArrowSchema)": 72,
    "sizeof(struct ArrowArray)": 80,

    "offsetof(pipeline_host, struct_size)": 0,
    "offsetof(pipeline_host, abi_major)": 4,
    "offsetof(pipeline_host, abi_minor)": 6,
    "offsetof(pipeline_host, host_version)": 8,
    "offsetof(pipeline_host, log)": 16,
    "offsetof(pipeline_host, set_error)": 24,
    "offsetof(pipeline_host, is_cancelled)": 32,
    "offsetof(pipeline_host, get_extension)": 40,
    "offsetof(pipeline_host, log_plugin)": 48,
    "offsetof(pipeline_host, refuse)": 56,
    "sizeof(pipeline_host)": 64,

    "offsetof(pipeline_step_desc, struct_size)": 0,
    "offsetof(pipeline_step_desc, kind)": 4,
    "offsetof(pipeline_step_desc, flags)": 8,
    "offsetof(pipeline_step_desc, id)": 16,
    "offsetof(pipeline_step_desc, name)": 24,
    "offsetof(pipeline_step_desc, version)": 32,
    "offsetof(pipeline_step_desc, description)": 40,
    "offsetof(pipeline_step_desc, inputs_json)": 48,
    "offsetof(pipeline_step_desc, outputs_json)": 56,
    "offsetof(pipeline_step_desc, params_schema_json)": 64,
    "offsetof(pipeline_step_desc, create)": 72,
    "offsetof(pipeline_step_desc, process)": 80,
    "offsetof(pipeline_step_desc, finish)": 88,
    "offsetof(pipeline_step_desc, interrupt)": 96,
    "offsetof(pipeline_step_desc, destroy)": 104,
    "sizeof(pipeline_step_desc)": 112,

    "offsetof(pipeline_plugin, struct_size)": 0,
    "offsetof(pipeline_plugin, abi_major)": 4,
    "offsetof(pipeline_plugin, abi_minor)": 6,
    "offsetof(pipeline_plugin, name)": 8,
    "offsetof(pipeline_plugin, version)": 16,
    "offsetof(pipeline_plugin, description)": 24,
    "offsetof(pipeline_plugin, step_count)": 32,
    "offsetof(pipeline_plugin, steps)": 40,
    "sizeof(pipeline_plugin)": 48,

    "offsetof(pipeline_params_ext, struct_size)": 0,
    "offsetof(pipeline_params_ext, get_string)": 8,
    "offsetof(pipeline_params_ext, get_int64)": 16,
    "offsetof(pipeline_params_ext, get_double)": 24,
    "offsetof(pipeline_params_ext, get_bool)": 32,
    "offsetof(pipeline_params_ext, get_string_count)": 40,
    "offsetof(pipeline_params_ext, get_string_at)": 48,
    "sizeof(pipeline_params_ext)": 56,
    "sizeof(pipeline_llm_request)": 48,
    "offsetof(pipeline_llm_response, text)": 8,
    "offsetof(pipeline_llm_response, prompt_tokens)": 40,
    "sizeof(pipeline_llm_response)": 64,
    "offsetof(pipeline_llm_ext, embed)": 32,
    "offsetof(pipeline_llm_ext, embed_with_errors)": 40,
    "offsetof(pipeline_llm_ext, complete_answers)": 48,
    "offsetof(pipeline_llm_ext, submit_answer)": 64,
    "offsetof(pipeline_llm_ext, complete_answers_for_rows)": 72,
    "offsetof(pipeline_llm_ext, submit_answer_for_row)": 80,
    "sizeof(pipeline_llm_ext)": 88,
    "offsetof(pipeline_llm_answer, response)": 8,
    "offsetof(pipeline_llm_answer, reasoning)": 72,
    "sizeof(pipeline_llm_answer)": 80,
    "offsetof(pipeline_http_request, method)": 8,
    "offsetof(pipeline_http_request, timeout_seconds)": 56,
    "sizeof(pipeline_http_request)": 64,
    "offsetof(pipeline_http_response, http_status)": 8,
    "offsetof(pipeline_http_response, headers)": 16,
    "sizeof(pipeline_http_response)": 56,
    "offsetof(pipeline_http_ext, perform_authenticated)": 24,
    "sizeof(pipeline_http_ext)": 32,
    "offsetof(pipeline_run_ext, input_index)": 56,
    "offsetof(pipeline_run_ext, input_name)": 72,
    "offsetof(pipeline_run_ext, expect_rows)": 80,
    "sizeof(pipeline_run_ext)": 88,

    "PIPELINE_HOST_SIZE_1_0": 48,
    "PIPELINE_HOST_SIZE_1_3": 64,
    "PIPELINE_STEP_DESC_SIZE_1_0": 112,
    "PIPELINE_PLUGIN_SIZE_1_0": 48,
    "PIPELINE_PARAMS_EXT_SIZE_1_0": 56,
    "PIPELINE_LLM_EXT_SIZE_1_0": 40,
    "PIPELINE_LLM_EXT_SIZE_1_2": 48,
    "PIPELINE_LLM_EXT_SIZE_1_4": 72,
    "PIPELINE_LLM_ANSWER_SIZE_1_4": 80,
    "PIPELINE_RUN_EXT_SIZE_1_4": 80,
    "PIPELINE_LLM_EXT_SIZE_1_5": 88,
    "PIPELINE_RUN_EXT_SIZE_1_5": 88,
    "PIPELINE_HTTP_EXT_SIZE_1_1": 24,
    "PIPELINE_HTTP_EXT_SIZE_1_3": 32,
    "PIPELINE_RUN_EXT_SIZE_1_1": 56,
    "PIPELINE_LLM_REQUEST_SIZE": 48,
    "PIPELINE_LLM_RESPONSE_SIZE": 64,
    "PIPELINE_HTTP_REQUEST_SIZE": 64,
    "PIPELINE_HTTP_RESPONSE_SIZE": 56,

    // The C Data Interface's frozen layout (Arrow specification).
    "offsetof(ArrowSchema, release)": 56,
    "offsetof(ArrowSchema, private_data)": 64,
    "offsetof(ArrowArray, buffers)": 40,
    "offsetof(ArrowArray, release)": 64,
    "offsetof(ArrowArray, private_data)": 72,
]

/// The `PIPELINE_STATIC_ASSERT(<expr> == <n>, ...)` lines of the header.
private func headerAssertions() throws -> [(expression: String, value: Int)] {
    let path = #filePath.split(separator: "/", omittingEmptySubsequences: false).dropLast(3).joined(separator: "/")
        + "/Sources/CPipelineABI/include/pipeline_plugin.h"
    guard let file = fopen(path, "r") else {
        Issue.record("cannot open \(path)")
        return []
    }
    defer { fclose(file) }
    var text: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = fread(&chunk, 1, chunk.count, file)
        if count <= 0 { break }
        text += chunk[0..<count]
    }
    var result: [(String, Int)] = []
    let prefix = "PIPELINE_STATIC_ASSERT("
    for line in String(decoding: text, as: UTF8.self).split(separator: "\n") where line.hasPrefix(prefix) {
        let body = line.dropFirst(prefix.count)
        guard let equals = body.firstRange(of: " == "),
              let comma = body[equals.upperBound...].firstIndex(of: ","),
              let value = Int(body[equals.upperBound..<comma].trimmingSpaces())
        else {
            Issue.record("cannot parse header line: \(line)")
            continue
        }
        result.append((String(body[..<equals.lowerBound]), value))
    }
    return result
}

private extension Substring {
    func trimmingSpaces() -> Substring {
        var slice = self
        while slice.first == " " { slice = slice.dropFirst() }
        while slice.last == " " { slice = slice.dropLast() }
        return slice
    }
}

@Suite("ABI layout")
struct ABILayoutTests {
    @Test("Swift sees every field at the offset the ABI fixes")
    func swiftMatchesExpected() {
        #expect(Set(swiftLayout.keys) == Set(expectedLayout.keys))
        for (key, expected) in expectedLayout.sorted(by: { $0.key < $1.key }) {
            let actual = swiftLayout[key] ?? nil
            #expect(actual == expected, "\(key): Swift says \(actual.map(String.init) ?? "nil"), ABI says \(expected)")
        }
    }

    @Test("every layout assertion of the header is checked here, with the same number")
    func headerAssertionsAreCovered() throws {
        let assertions = try headerAssertions()
        #expect(assertions.count >= 34, "found only \(assertions.count) assertions in the header")
        for (expression, value) in assertions {
            #expect(expectedLayout[expression] == value,
                    "header asserts \(expression) == \(value); this test expects \(expectedLayout[expression].map(String.init) ?? "nothing")")
            #expect((swiftLayout[expression] ?? nil) == value, "Swift disagrees with the header on \(expression)")
        }
    }

    @Test("the ABI constants Swift imports")
    func constants() {
        #expect(PIPELINE_ABI_MAJOR == 1)
        #expect(PIPELINE_ABI_MINOR == 6)
        #expect(ARROW_FLAG_NULLABLE == 2)
        #expect(PIPELINE_OK == 0 && PIPELINE_NOT_IMPLEMENTED == 8)
        #expect(PIPELINE_STEP_REENTRANT == 1 && PIPELINE_STEP_DETERMINISTIC == 2 && PIPELINE_STEP_USES_LLM == 4)
        #expect(PIPELINE_STEP_STATEFUL == 8 && PIPELINE_STEP_FILTERS == 16 && PIPELINE_STEP_USES_CREDENTIAL == 32)
        #expect(PIPELINE_STEP_CREDENTIAL_OPTIONAL == 64)
        #expect(PIPELINE_STEP_KIND_GENERATOR.rawValue == 1 && PIPELINE_STEP_KIND_GLOBAL.rawValue == 3)
    }
}
