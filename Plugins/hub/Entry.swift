import PluginKit

// The Hugging Face Hub: push_to_hub, its upload protocol (HubClient) and
// the hashes the Hub names files by (SHA). The rows are encoded by
// PluginJSONLines, the same code as write_jsonl's; retries follow
// PipelineRetry, the host LLM client's policy.

@_cdecl("pipeline_plugin_entry")
public func pipelinePluginEntry(_ host: UnsafePointer<pipeline_host>?) -> UnsafePointer<pipeline_plugin>? {
    PluginExport.entry(
        host: host, name: "org.pipeline.hub", version: "1.0.0",
        description: "Push rows to a dataset repository on the Hugging Face Hub while the run goes on.",
        // perform_authenticated (the host adds the token) came with 1.3.
        abiMinor: 3, steps: [PushToHub.self])
}
