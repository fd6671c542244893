import PipelineDefinition
import PipelineHost

/// What `pipeline run --preview` runs: the plan without the steps that
/// deliver data somewhere (a writer: an `output-path` parameter; a pusher:
/// a credential) and without what follows them, or, with `--step`, only
/// that step and the steps it reads from. Every kept step keeps the row id
/// tag it has in the whole pipeline, so the preview's rows (and the cache
/// keys of their LLM requests) are the full run's.
public struct PreviewPlan: Sendable {
    public var plan: PipelinePlan
    /// The steps whose output is shown: the named one, or every kept step
    /// no other kept step reads.
    public var shown: [String]
    /// Steps left out, each with why, in plan order.
    public var skipped: [(step: String, reason: String)]

    public init(_ full: PipelinePlan, step target: String?) throws(PreviewError) {
        let tags = Executor.rowIDTags(full)
        var steps = full.steps
        for index in steps.indices { steps[index].rowIDTag = tags[index] }
        var reasons: [String: String] = [:]
        for step in steps {
            if let delivery = Self.delivery(step) {
                reasons[step.name] = delivery
            } else if let parent = step.inputs.first(where: { reasons[$0] != nil }) {
                reasons[step.name] = "it reads \(parent), which is left out"
            }
        }
        if let target {
            guard let found = steps.first(where: { $0.name == target }) else {
                throw PreviewError("--step \(target): the pipeline has no such step; its steps: "
                                   + steps.map(\.name).joined(separator: ", "))
            }
            if let reason = reasons[found.name] {
                throw PreviewError("--step \(target) cannot be previewed: \(reason); preview a step before it")
            }
            // The step and its ancestors only.
            var needed: Set<String> = [target]
            for step in steps.reversed() where needed.contains(step.name) { needed.formUnion(step.inputs) }
            for step in steps where !needed.contains(step.name) && reasons[step.name] == nil {
                reasons[step.name] = "it comes after --step \(target)"
            }
        }
        let kept = steps.filter { reasons[$0.name] == nil }
        guard !kept.isEmpty else { throw PreviewError("every step of the pipeline delivers data somewhere: nothing to preview") }
        plan = full
        plan.steps = kept
        let read = Set(kept.flatMap(\.inputs))
        shown = target.map { [$0] } ?? kept.map(\.name).filter { !read.contains($0) }
        skipped = steps.compactMap { step in reasons[step.name].map { (step.name, $0) } }
    }

    /// Why a step's work leaves the process, if it does.
    static func delivery(_ step: PlannedStep) -> String? {
        if let credential = step.credential {
            return "it sends data with the credential \(credential) (\(step.descriptor.name))"
        }
        let properties = step.descriptor.parameterSchema["properties"]?.objectValue ?? [:]
        for (key, property) in properties.sorted(by: { $0.key < $1.key })
        where property["format"]?.stringValue == "output-path" && step.parameters[key] != nil {
            return "it writes \(key) (\(step.descriptor.name))"
        }
        return nil
    }
}

/// A preview that cannot be made.
public struct PreviewError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
