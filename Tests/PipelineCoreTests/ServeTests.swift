import Foundation
import Testing

@testable import PipelineJSON
@testable import PipelineServe

/// `llms: NAME: serve:`: the host starts, shares, restarts and stops local
/// model servers. Real processes throughout: the built `pipeline` runs
/// pipelines whose servers are the built llm-test-server (directly, through
/// `sh -c` to learn its pid, or behind a fake `vllm` on PATH).
@Suite("serve: local model servers", .serialized)
struct ServeTests {
    private var binary: String { Fixtures.pipelineBinary }
    private var testServer: String { Fixtures.buildDirectory.appendingPathComponent("llm-test-server").path }

    private func requireBuilt() throws {
        try Fixtures.requireBuiltPipeline()
        try #require(FileManager.default.fileExists(atPath: testServer), "\(testServer) is missing: swift build --product llm-test-server")
    }

    /// A textgen pipeline over `rows` rows; `llms` is the YAML of the
    /// `llms:` entries (indented by 2), `second` adds a step on LLM "b".
    private func pipeline(in directory: URL, llms: String, rows: Int = 6, second: Bool = false) throws -> String {
        let file = directory.appendingPathComponent("p.yaml").path
        let instructions = (0..<rows).map { "{instruction: \"question \($0)\"}" }.joined(separator: ", ")
        var text = """
            name: served
            llms:
            \(llms)
            steps:
              - name: load
                uses: load_inline
                with: {batch_size: 2, rows: [\(instructions)]}
              - name: gen
                uses: text_generation
                llm: a
                input: load

            """
        var last = "gen"
        if second {
            text += """
                  - name: gen2
                    uses: text_generation
                    llm: b
                    input: gen
                    with: {output_column: g2, model_name_column: m2, finish_reason_column: f2, reasoning_column: r2}

                """
            last = "gen2"
        }
        text += """
              - name: save
                uses: write_jsonl
                input: \(last)
                with: {path: out.jsonl}

            """
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    /// A JSON array (valid YAML) of strings.
    private func list(_ items: [String]) -> String { JSONValue.array(items.map { .string($0) }).serialized }

    /// `sh -c SCRIPT sh {port}`: the script sees the port as $1.
    private func shell(_ script: String) -> String { list(["/bin/sh", "-c", script, "sh", "{port}"]) }

    private func run(_ file: String, _ directory: URL, environment: [String: String]? = nil) throws -> (status: Int32, output: String) {
        try Spawned(binary, ["run", file, "--run-dir", directory.appendingPathComponent("run").path, "--log-format", "json",
                             "--no-llm-cache"], environment: environment).wait()
    }

    private func lines(_ path: String) throws -> [JSONValue] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        return try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { try JSONValue(parsing: String($0)) }
    }

    private func summary(_ directory: URL) throws -> JSONValue {
        try JSONValue(parsing: String(contentsOfFile: directory.appendingPathComponent("run/summary.json").path, encoding: .utf8))
    }

    private func pids(_ path: String) -> [pid_t] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { pid_t($0) }
    }

    /// Gone: no such process, or a zombie nobody reaped yet.
    private func isGone(_ pid: pid_t) -> Bool {
        if Glibc.kill(pid, 0) != 0 && errno == ESRCH { return true }
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        guard let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }

    /// Waits (up to a minute: the machine is shared) for `pid` to be gone.
    private func waitGone(_ pid: pid_t) -> Bool {
        for _ in 0..<600 {
            if isGone(pid) { return true }
            usleep(100_000)
        }
        return false
    }

    private func waitFor(_ what: () -> Bool) -> Bool {
        for _ in 0..<1200 {
            if what() { return true }
            usleep(50_000)
        }
        return false
    }

    // MARK: Serving, sharing, stopping

    @Test func twoLLMsWithTheSameServeShareOneServerThatIsGoneAtTheEnd() throws {
        try requireBuilt()
        let directory = try Fixtures.emptyDirectory("serve-shared")
        let pidFile = directory.appendingPathComponent("pids").path
        let command = shell("echo $$ >> \(pidFile); exec \(testServer) --port \"$1\" --latency-ms 5")
        let file = try pipeline(in: directory, llms: """
              a: {model: test-chat, serve: {command: \(command)}}
              b: {model: test-chat, serve: {command: \(command)}}
            """, second: true)
        let result = try run(file, directory)
        #expect(result.status == 0, "\(result.output)")
        let output = try lines(directory.appendingPathComponent("run/out.jsonl").path)
        #expect(output.count == 6)
        #expect(output.allSatisfy { $0["generation"]?.stringValue?.isEmpty == false && $0["g2"]?.stringValue?.isEmpty == false })
        let started = pids(pidFile)
        #expect(started.count == 1, "one server for both LLMs")
        let servers = try #require(try summary(directory)["servers"]?.arrayValue)
        #expect(servers.count == 1)
        #expect(servers.first?["llms"] == .array([.string("a"), .string("b")]))
        #expect(servers.first?["url"]?.stringValue?.hasPrefix("http://127.0.0.1:") == true)
        #expect(servers.first?["ready_seconds"]?.doubleValue != nil)
        #expect(result.output.contains("serving llms \\\"a\\\", \\\"b\\\": command at http://127.0.0.1:"), "\(result.output)")
        let log = try String(contentsOfFile: directory.appendingPathComponent("run/servers/a.log").path, encoding: .utf8)
        #expect(log.contains("llm-test-server listening on"))
        for pid in started { #expect(isGone(pid), "server \(pid) still running after the run") }
    }

    /// The vLLM preset's command line and environment, through a fake
    /// `vllm` on PATH that records them and runs llm-test-server. It also
    /// starts slowly: /health answers 503 "Loading model" for 1.5 s while
    /// /v1/models answers 200, so requests sent on /v1/models' word would
    /// meet 503s (retries: 0 makes any of them a row error).
    @Test func vllmPresetCommandLineGPUsAndHealthReadiness() throws {
        try requireBuilt()
        let directory = try Fixtures.emptyDirectory("serve-vllm")
        let bin = directory.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let record = directory.appendingPathComponent("argv").path
        let fake = bin.appendingPathComponent("vllm").path
        try """
            #!/bin/sh
            printf '%s\\n' "$@" > "\(record)"
            echo "CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES" >> "\(record)"
            port=; previous=
            for argument in "$@"; do [ "$previous" = "--port" ] && port=$argument; previous=$argument; done
            exec "\(testServer)" --port "$port" --loading-ms 1500

            """.write(toFile: fake, atomically: true, encoding: .utf8)
        chmod(fake, 0o755)
        let file = try pipeline(in: directory, llms: """
              a: {model: test-chat, retries: 0,
                  serve: {preset: vllm, model: org/some-model, gpus: [1, 2], gpu_memory: 0.45, args: ["--max-model-len", "512"]}}
            """)
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = bin.path + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
        let result = try run(file, directory, environment: environment)
        #expect(result.status == 0, "\(result.output)")
        #expect(try lines(directory.appendingPathComponent("run/out.jsonl").path).count == 6)
        let recorded = try String(contentsOfFile: record, encoding: .utf8).split(separator: "\n").map(String.init)
        let port = try #require(recorded.firstIndex(of: "--port").map { recorded[$0 + 1] })
        #expect(recorded == ["serve", "org/some-model", "--host", "127.0.0.1", "--port", port, "--gpu-memory-utilization", "0.45",
                             "--served-model-name", "test-chat", "--max-model-len", "512", "CUDA_VISIBLE_DEVICES=1,2"])
        // No request met the loading server.
        for entry in try lines(directory.appendingPathComponent("run/llm-io.jsonl").path) {
            #expect(entry["status"]?.doubleValue == 200, "\(entry.serialized)")
        }
        let servers = try #require(try summary(directory)["servers"]?.arrayValue)
        #expect((servers.first?["ready_seconds"]?.doubleValue ?? 0) >= 1.5)
    }

    @Test func serverKilledMidRunIsRestartedAndEveryRowAnswered() throws {
        try requireBuilt()
        let directory = try Fixtures.emptyDirectory("serve-restart")
        let pidFile = directory.appendingPathComponent("pids").path
        let command = shell("echo $$ >> \(pidFile); exec \(testServer) --port \"$1\" --latency-ms 150")
        // retries: 0: the requests the dead server lost are sent again
        // without spending a retry, or they would be row errors.
        let rows = 40
        let file = try pipeline(in: directory, llms: """
              a: {model: test-chat, retries: 0, max_concurrency: 4, serve: {command: \(command)}}
            """, rows: rows)
        let host = try Spawned(binary, ["run", file, "--run-dir", directory.appendingPathComponent("run").path,
                                        "--log-format", "json", "--no-llm-cache"])
        let io = directory.appendingPathComponent("run/llm-io.jsonl").path
        #expect(waitFor { ((try? lines(io)) ?? []).count >= 8 }, "\(host.output)")
        let first = try #require(pids(pidFile).first)
        Glibc.kill(first, SIGKILL)
        let result = host.wait()
        #expect(result.status == 0, "\(result.output)")
        let output = try lines(directory.appendingPathComponent("run/out.jsonl").path)
        #expect(output.count == rows)
        #expect(output.allSatisfy { $0["generation"]?.stringValue?.isEmpty == false })
        #expect(try lines(directory.appendingPathComponent("run/errors.jsonl").path).isEmpty)
        #expect(pids(pidFile).count == 2, "restarted once")
        #expect(try summary(directory)["servers"]?.arrayValue?.first?["restarts"]?.doubleValue == 1)
        #expect(result.output.contains("restart 1 of 3"), "\(result.output)")
        for pid in pids(pidFile) { #expect(waitGone(pid)) }
    }

    /// A server that keeps dying is given up after three restarts: the run
    /// fails (exit 1) saying so, and nothing is left running.
    @Test func aServerThatKeepsDyingIsGivenUpAfterThreeRestarts() throws {
        try requireBuilt()
        let directory = try Fixtures.emptyDirectory("serve-give-up")
        let pidFile = directory.appendingPathComponent("pids").path
        let command = shell("echo $$ >> \(pidFile); (sleep 0.5; kill -9 $$) & exec \(testServer) --port \"$1\" --latency-ms 100")
        let file = try pipeline(in: directory, llms: """
              a: {model: test-chat, max_concurrency: 1, serve: {command: \(command)}}
            """, rows: 200)
        let result = try run(file, directory)
        #expect(result.status == 1, "\(result.output)")
        #expect(result.output.contains("was already restarted 3 times: giving up"), "\(result.output)")
        // The run took no new rows after that: most are neither answered nor errors.
        #expect((try summary(directory)["row_errors"]?.doubleValue ?? 200) < 50)
        let started = pids(pidFile)
        #expect(started.count == 4)
        for pid in started { #expect(waitGone(pid)) }
    }

    @Test func killMinus9OfTheHostLeavesNoServerAndTheResumedRunStartsItAgain() throws {
        try requireBuilt()
        let directory = try Fixtures.emptyDirectory("serve-kill9")
        let pidFile = directory.appendingPathComponent("pids").path
        let command = shell("echo $$ >> \(pidFile); exec \(testServer) --port \"$1\" --latency-ms 200")
        let file = try pipeline(in: directory, llms: """
              a: {model: test-chat, max_concurrency: 1, serve: {command: \(command)}}
            """, rows: 30)
        let host = try Spawned(binary, ["run", file, "--run-dir", directory.appendingPathComponent("run").path,
                                        "--log-format", "json", "--no-llm-cache"])
        let io = directory.appendingPathComponent("run/llm-io.jsonl").path
        #expect(waitFor { ((try? lines(io)) ?? []).count >= 2 }, "\(host.output)")
        let server = try #require(pids(pidFile).first)
        #expect(!isGone(server))
        host.kill(SIGKILL)
        _ = host.wait()
        #expect(waitGone(server), "server \(server) outlived the host")

        let resumed = try run(file, directory)
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(try lines(directory.appendingPathComponent("run/out.jsonl").path).count == 30)
        let all = pids(pidFile)
        #expect(all.count == 2, "the resumed run started its own server")
        for pid in all { #expect(waitGone(pid)) }
    }

    /// SIGTERM to the host: the run stops (exit 5) and has stopped its
    /// server before it exits (no watchdog needed).
    @Test func sigtermOfTheHostStopsTheServerBeforeItExits() throws {
        try requireBuilt()
        let directory = try Fixtures.emptyDirectory("serve-sigterm")
        let pidFile = directory.appendingPathComponent("pids").path
        let command = shell("echo $$ >> \(pidFile); exec \(testServer) --port \"$1\" --latency-ms 200")
        let file = try pipeline(in: directory, llms: """
              a: {model: test-chat, max_concurrency: 1, serve: {command: \(command)}}
            """, rows: 30)
        let host = try Spawned(binary, ["run", file, "--run-dir", directory.appendingPathComponent("run").path,
                                        "--log-format", "json", "--no-llm-cache"])
        let io = directory.appendingPathComponent("run/llm-io.jsonl").path
        #expect(waitFor { ((try? lines(io)) ?? []).count >= 2 }, "\(host.output)")
        let server = try #require(pids(pidFile).first)
        host.kill(SIGTERM)
        let result = host.wait()
        #expect(result.status == 5, "\(result.output)")
        #expect(isGone(server), "the host exited before its server")
    }

    /// Only the LLMs a step uses get a server (an entry no step names, or a
    /// preview of part of the pipeline, starts nothing more).
    @Test func anLLMNoStepUsesStartsNoServer() throws {
        try requireBuilt()
        let directory = try Fixtures.emptyDirectory("serve-unused")
        let file = try pipeline(in: directory, llms: """
              a: {model: test-chat, serve: {command: \(list([testServer, "--port", "{port}"]))}}
              unused: {model: m, serve: {command: ["no-such-server-here", "{port}"]}}
            """)
        let result = try run(file, directory)
        #expect(result.status == 0, "\(result.output)")
        #expect(try summary(directory)["servers"]?.arrayValue?.count == 1)
    }

    // MARK: Bad set-ups: exit 1, the LLM named, nothing left running

    private func expectFailure(_ llms: String, _ fragments: [String], environment: [String: String]? = nil,
                               pidFile: String? = nil, second: Bool = false) throws {
        try requireBuilt()
        let directory = try Fixtures.emptyDirectory("serve-bad")
        let file = try pipeline(in: directory, llms: llms, second: second)
        let result = try run(file, directory, environment: environment)
        #expect(result.status == 1, "\(result.output)")
        for fragment in fragments { #expect(result.output.contains(fragment), "\(fragment) not in \(result.output)") }
        if let pidFile {
            let started = pids(pidFile)
            #expect(!started.isEmpty)
            for pid in started { #expect(isGone(pid), "\(pid) left running") }
        }
    }

    @Test func commandNotFound() throws {
        try expectFailure("""
              a: {model: m, serve: {command: ["no-such-server-here", "--port", "{port}"]}}
            """, ["llm \\\"a\\\"", "command \\\"no-such-server-here\\\" not found on PATH"])
    }

    @Test func neverReadyNamesTheLLMAndShowsTheLogAndLeavesNothing() throws {
        let directory = try Fixtures.emptyDirectory("serve-never")
        let pidFile = directory.appendingPathComponent("pids").path
        try expectFailure("""
              a: {model: m, serve: {command: \(shell("echo $$ >> \(pidFile); echo still loading the weights; exec sleep 600")),
                                   startup_timeout_seconds: 1}}
            """, ["llm \\\"a\\\"", "was not ready after 1 s", "still loading the weights"], pidFile: pidFile)
    }

    @Test func exitsBeforeReady() throws {
        try expectFailure("""
              a: {model: m, serve: {command: \(shell("echo the model is broken >&2; exit 3"))}}
            """, ["llm \\\"a\\\"", "exited with status 3 before it was ready", "the model is broken"])
    }

    @Test func missingModelFile() throws {
        try expectFailure("""
              a: {model: m, serve: {preset: llama-cpp-python, executable: /bin/true, model: /nonexistent/tiny.gguf}}
            """, ["llm \\\"a\\\"", "the model file /nonexistent/tiny.gguf cannot be read"])
    }

    @Test func gpuOvercommitFailsBeforeAnyServerStarts() throws {
        let directory = try Fixtures.emptyDirectory("serve-gpu")
        let pidFile = directory.appendingPathComponent("pids").path
        let command = shell("echo $$ >> \(pidFile); exec \(testServer) --port \"$1\"")
        try expectFailure("""
              a: {model: m, serve: {preset: vllm, executable: /bin/true, model: x, gpus: [0]}}
              b: {model: m, serve: {command: \(command), gpus: [0, 1], gpu_memory: 0.3}}
            """, ["GPU 0 is shared by llm \\\"a\\\" (vLLM without gpu_memory: takes 0.9 of it) and llm \\\"b\\\""], second: true)
        #expect(pids(pidFile).isEmpty, "no server started")
    }

    /// The first start says its port is taken (as a server that lost the
    /// race for it does); the host tries another port.
    @Test func portTakenMeanwhileIsRetriedOnAnotherPort() throws {
        try requireBuilt()
        let directory = try Fixtures.emptyDirectory("serve-port")
        let marker = directory.appendingPathComponent("tried").path
        let command = shell("""
            if [ ! -e \(marker) ]; then touch \(marker); echo "error: bind: Address already in use" >&2; exit 1; fi; \
            exec \(testServer) --port "$1"
            """)
        let file = try pipeline(in: directory, llms: "  a: {model: test-chat, serve: {command: \(command)}}")
        let result = try run(file, directory)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("was taken before the server bound it; trying another"), "\(result.output)")
    }

    @Test func baseURLAndServeTogetherIsAValidationError() throws {
        try requireBuilt()
        let directory = try Fixtures.emptyDirectory("serve-validate")
        let file = try pipeline(in: directory, llms: """
              a: {model: m, base_url: "http://127.0.0.1:1/v1", serve: {command: ["x"]}}
            """)
        let result = try run(file, directory)
        #expect(result.status == 2, "\(result.output)")
        #expect(result.output.contains("give base_url or serve:, not both"))
        #expect(result.output.contains("serve.command: must contain {port}"))
    }

    // MARK: Pure parts

    @Test func gpuFit() {
        let claim = { (label: String, gpus: [Int], memory: Double?, vllm: Bool) in
            GPUFit.Claim(label: label, gpus: gpus, memory: memory, vllm: vllm)
        }
        #expect(GPUFit.problems([claim("a", [0], nil, true), claim("b", [1], nil, true)]).isEmpty)
        #expect(GPUFit.problems([claim("a", [0], 0.5, true), claim("b", [0], 0.5, false)]).isEmpty)
        #expect(GPUFit.problems([claim("a", [0, 1], 0.6, true), claim("b", [1], 0.5, true)])
                == ["GPU 1 is shared by a (gpu_memory 0.6) and b (gpu_memory 0.5): their gpu_memory adds up to 1.10, more than the whole GPU (1)"])
        #expect(GPUFit.problems([claim("a", [0], 0.5, false), claim("b", [0], nil, false)]).count == 1)
        #expect(GPUFit.problems([claim("a", [], nil, true), claim("b", [], nil, true)]).isEmpty)
    }

    @Test func presetsCommandLines() throws {
        let llama = try ServeSpec(llms: ["a"], serve: try JSONValue(parsing: #"{"preset": "llama-server", "model": "/m.gguf", "args": ["-c", "2048"]}"#),
                                  models: ["x"])
        #expect(llama.arguments(port: 9) == ["llama-server", "-m", "/m.gguf", "--host", "127.0.0.1", "--port", "9", "-c", "2048"])
        #expect(llama.readyPath == "/health")
        let python = try ServeSpec(llms: ["a"], serve: try JSONValue(parsing: #"{"preset": "llama-cpp-python", "model": "/m.gguf", "executable": "/v/bin/python"}"#),
                                   models: ["x"])
        #expect(python.arguments(port: 9) == ["/v/bin/python", "-m", "llama_cpp.server", "--model", "/m.gguf", "--host", "127.0.0.1",
                                              "--port", "9", "--interrupt_requests", "false"])
        #expect(python.readyPath == "/v1/models")
        #expect(python.childEnvironment(["HOST": "0.0.0.0", "PORT": "1", "A": "b"]) == ["A": "b"])
        let generic = try ServeSpec(llms: ["a"], serve: try JSONValue(parsing: #"{"command": ["srv", "--port={port}", "{model}"], "model": "m", "ready_path": "/ok"}"#),
                                    models: ["x"])
        #expect(generic.arguments(port: 9) == ["srv", "--port=9", "m"])
        #expect(generic.readyPath == "/ok")
    }
}
