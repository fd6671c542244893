#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// "pipeline.run/1" (ABI 1.1): the step's durable state and what the run is.
extension StepContext {
    private var runService: UnsafePointer<pipeline_run_ext>? {
        host.pointee.get_extension(host, PIPELINE_EXT_RUN)?.assumingMemoryBound(to: pipeline_run_ext.self)
    }

    private func service() throws(StepError) -> UnsafePointer<pipeline_run_ext> {
        guard let service = runService else { throw .internal("this host offers no run service (pipeline.run/1)") }
        return service
    }

    /// The value this step stored under `key` in this run (or the run it
    /// resumes), or nil.
    public func state(_ key: String) throws(StepError) -> [UInt8]? {
        let service = try service()
        var value: UnsafeMutableRawPointer?
        var length = 0
        let status = service.pointee.state_get(call, key, &value, &length)
        if status == pipeline_status(PIPELINE_NOT_IMPLEMENTED) { return nil }
        guard status == pipeline_status(PIPELINE_OK) else { throw StepError(status: status, "cannot read the step's state \"\(key)\"") }
        defer { service.pointee.release_value(value) }
        guard let value else { return [] }
        return Array(UnsafeRawBufferPointer(start: value, count: length))
    }

    /// [worker] Stores `value` under `key`, durably, together with all the
    /// run committed before (see pipeline_run_ext.state_put).
    public func setState(_ key: String, _ value: [UInt8]) throws(StepError) {
        let service = try service()
        let status = value.withUnsafeBytes { service.pointee.state_put(call, key, $0.baseAddress, $0.count) }
        guard status == pipeline_status(PIPELINE_OK) else { throw StepError(status: status, "cannot store the step's state \"\(key)\"") }
    }

    /// The run's id: the same across resumes, new after --fresh.
    public var runID: String {
        runService.flatMap { $0.pointee.run_id(call) }.map { String(cString: $0) } ?? ""
    }

    public var pipelineName: String {
        runService.flatMap { $0.pointee.pipeline_name(call) }.map { String(cString: $0) } ?? ""
    }

    /// The pipeline file's text with secret values redacted.
    public var pipelineText: String {
        runService.flatMap { $0.pointee.pipeline_text(call) }.map { String(cString: $0) } ?? ""
    }
}
