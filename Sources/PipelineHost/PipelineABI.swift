import CPipelineABI
import PipelineBase

/// Versions of this host and of the plugin ABI it speaks.
public enum PipelineABI {
    public static let major = Int(PIPELINE_ABI_MAJOR)
    public static let minor = Int(PIPELINE_ABI_MINOR)
    public static let hostVersion = PipelineVersion.host
    public static let entrySymbol = PIPELINE_PLUGIN_ENTRY_SYMBOL
    /// The ABI versions a plugin may be built for: same major, minor up to ours.
    public static var supportedRange: String { "\(major).0–\(major).\(minor)" }
}
