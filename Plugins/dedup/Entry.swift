import PluginKit

// The dedup plugin: exact duplicates by a normalised-text hash
// (`dedup_exact`, ExactDedup.swift) and near duplicates by MinHash and LSH
// with an exact Jaccard check (`dedup_minhash`, MinHashDedup.swift).

@_cdecl("pipeline_plugin_entry")
public func pipelinePluginEntry(_ host: UnsafePointer<pipeline_host>?) -> UnsafePointer<pipeline_plugin>? {
    PluginExport.entry(
        host: host, name: "org.pipeline.dedup", version: "1.0.0",
        description: "Drop or mark duplicate rows: exact (normalised hash) and near (MinHash + LSH, Jaccard-checked).",
        steps: [ExactDedup.self, MinHashDedup.self])
}
