// The Thrift structures of parquet.thrift this module uses, as plain
// values: the file footer (FileMetaData and what it holds) and the page
// headers. Field comments give the Thrift field ids. Fields a reader does
// not model are skipped when decoding (ThriftCompactReader); a writer
// writes every field the IDL marks `required`, even when it is 0.

/// `FileMetaData`, the footer.
public struct FileMetaData: Sendable {
    public var version: Int32                      // 1
    public var schema: [SchemaElement]             // 2: depth-first, root first
    public var numRows: Int64                      // 3
    public var rowGroups: [RowGroup]               // 4
    public var keyValueMetadata: [KeyValue]        // 5
    public var createdBy: String?                  // 6
    /// 7: how many `ColumnOrder` entries (all TypeDefinedOrder when written).
    public var columnOrderCount: Int

    public init(version: Int32, schema: [SchemaElement], numRows: Int64, rowGroups: [RowGroup],
                keyValueMetadata: [KeyValue] = [], createdBy: String? = nil, columnOrderCount: Int = 0) {
        self.version = version
        self.schema = schema
        self.numRows = numRows
        self.rowGroups = rowGroups
        self.keyValueMetadata = keyValueMetadata
        self.createdBy = createdBy
        self.columnOrderCount = columnOrderCount
    }
}

/// `KeyValue`.
public struct KeyValue: Sendable, Equatable {
    public var key: String                         // 1
    public var value: String?                      // 2

    public init(key: String, value: String?) {
        self.key = key
        self.value = value
    }
}

/// `SchemaElement`: a node of the flattened schema tree. A group has
/// `numChildren` and no `type`; a leaf has `type`.
public struct SchemaElement: Sendable, Equatable {
    public var type: PhysicalType?                 // 1
    public var typeLength: Int32?                  // 2
    public var repetition: Repetition?             // 3
    public var name: String                        // 4
    public var numChildren: Int32?                 // 5
    /// 6: the raw value, so one this module has no case for can be named.
    public var convertedType: Int32?
    public var scale: Int32?                       // 7
    public var precision: Int32?                   // 8
    public var fieldId: Int32?                     // 9
    public var logicalType: LogicalType?           // 10

    public init(type: PhysicalType? = nil, typeLength: Int32? = nil, repetition: Repetition? = nil, name: String,
                numChildren: Int32? = nil, convertedType: Int32? = nil, scale: Int32? = nil, precision: Int32? = nil,
                fieldId: Int32? = nil, logicalType: LogicalType? = nil) {
        self.type = type
        self.typeLength = typeLength
        self.repetition = repetition
        self.name = name
        self.numChildren = numChildren
        self.convertedType = convertedType
        self.scale = scale
        self.precision = precision
        self.fieldId = fieldId
        self.logicalType = logicalType
    }
}

/// The `LogicalType` union (field ids in comments).
public enum LogicalType: Sendable, Equatable {
    case string                                    // 1
    case map                                       // 2
    case list                                      // 3
    case enumeration                               // 4
    case decimal(scale: Int32, precision: Int32)   // 5
    case date                                      // 6
    case time(isAdjustedToUTC: Bool, unit: TimeUnit)       // 7
    case timestamp(isAdjustedToUTC: Bool, unit: TimeUnit)  // 8
    case integer(bitWidth: Int8, isSigned: Bool)   // 10
    case unknown                                   // 11 (always null)
    case json                                      // 12
    case bson                                      // 13
    case uuid                                      // 14
    case float16                                   // 15
    /// A member this module does not model, by its field id.
    case other(Int16)

    public enum TimeUnit: Sendable, Equatable {
        case millis, micros, nanos                 // 1, 2, 3
    }
}

/// `RowGroup`.
public struct RowGroup: Sendable {
    public var columns: [ColumnChunk]              // 1: one per leaf, in schema order
    public var totalByteSize: Int64                // 2
    public var numRows: Int64                      // 3
    public var fileOffset: Int64?                  // 5
    public var totalCompressedSize: Int64?         // 6

    public init(columns: [ColumnChunk], totalByteSize: Int64, numRows: Int64,
                fileOffset: Int64? = nil, totalCompressedSize: Int64? = nil) {
        self.columns = columns
        self.totalByteSize = totalByteSize
        self.numRows = numRows
        self.fileOffset = fileOffset
        self.totalCompressedSize = totalCompressedSize
    }
}

/// `ColumnChunk`.
public struct ColumnChunk: Sendable {
    /// 1: column data in another file; not part of the spec, refused by readers.
    public var filePath: String?
    public var fileOffset: Int64                   // 2 (deprecated; written as 0)
    public var metaData: ColumnMetaData?           // 3 (writers always set it)

    public init(filePath: String? = nil, fileOffset: Int64 = 0, metaData: ColumnMetaData?) {
        self.filePath = filePath
        self.fileOffset = fileOffset
        self.metaData = metaData
    }
}

/// `ColumnMetaData`.
public struct ColumnMetaData: Sendable {
    public var type: PhysicalType                  // 1
    public var encodings: [Encoding]               // 2
    public var pathInSchema: [String]              // 3
    public var codec: Codec                        // 4
    /// 5: level entries (nulls and empty lists included), not rows.
    public var numValues: Int64
    public var totalUncompressedSize: Int64        // 6: page headers included
    public var totalCompressedSize: Int64          // 7: page headers included
    public var dataPageOffset: Int64               // 9
    public var dictionaryPageOffset: Int64?        // 11
    public var statistics: Statistics?             // 12

    public init(type: PhysicalType, encodings: [Encoding], pathInSchema: [String], codec: Codec, numValues: Int64,
                totalUncompressedSize: Int64, totalCompressedSize: Int64, dataPageOffset: Int64,
                dictionaryPageOffset: Int64? = nil, statistics: Statistics? = nil) {
        self.type = type
        self.encodings = encodings
        self.pathInSchema = pathInSchema
        self.codec = codec
        self.numValues = numValues
        self.totalUncompressedSize = totalUncompressedSize
        self.totalCompressedSize = totalCompressedSize
        self.dataPageOffset = dataPageOffset
        self.dictionaryPageOffset = dictionaryPageOffset
        self.statistics = statistics
    }
}

/// `Statistics` (only the fields written or read here; 1 and 2, the
/// deprecated signed-order max/min, are skipped).
public struct Statistics: Sendable, Equatable {
    public var nullCount: Int64?                   // 3
    public var distinctCount: Int64?               // 4
    /// 5, 6: PLAIN-encoded, no length prefix for byte arrays. Writing them
    /// requires `FileMetaData.columnOrderCount` = the number of leaves.
    public var maxValue: [UInt8]?
    public var minValue: [UInt8]?

    public init(nullCount: Int64? = nil, distinctCount: Int64? = nil, maxValue: [UInt8]? = nil, minValue: [UInt8]? = nil) {
        self.nullCount = nullCount
        self.distinctCount = distinctCount
        self.maxValue = maxValue
        self.minValue = minValue
    }
}

/// `PageHeader`: exactly one of the three headers matches `type`.
public struct PageHeader: Sendable {
    public var type: PageType                      // 1
    public var uncompressedPageSize: Int32         // 2: the body, header excluded
    public var compressedPageSize: Int32           // 3: the body on disk
    public var crc: Int32?                         // 4
    public var dataPageHeader: DataPageHeader?     // 5
    public var dictionaryPageHeader: DictionaryPageHeader?  // 7
    public var dataPageHeaderV2: DataPageHeaderV2?          // 8

    public init(type: PageType, uncompressedPageSize: Int32, compressedPageSize: Int32, crc: Int32? = nil,
                dataPageHeader: DataPageHeader? = nil, dictionaryPageHeader: DictionaryPageHeader? = nil,
                dataPageHeaderV2: DataPageHeaderV2? = nil) {
        self.type = type
        self.uncompressedPageSize = uncompressedPageSize
        self.compressedPageSize = compressedPageSize
        self.crc = crc
        self.dataPageHeader = dataPageHeader
        self.dictionaryPageHeader = dictionaryPageHeader
        self.dataPageHeaderV2 = dataPageHeaderV2
    }
}

/// `DataPageHeader` (v1 pages).
public struct DataPageHeader: Sendable {
    public var numValues: Int32                    // 1: level entries
    public var encoding: Encoding                  // 2
    public var definitionLevelEncoding: Encoding   // 3
    public var repetitionLevelEncoding: Encoding   // 4
    public var statistics: Statistics?             // 5

    public init(numValues: Int32, encoding: Encoding, definitionLevelEncoding: Encoding = .rle,
                repetitionLevelEncoding: Encoding = .rle, statistics: Statistics? = nil) {
        self.numValues = numValues
        self.encoding = encoding
        self.definitionLevelEncoding = definitionLevelEncoding
        self.repetitionLevelEncoding = repetitionLevelEncoding
        self.statistics = statistics
    }
}

/// `DictionaryPageHeader`.
public struct DictionaryPageHeader: Sendable {
    public var numValues: Int32                    // 1
    public var encoding: Encoding                  // 2: PLAIN (or PLAIN_DICTIONARY, read as PLAIN)
    public var isSorted: Bool?                     // 3

    public init(numValues: Int32, encoding: Encoding = .plain, isSorted: Bool? = nil) {
        self.numValues = numValues
        self.encoding = encoding
        self.isSorted = isSorted
    }
}

/// `DataPageHeaderV2`: levels are stored uncompressed before the values.
public struct DataPageHeaderV2: Sendable {
    public var numValues: Int32                    // 1
    public var numNulls: Int32                     // 2
    public var numRows: Int32                      // 3
    public var encoding: Encoding                  // 4
    public var definitionLevelsByteLength: Int32   // 5
    public var repetitionLevelsByteLength: Int32   // 6
    /// 7: absent on the wire means true.
    public var isCompressed: Bool
    public var statistics: Statistics?             // 8

    public init(numValues: Int32, numNulls: Int32, numRows: Int32, encoding: Encoding,
                definitionLevelsByteLength: Int32, repetitionLevelsByteLength: Int32,
                isCompressed: Bool = true, statistics: Statistics? = nil) {
        self.numValues = numValues
        self.numNulls = numNulls
        self.numRows = numRows
        self.encoding = encoding
        self.definitionLevelsByteLength = definitionLevelsByteLength
        self.repetitionLevelsByteLength = repetitionLevelsByteLength
        self.isCompressed = isCompressed
        self.statistics = statistics
    }
}
