// The enumerations of parquet.thrift (apache/parquet-format) this module
// reads and writes, with their wire values. A value read from a file that is
// not listed here is kept as `.unknown(n)` so the error can name it.

/// A leaf column's physical type (`Type` in parquet.thrift).
public enum PhysicalType: Hashable, Sendable {
    case boolean, int32, int64, int96, float, double, byteArray, fixedLenByteArray
    case unknown(Int32)

    public init(wire: Int32) {
        switch wire {
        case 0: self = .boolean
        case 1: self = .int32
        case 2: self = .int64
        case 3: self = .int96
        case 4: self = .float
        case 5: self = .double
        case 6: self = .byteArray
        case 7: self = .fixedLenByteArray
        default: self = .unknown(wire)
        }
    }

    public var wire: Int32 {
        switch self {
        case .boolean: 0
        case .int32: 1
        case .int64: 2
        case .int96: 3
        case .float: 4
        case .double: 5
        case .byteArray: 6
        case .fixedLenByteArray: 7
        case .unknown(let n): n
        }
    }

    public var name: String {
        switch self {
        case .boolean: "BOOLEAN"
        case .int32: "INT32"
        case .int64: "INT64"
        case .int96: "INT96"
        case .float: "FLOAT"
        case .double: "DOUBLE"
        case .byteArray: "BYTE_ARRAY"
        case .fixedLenByteArray: "FIXED_LEN_BYTE_ARRAY"
        case .unknown(let n): "type \(n)"
        }
    }
}

/// `FieldRepetitionType`.
public enum Repetition: Int32, Sendable {
    case required = 0, optional = 1, repeated = 2
}

/// `Encoding`: of values, levels and dictionary pages.
public enum Encoding: Hashable, Sendable {
    case plain, plainDictionary, rle, bitPacked, deltaBinaryPacked, deltaLengthByteArray
    case deltaByteArray, rleDictionary, byteStreamSplit
    case unknown(Int32)

    public init(wire: Int32) {
        switch wire {
        case 0: self = .plain
        case 2: self = .plainDictionary
        case 3: self = .rle
        case 4: self = .bitPacked
        case 5: self = .deltaBinaryPacked
        case 6: self = .deltaLengthByteArray
        case 7: self = .deltaByteArray
        case 8: self = .rleDictionary
        case 9: self = .byteStreamSplit
        default: self = .unknown(wire)
        }
    }

    public var wire: Int32 {
        switch self {
        case .plain: 0
        case .plainDictionary: 2
        case .rle: 3
        case .bitPacked: 4
        case .deltaBinaryPacked: 5
        case .deltaLengthByteArray: 6
        case .deltaByteArray: 7
        case .rleDictionary: 8
        case .byteStreamSplit: 9
        case .unknown(let n): n
        }
    }

    public var name: String {
        switch self {
        case .plain: "PLAIN"
        case .plainDictionary: "PLAIN_DICTIONARY"
        case .rle: "RLE"
        case .bitPacked: "BIT_PACKED"
        case .deltaBinaryPacked: "DELTA_BINARY_PACKED"
        case .deltaLengthByteArray: "DELTA_LENGTH_BYTE_ARRAY"
        case .deltaByteArray: "DELTA_BYTE_ARRAY"
        case .rleDictionary: "RLE_DICTIONARY"
        case .byteStreamSplit: "BYTE_STREAM_SPLIT"
        case .unknown(let n): "encoding \(n)"
        }
    }
}

/// `CompressionCodec`.
public enum Codec: Hashable, Sendable {
    case uncompressed, snappy, gzip, lzo, brotli, lz4, zstd, lz4Raw
    case unknown(Int32)

    public init(wire: Int32) {
        switch wire {
        case 0: self = .uncompressed
        case 1: self = .snappy
        case 2: self = .gzip
        case 3: self = .lzo
        case 4: self = .brotli
        case 5: self = .lz4
        case 6: self = .zstd
        case 7: self = .lz4Raw
        default: self = .unknown(wire)
        }
    }

    public var wire: Int32 {
        switch self {
        case .uncompressed: 0
        case .snappy: 1
        case .gzip: 2
        case .lzo: 3
        case .brotli: 4
        case .lz4: 5
        case .zstd: 6
        case .lz4Raw: 7
        case .unknown(let n): n
        }
    }

    public var name: String {
        switch self {
        case .uncompressed: "UNCOMPRESSED"
        case .snappy: "SNAPPY"
        case .gzip: "GZIP"
        case .lzo: "LZO"
        case .brotli: "BROTLI"
        case .lz4: "LZ4"
        case .zstd: "ZSTD"
        case .lz4Raw: "LZ4_RAW"
        case .unknown(let n): "codec \(n)"
        }
    }
}

/// `PageType`.
public enum PageType: Hashable, Sendable {
    case dataPage, indexPage, dictionaryPage, dataPageV2
    case unknown(Int32)

    public init(wire: Int32) {
        switch wire {
        case 0: self = .dataPage
        case 1: self = .indexPage
        case 2: self = .dictionaryPage
        case 3: self = .dataPageV2
        default: self = .unknown(wire)
        }
    }

    public var wire: Int32 {
        switch self {
        case .dataPage: 0
        case .indexPage: 1
        case .dictionaryPage: 2
        case .dataPageV2: 3
        case .unknown(let n): n
        }
    }
}

/// The `ConvertedType` values this module writes or interprets (legacy
/// annotations; readers fall back to them when a leaf has no logicalType).
public enum ConvertedType: Int32, Sendable {
    case utf8 = 0, map = 1, mapKeyValue = 2, list = 3, enumeration = 4, decimal = 5
    case date = 6, timeMillis = 7, timeMicros = 8, timestampMillis = 9, timestampMicros = 10
    case uint8 = 11, uint16 = 12, uint32 = 13, uint64 = 14
    case int8 = 15, int16 = 16, int32 = 17, int64 = 18
    case json = 19, bson = 20, interval = 21
}
