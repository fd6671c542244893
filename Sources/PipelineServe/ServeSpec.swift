import Foundation
import PipelineJSON

/// Why a served LLM could not be set up or kept running. The message
/// names the LLM.
package struct ServeError: Error, CustomStringConvertible, Sendable {
    package let message: String
    package init(_ message: String) { self.message = message }
    package var description: String { message }
}

/// One `serve:` of the pipeline, resolved: what to run, with which
/// environment, and how to tell it is ready. LLM entries whose `serve:` are
/// identical share one server; `llms` names them all.
package struct ServeSpec: Sendable {
    package enum Kind: String, Sendable {
        case llamaServer = "llama-server"
        case llamaCppPython = "llama-cpp-python"
        case vllm
        case command
    }

    package var llms: [String]
    package var kind: Kind
    /// argv with `{port}` and `{model}` still in it.
    package var template: [String]
    package var model: String?
    package var gpus: [Int]
    package var gpuMemory: Double?
    package var startupTimeout: Double
    package var readyPath: String
    /// Set in the server's environment (over the host's).
    package var environment: [String: String]
    /// Removed from the server's environment.
    package var unset: [String]
    /// The canonical `serve:` text: what sharing and the response cache go by.
    package var key: String

    /// The name the log file and messages use: the first LLM's.
    package var name: String { llms.first ?? "server" }
    package var label: String {
        llms.count == 1 ? "llm \"\(name)\"" : "llms " + llms.map { "\"\($0)\"" }.joined(separator: ", ")
    }

    /// `serve` is the validated object; `models` the `model:` of the LLM
    /// entries that share it (vLLM answers to those names).
    package init(llms: [String], serve: JSONValue, models: [String]) throws(ServeError) {
        self.llms = llms
        key = serve.serialized
        let label = llms.count == 1 ? "llm \"\(llms[0])\"" : "llms " + llms.map { "\"\($0)\"" }.joined(separator: ", ")
        model = serve["model"]?.stringValue
        gpus = (serve["gpus"]?.arrayValue ?? []).compactMap { $0.int64Value.map(Int.init) }
        gpuMemory = serve["gpu_memory"]?.doubleValue
        startupTimeout = serve["startup_timeout_seconds"]?.doubleValue ?? 600
        environment = (serve["env"]?.objectValue ?? [:]).compactMapValues(\.stringValue)
        unset = []
        let args = (serve["args"]?.arrayValue ?? []).compactMap(\.stringValue)
        let executable = serve["executable"]?.stringValue
        if let preset = serve["preset"]?.stringValue {
            guard let kind = Kind(rawValue: preset), kind != .command else {
                throw ServeError("\(label): serve: unknown preset \"\(preset)\"")
            }
            self.kind = kind
            switch kind {
            case .llamaServer:
                // /v1/models answers 200 while the model loads; /health waits for it.
                template = [executable ?? "llama-server", "-m", "{model}", "--host", "127.0.0.1", "--port", "{port}"] + args
                readyPath = "/health"
            case .llamaCppPython:
                // No /health; it binds only once the model is loaded. HOST and
                // PORT in its environment would win over the flags. It
                // serves one request at a time; a waiting request must not
                // cut a streamed one short.
                template = [executable ?? "python3", "-m", "llama_cpp.server", "--model", "{model}", "--host", "127.0.0.1",
                            "--port", "{port}", "--interrupt_requests", "false"] + args
                readyPath = "/v1/models"
                unset = ["HOST", "PORT"]
            case .vllm:
                var argv = [executable ?? "vllm", "serve", "{model}", "--host", "127.0.0.1", "--port", "{port}"]
                if let gpuMemory { argv += ["--gpu-memory-utilization", String(gpuMemory)] }
                var names: [String] = []
                for name in models where !names.contains(name) { names.append(name) }
                if !names.isEmpty { argv += ["--served-model-name"] + names }
                template = argv + args
                readyPath = "/health"
            case .command:
                template = []
                readyPath = "/v1/models"
            }
        } else {
            kind = .command
            template = (serve["command"]?.arrayValue ?? []).compactMap(\.stringValue) + args
            guard !template.isEmpty else { throw ServeError("\(label): serve: give preset: or command:") }
            readyPath = "/v1/models"
        }
        if let path = serve["ready_path"]?.stringValue { readyPath = path }
        if !gpus.isEmpty { environment["CUDA_VISIBLE_DEVICES"] = gpus.map(String.init).joined(separator: ",") }
    }

    /// The command line for a server on `port`.
    package func arguments(port: Int) -> [String] {
        template.map { $0.replacingOccurrences(of: "{port}", with: String(port)).replacingOccurrences(of: "{model}", with: model ?? "") }
    }

    /// The llama presets read a GGUF file; others may name a model id.
    var modelIsFile: Bool {
        guard let model else { return false }
        return kind == .llamaServer || kind == .llamaCppPython || model.hasPrefix("/")
    }

    /// The server's environment: the host's, less `unset`, plus `environment`.
    package func childEnvironment(_ host: [String: String]) -> [String: String] {
        var result = host
        for name in unset { result[name] = nil }
        for (name, value) in environment { result[name] = value }
        return result
    }

    /// The executable argv[0] names: a path as given, else looked up in the
    /// server's PATH.
    package func executable(environment: [String: String]) throws(ServeError) -> String {
        guard let program = template.first else { throw ServeError("\(label): serve: the command is empty") }
        if program.contains("/") {
            guard access(program, X_OK) == 0 else {
                throw ServeError("\(label): serve: cannot run \(program): \(String(cString: strerror(errno)))")
            }
            return program
        }
        let path = environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":", omittingEmptySubsequences: true) {
            let candidate = "\(directory)/\(program)"
            var info = stat()
            if stat(candidate, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        var hint = ""
        switch kind {
        case .llamaServer: hint = " (install llama.cpp, or give serve.executable: its path)"
        case .llamaCppPython: hint = " (give serve.executable: the python of a venv with llama-cpp-python[server])"
        case .vllm: hint = " (pip install vllm, or give serve.executable: its path)"
        case .command: break
        }
        throw ServeError("\(label): serve: command \"\(program)\" not found on PATH\(hint)")
    }
}

/// Whether servers that share GPUs can all fit: on a GPU two or more
/// servers use, each must say its share (`gpu_memory:`) and the shares must
/// add up to at most 1. vLLM without `gpu_memory` takes 0.9 of each GPU.
package enum GPUFit {
    package struct Claim: Sendable {
        package var label: String
        package var gpus: [Int]
        package var memory: Double?
        package var vllm: Bool
        package init(label: String, gpus: [Int], memory: Double?, vllm: Bool) {
            self.label = label
            self.gpus = gpus
            self.memory = memory
            self.vllm = vllm
        }
    }

    /// One message per GPU that is over-committed.
    package static func problems(_ claims: [Claim]) -> [String] {
        var byGPU: [Int: [Claim]] = [:]
        for claim in claims {
            for gpu in Set(claim.gpus) { byGPU[gpu, default: []].append(claim) }
        }
        var messages: [String] = []
        for (gpu, sharing) in byGPU.sorted(by: { $0.key < $1.key }) where sharing.count > 1 {
            let described = sharing.map { claim in
                if let memory = claim.memory { return "\(claim.label) (gpu_memory \(memory))" }
                return claim.vllm ? "\(claim.label) (vLLM without gpu_memory: takes 0.9 of it)" : "\(claim.label) (no gpu_memory)"
            }.joined(separator: " and ")
            if sharing.contains(where: { $0.memory == nil }) {
                messages.append("GPU \(gpu) is shared by \(described): cannot both fit; give each a gpu_memory: "
                                + "(a fraction of the GPU) adding up to at most 1, or give them different gpus:")
            } else {
                let total = sharing.reduce(0) { $0 + ($1.memory ?? 0) }
                if total > 1 + 1e-9 {
                    messages.append("GPU \(gpu) is shared by \(described): their gpu_memory adds up to "
                                    + "\(String(format: "%.2f", total)), more than the whole GPU (1)")
                }
            }
        }
        return messages
    }
}
