/// Why a Parquet file could not be read or written. The messages are
/// complete sentences' objects ("a SNAPPY page that does not decompress");
/// readers add the file, row group and column path where they know them.
public enum ParquetError: Error, Sendable, CustomStringConvertible {
    /// The bytes break the format: a bad magic, a length past the end, a bad
    /// Thrift field, a dictionary index past the dictionary.
    case corrupt(String)
    /// A valid file uses something this module does not read or write (an
    /// encoding, a codec, encryption, a type); the message names it.
    case unsupported(String)
    /// The file system failed.
    case io(String)
    /// Context added on the way up: "file.parquet: row group 2, column messages.list.element.role: ...".
    indirect case at(String, ParquetError)

    public var description: String {
        switch self {
        case .corrupt(let what): "corrupt Parquet: \(what)"
        case .unsupported(let what): "unsupported Parquet feature: \(what)"
        case .io(let what): what
        case .at(let place, let error): "\(place): \(error)"
        }
    }
}

/// `array.withUnsafeBytes` for a body that throws ParquetError (the
/// standard one rethrows untyped errors).
func withBytes<R>(_ array: [UInt8], _ body: (UnsafeRawBufferPointer) throws(ParquetError) -> R) throws(ParquetError) -> R {
    let result: Result<R, ParquetError> = array.withUnsafeBytes { raw in
        do throws(ParquetError) {
            return .success(try body(raw))
        } catch {
            return .failure(error)
        }
    }
    return try result.get()
}
