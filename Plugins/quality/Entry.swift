import PluginKit

// PipelineQuality: checks of distilled answers (quality_filter), of their
// correctness (verify_answer, verify_http) and of their prompts against an
// evaluation set (decontaminate).

@_cdecl("pipeline_plugin_entry")
public func pipelinePluginEntry(_ host: UnsafePointer<pipeline_host>?) -> UnsafePointer<pipeline_plugin>? {
    PluginExport.entry(
        host: host, name: "org.pipeline.quality", version: "1.0.0",
        description: "Quality, correctness and contamination checks of distilled data.",
        steps: [QualityFilter.self, VerifyAnswer.self, Decontaminate.self, VerifyHTTP.self])
}
