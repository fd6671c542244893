/// The version of this host: in `pipeline --version`, the LLM client's
/// User-Agent, the run store's meta table and the plugin host table.
/// (`make install` reads it from this file.)
public enum PipelineVersion {
    public static let host = "0.1.0"
}
