import PluginKit

// LLM steps: each sends its requests through the host's shared client for
// the step's `llm:`; they never see a URL or an API key.

@_cdecl("pipeline_plugin_entry")
public func pipelinePluginEntry(_ host: UnsafePointer<pipeline_host>?) -> UnsafePointer<pipeline_plugin>? {
    PluginExport.entry(
        host: host, name: "org.pipeline.llm", version: "1.0.0",
        description: "Steps that call language models through the host's LLM service.",
        steps: [TextGeneration.self, StructuredGeneration.self, Embeddings.self, EvolInstruct.self, ComplexityScorer.self, EvolQuality.self, QualityScorer.self, Judge.self])
}
