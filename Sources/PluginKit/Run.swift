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

    /// The run table when it reaches `field` (functions appended in 1.4).
    private func runService<T>(with field: KeyPath<pipeline_run_ext, T>) -> UnsafePointer<pipeline_run_ext>? {
        guard let service = runService, let offset = MemoryLayout<pipeline_run_ext>.offset(of: field),
              Int(service.pointee.struct_size) >= offset + MemoryLayout<UnsafeRawPointer>.size
        else { return nil }
        return service
    }

    /// [worker] Which of the step's inputs (`input:` order, from 0) the
    /// batch of this `process` call comes from; nil without one, where the
    /// host has no pipeline (`plugins try`), or on a host older than ABI 1.4.
    public var inputIndex: Int? {
        guard let index = runService(with: \.input_index)?.pointee.input_index?(call), index >= 0 else { return nil }
        return Int(index)
    }

    /// Tells the host how many rows the step expects to emit in all, for
    /// progress and an ETA (a generator's; ABI 1.5, nothing on older hosts).
    /// Call again to revise; the last figure wins, nil withdraws it. Say in
    /// the step's description whether it is exact or an estimate, and give
    /// the exact count when the data ends if it was an estimate. See
    /// pipeline_run_ext.expect_rows.
    public func expectRows(_ rows: Int?) {
        guard let expect = runService(with: \.expect_rows)?.pointee.expect_rows else { return }
        expect(call, rows.map { Int64(clamping: $0) } ?? -1)
    }

    /// The names of the step's inputs (the parent steps), in `input:`
    /// order; empty where the host has no pipeline or is older than ABI 1.4.
    public var inputNames: [String] {
        guard let service = runService(with: \.input_name), let count = service.pointee.input_count?(call),
              let name = service.pointee.input_name else { return [] }
        return (0..<max(0, count)).map { name(call, $0).map { String(cString: $0) } ?? "" }
    }
}
