import Foundation
import Logging
import PipelineJSON
import PipelineLLMClient

/// The servers of one run (`llms: NAME: serve:`): one per distinct
/// `serve:`, shared by every LLM entry that has it. All are checked before
/// any starts (commands found, model files there, GPUs not over-committed),
/// then started at once; `start` returns when every one is ready, and
/// stops them all if one cannot be.
package final class ModelServers: @unchecked Sendable {
    private let servers: [ModelServer]
    private let byLLM: [String: ModelServer]
    private var stopped = false
    private let lock = NSLock()

    private init(servers: [ModelServer]) {
        self.servers = servers
        var byLLM: [String: ModelServer] = [:]
        for server in servers {
            for name in server.spec.llms { byLLM[name] = server }
        }
        self.byLLM = byLLM
    }

    deinit { stopAll() }

    /// The specs of the LLMs that have `serve:`, grouped by identical
    /// settings, in name order. Checks what can be checked before a start.
    package static func plan(_ llms: [String: JSONValue], environment: [String: String]) throws(ServeError) -> [ServeSpec] {
        var groups: [(key: String, names: [String], serve: JSONValue, models: [String])] = []
        for (name, settings) in llms.sorted(by: { $0.key < $1.key }) {
            guard let serve = settings["serve"], serve.objectValue != nil else { continue }
            let key = serve.serialized
            let model = settings["model"]?.stringValue ?? ""
            if let index = groups.firstIndex(where: { $0.key == key }) {
                groups[index].names.append(name)
                groups[index].models.append(model)
            } else {
                groups.append((key, [name], serve, [model]))
            }
        }
        var specs: [ServeSpec] = []
        var problems: [String] = []
        for group in groups {
            let spec = try ServeSpec(llms: group.names, serve: group.serve, models: group.models)
            if spec.modelIsFile, let model = spec.model, access(model, R_OK) != 0 {
                problems.append("\(spec.label): serve: the model file \(model) cannot be read: \(String(cString: strerror(errno)))")
            }
            do {
                _ = try spec.executable(environment: spec.childEnvironment(environment))
            } catch {
                problems.append(error.message)
            }
            specs.append(spec)
        }
        problems += GPUFit.problems(specs.map {
            GPUFit.Claim(label: $0.label, gpus: $0.gpus, memory: $0.gpuMemory, vllm: $0.kind == .vllm)
        })
        guard problems.isEmpty else { throw ServeError(problems.joined(separator: "\n")) }
        return specs
    }

    /// Starts the servers `llms` asks for (nil when none does); their
    /// output goes to RUN_DIR/servers/NAME.log. `stopRequested` is polled
    /// while waiting (a SIGINT during a long start); `onGiveUp` runs when a
    /// server is given up mid-run (the run should take no new rows).
    package static func start(_ llms: [String: JSONValue], runDirectory: String, environment: [String: String],
                              logger: Logger, stopRequested: @escaping @Sendable () -> Bool = { false },
                              onGiveUp: (@Sendable () -> Void)? = nil)
        throws(ServeError) -> ModelServers?
    {
        let specs = try plan(llms, environment: environment)
        guard !specs.isEmpty else { return nil }
        let directory = (runDirectory as NSString).appendingPathComponent("servers")
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ServeError("cannot create \(directory) for the servers' logs: \(error.localizedDescription)")
        }
        var servers: [ModelServer] = []
        for spec in specs {
            let childEnvironment = spec.childEnvironment(environment)
            servers.append(ModelServer(spec: spec, logPath: (directory as NSString).appendingPathComponent("\(spec.name).log"),
                                       executable: try spec.executable(environment: childEnvironment),
                                       environment: childEnvironment, logger: logger))
            servers.last?.onGiveUp = onGiveUp
        }
        let fleet = ModelServers(servers: servers)
        for server in servers {
            logger.info("starting the server of \(server.spec.label) (\(server.spec.kind.rawValue))")
            server.start()
        }
        // Every server ready, or the first failure.
        while true {
            let states = servers.map(\.currentState)
            if let failed = servers.first(where: { $0.currentState == .failed }) {
                let message = failed.failure ?? "\(failed.spec.label): its server could not start"
                fleet.stopAll()
                throw ServeError(message)
            }
            if states.allSatisfy({ $0 == .ready }) { return fleet }
            if stopRequested() {
                fleet.stopAll()
                throw ServeError("stopped while the servers (serve:) were starting")
            }
            usleep(50_000)
        }
    }

    /// The URL, the endpoint the client waits on, and what the response
    /// cache keys its answers by, for a served LLM.
    package func endpoint(for llm: String) -> (url: String, endpoint: any ServedEndpoint, cacheIdentity: String)? {
        guard let server = byLLM[llm] else { return nil }
        return (server.url, server, "serve:" + server.spec.key)
    }

    /// Why a server gave up mid-run (its restarts used up), or nil.
    package var failure: String? {
        servers.first { $0.currentState == .failed }.flatMap { server in server.failure.map { "\(server.spec.label): \($0)" } }
    }

    /// [thread-safe] Stops every server (in parallel) and waits for them.
    package func stopAll() {
        lock.lock()
        let first = !stopped
        stopped = true
        lock.unlock()
        guard first else { return }
        DispatchQueue.concurrentPerform(iterations: servers.count) { servers[$0].stop() }
    }

    /// For summary.json: what was served where, how long it took to be
    /// ready, how often it was restarted.
    package var summary: JSONValue {
        .array(servers.map { server in
            var object: [String: JSONValue] = [
                "llms": .array(server.spec.llms.map { .string($0) }),
                "kind": .string(server.spec.kind.rawValue),
                "command": .array(server.spec.arguments(port: server.port).map { .string($0) }),
                "url": .string(server.url),
                "log": .string(server.logPath),
                "restarts": .number(Double(server.restarts)),
            ]
            if let seconds = server.readySeconds { object["ready_seconds"] = .number((seconds * 1000).rounded() / 1000) }
            return .object(object)
        })
    }
}
