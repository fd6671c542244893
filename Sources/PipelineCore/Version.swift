public enum PipelineCoreVersion { public static let string = "0.1.0" }
