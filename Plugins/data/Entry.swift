import PluginKit

// Data steps: loaders, writers and row plumbing. Each step is one file.

@_cdecl("pipeline_plugin_entry")
public func pipelinePluginEntry(_ host: UnsafePointer<pipeline_host>?) -> UnsafePointer<pipeline_plugin>? {
    PluginExport.entry(
        host: host, name: "org.pipeline.data", version: "1.0.0",
        description: "Load, write, expand, limit and sample rows.",
        steps: [LoadJSONL.self, LoadCSV.self, LoadInline.self, LoadParquet.self, LoadFromHub.self, LoadLLMIO.self, WriteJSONL.self, WriteParquet.self, ExpandColumns.self, Limit.self,
                Sample.self])
}
