// The footer (FileMetaData) and page headers decoded from Thrift compact
// bytes into the values of Metadata.swift. Unknown field ids are skipped
// whatever their type; a known field of the wrong type, or a required
// field that is missing, is `.corrupt` naming Struct.field.

extension ThriftCompactReader {
    fileprivate mutating func i32(_ type: ThriftCompactReader.ThriftType, _ what: String) throws(ParquetError) -> Int32 {
        guard type == .i32 else { throw .corrupt("\(what) is of Thrift type \(type), not i32") }
        return try readI32()
    }

    fileprivate mutating func i64(_ type: ThriftCompactReader.ThriftType, _ what: String) throws(ParquetError) -> Int64 {
        guard type == .i64 else { throw .corrupt("\(what) is of Thrift type \(type), not i64") }
        return try readI64()
    }

    fileprivate mutating func string(_ type: ThriftCompactReader.ThriftType, _ what: String) throws(ParquetError) -> String {
        guard type == .binary else { throw .corrupt("\(what) is of Thrift type \(type), not binary") }
        return try readString()
    }

    fileprivate mutating func binary(_ type: ThriftCompactReader.ThriftType, _ what: String) throws(ParquetError) -> [UInt8] {
        guard type == .binary else { throw .corrupt("\(what) is of Thrift type \(type), not binary") }
        return try readBinary()
    }

    fileprivate func bool(_ type: ThriftCompactReader.ThriftType, _ what: String) throws(ParquetError) -> Bool {
        switch type {
        case .boolTrue: return true
        case .boolFalse: return false
        default: throw .corrupt("\(what) is of Thrift type \(type), not bool")
        }
    }

    fileprivate func structure(_ type: ThriftCompactReader.ThriftType, _ what: String) throws(ParquetError) {
        guard type == .structure else { throw .corrupt("\(what) is of Thrift type \(type), not struct") }
    }

    fileprivate func list(_ type: ThriftCompactReader.ThriftType, _ what: String) throws(ParquetError) {
        guard type == .list else { throw .corrupt("\(what) is of Thrift type \(type), not list") }
    }
}

private func required<T>(_ value: T?, _ what: String) throws(ParquetError) -> T {
    guard let value else { throw .corrupt("the required field \(what) is missing") }
    return value
}

extension FileMetaData {
    /// Decodes a footer (the bytes between the chunks and the length word).
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(ParquetError) -> FileMetaData {
        var reader = ThriftCompactReader(bytes)
        return try decode(&reader)
    }

    static func decode(_ reader: inout ThriftCompactReader) throws(ParquetError) -> FileMetaData {
        var version: Int32?, schema: [SchemaElement]?, numRows: Int64?, rowGroups: [RowGroup]?
        var keyValues: [KeyValue] = [], createdBy: String?, columnOrders = 0
        try reader.readStruct { (r, id, type) throws(ParquetError) in
            switch id {
            case 1: version = try r.i32(type, "FileMetaData.version")
            case 2:
                try r.list(type, "FileMetaData.schema")
                schema = try r.readList(of: .structure, what: "FileMetaData.schema") { (r) throws(ParquetError) in
                    try SchemaElement.decode(&r)
                }
            case 3: numRows = try r.i64(type, "FileMetaData.num_rows")
            case 4:
                try r.list(type, "FileMetaData.row_groups")
                rowGroups = try r.readList(of: .structure, what: "FileMetaData.row_groups") { (r) throws(ParquetError) in
                    try RowGroup.decode(&r)
                }
            case 5:
                try r.list(type, "FileMetaData.key_value_metadata")
                keyValues = try r.readList(of: .structure, what: "FileMetaData.key_value_metadata") { (r) throws(ParquetError) in
                    try KeyValue.decode(&r)
                }
            case 6: createdBy = try r.string(type, "FileMetaData.created_by")
            case 7:
                try r.list(type, "FileMetaData.column_orders")
                columnOrders = try r.readList(of: .structure, what: "FileMetaData.column_orders") { (r) throws(ParquetError) in
                    try r.skip(.structure)
                }.count
            case 8, 9:
                throw .unsupported("encryption (the footer has FileMetaData.\(id == 8 ? "encryption_algorithm" : "footer_signing_key_metadata"))")
            default: try r.skip(type)
            }
        }
        return FileMetaData(version: try required(version, "FileMetaData.version"),
                            schema: try required(schema, "FileMetaData.schema"),
                            numRows: try required(numRows, "FileMetaData.num_rows"),
                            rowGroups: try required(rowGroups, "FileMetaData.row_groups"),
                            keyValueMetadata: keyValues, createdBy: createdBy, columnOrderCount: columnOrders)
    }
}

extension KeyValue {
    static func decode(_ reader: inout ThriftCompactReader) throws(ParquetError) -> KeyValue {
        var key: String?, value: String?
        try reader.readStruct { (r, id, type) throws(ParquetError) in
            switch id {
            case 1: key = try r.string(type, "KeyValue.key")
            case 2: value = try r.string(type, "KeyValue.value")
            default: try r.skip(type)
            }
        }
        return KeyValue(key: try required(key, "KeyValue.key"), value: value)
    }
}

extension SchemaElement {
    static func decode(_ reader: inout ThriftCompactReader) throws(ParquetError) -> SchemaElement {
        var element = SchemaElement(name: "")
        var name: String?
        try reader.readStruct { (r, id, type) throws(ParquetError) in
            switch id {
            case 1: element.type = PhysicalType(wire: try r.i32(type, "SchemaElement.type"))
            case 2: element.typeLength = try r.i32(type, "SchemaElement.type_length")
            case 3:
                let raw = try r.i32(type, "SchemaElement.repetition_type")
                guard let repetition = Repetition(rawValue: raw) else {
                    throw .corrupt("SchemaElement.repetition_type \(raw) is not REQUIRED, OPTIONAL or REPEATED")
                }
                element.repetition = repetition
            case 4: name = try r.string(type, "SchemaElement.name")
            case 5: element.numChildren = try r.i32(type, "SchemaElement.num_children")
            case 6: element.convertedType = try r.i32(type, "SchemaElement.converted_type")
            case 7: element.scale = try r.i32(type, "SchemaElement.scale")
            case 8: element.precision = try r.i32(type, "SchemaElement.precision")
            case 9: element.fieldId = try r.i32(type, "SchemaElement.field_id")
            case 10:
                try r.structure(type, "SchemaElement.logicalType")
                element.logicalType = try LogicalType.decode(&r)
            default: try r.skip(type)
            }
        }
        element.name = try required(name, "SchemaElement.name")
        return element
    }
}

extension LogicalType {
    /// The union: one member set (an unknown member is `.other(id)`).
    static func decode(_ reader: inout ThriftCompactReader) throws(ParquetError) -> LogicalType? {
        var result: LogicalType?
        try reader.readStruct { (r, id, type) throws(ParquetError) in
            switch id {
            case 5:
                try r.structure(type, "LogicalType.DECIMAL")
                var scale: Int32?, precision: Int32?
                try r.readStruct { (r, id, type) throws(ParquetError) in
                    switch id {
                    case 1: scale = try r.i32(type, "DecimalType.scale")
                    case 2: precision = try r.i32(type, "DecimalType.precision")
                    default: try r.skip(type)
                    }
                }
                result = .decimal(scale: scale ?? 0, precision: precision ?? 0)
            case 7, 8:
                try r.structure(type, "LogicalType.TIME/TIMESTAMP")
                var utc = false, unit = LogicalType.TimeUnit.millis
                try r.readStruct { (r, id, type) throws(ParquetError) in
                    switch id {
                    case 1: utc = try r.bool(type, "isAdjustedToUTC")
                    case 2:
                        try r.structure(type, "TimeUnit")
                        try r.readStruct { (r, id, type) throws(ParquetError) in
                            switch id {
                            case 1: unit = .millis
                            case 2: unit = .micros
                            case 3: unit = .nanos
                            default: break
                            }
                            try r.skip(type)
                        }
                    default: try r.skip(type)
                    }
                }
                result = id == 7 ? .time(isAdjustedToUTC: utc, unit: unit) : .timestamp(isAdjustedToUTC: utc, unit: unit)
            case 10:
                try r.structure(type, "LogicalType.INTEGER")
                var width: Int8 = 64, signed = true
                try r.readStruct { (r, id, type) throws(ParquetError) in
                    switch id {
                    case 1:
                        guard type == .i8 else { throw .corrupt("IntType.bitWidth is of Thrift type \(type), not i8") }
                        width = Int8(bitPattern: try r.readByte())
                    case 2: signed = try r.bool(type, "IntType.isSigned")
                    default: try r.skip(type)
                    }
                }
                result = .integer(bitWidth: width, isSigned: signed)
            default:
                try r.skip(type)
                switch id {
                case 1: result = .string
                case 2: result = .map
                case 3: result = .list
                case 4: result = .enumeration
                case 6: result = .date
                case 11: result = .unknown
                case 12: result = .json
                case 13: result = .bson
                case 14: result = .uuid
                case 15: result = .float16
                default: result = .other(id)
                }
            }
        }
        return result
    }
}

extension RowGroup {
    static func decode(_ reader: inout ThriftCompactReader) throws(ParquetError) -> RowGroup {
        var columns: [ColumnChunk]?, totalByteSize: Int64?, numRows: Int64?, fileOffset: Int64?, compressed: Int64?
        try reader.readStruct { (r, id, type) throws(ParquetError) in
            switch id {
            case 1:
                try r.list(type, "RowGroup.columns")
                columns = try r.readList(of: .structure, what: "RowGroup.columns") { (r) throws(ParquetError) in
                    try ColumnChunk.decode(&r)
                }
            case 2: totalByteSize = try r.i64(type, "RowGroup.total_byte_size")
            case 3: numRows = try r.i64(type, "RowGroup.num_rows")
            case 5: fileOffset = try r.i64(type, "RowGroup.file_offset")
            case 6: compressed = try r.i64(type, "RowGroup.total_compressed_size")
            default: try r.skip(type)
            }
        }
        return RowGroup(columns: try required(columns, "RowGroup.columns"),
                        totalByteSize: totalByteSize ?? 0,
                        numRows: try required(numRows, "RowGroup.num_rows"),
                        fileOffset: fileOffset, totalCompressedSize: compressed)
    }
}

extension ColumnChunk {
    static func decode(_ reader: inout ThriftCompactReader) throws(ParquetError) -> ColumnChunk {
        var chunk = ColumnChunk(metaData: nil)
        try reader.readStruct { (r, id, type) throws(ParquetError) in
            switch id {
            case 1: chunk.filePath = try r.string(type, "ColumnChunk.file_path")
            case 2: chunk.fileOffset = try r.i64(type, "ColumnChunk.file_offset")
            case 3:
                try r.structure(type, "ColumnChunk.meta_data")
                chunk.metaData = try ColumnMetaData.decode(&r)
            case 8, 9:
                throw .unsupported("column encryption (ColumnChunk.\(id == 8 ? "crypto_metadata" : "encrypted_column_metadata"))")
            default: try r.skip(type)
            }
        }
        return chunk
    }
}

extension ColumnMetaData {
    static func decode(_ reader: inout ThriftCompactReader) throws(ParquetError) -> ColumnMetaData {
        var type: PhysicalType?, encodings: [Encoding]?, path: [String]?, codec: Codec?, numValues: Int64?
        var uncompressed: Int64?, compressed: Int64?, dataPageOffset: Int64?, dictionaryPageOffset: Int64?
        try reader.readStruct { (r, id, t) throws(ParquetError) in
            switch id {
            case 1: type = PhysicalType(wire: try r.i32(t, "ColumnMetaData.type"))
            case 2:
                try r.list(t, "ColumnMetaData.encodings")
                encodings = try r.readList(of: .i32, what: "ColumnMetaData.encodings") { (r) throws(ParquetError) in
                    Encoding(wire: try r.readI32())
                }
            case 3:
                try r.list(t, "ColumnMetaData.path_in_schema")
                path = try r.readList(of: .binary, what: "ColumnMetaData.path_in_schema") { (r) throws(ParquetError) in
                    try r.readString()
                }
            case 4: codec = Codec(wire: try r.i32(t, "ColumnMetaData.codec"))
            case 5: numValues = try r.i64(t, "ColumnMetaData.num_values")
            case 6: uncompressed = try r.i64(t, "ColumnMetaData.total_uncompressed_size")
            case 7: compressed = try r.i64(t, "ColumnMetaData.total_compressed_size")
            case 9: dataPageOffset = try r.i64(t, "ColumnMetaData.data_page_offset")
            case 11: dictionaryPageOffset = try r.i64(t, "ColumnMetaData.dictionary_page_offset")
            default: try r.skip(t)
            }
        }
        return ColumnMetaData(type: try required(type, "ColumnMetaData.type"),
                              encodings: try required(encodings, "ColumnMetaData.encodings"),
                              pathInSchema: try required(path, "ColumnMetaData.path_in_schema"),
                              codec: try required(codec, "ColumnMetaData.codec"),
                              numValues: try required(numValues, "ColumnMetaData.num_values"),
                              totalUncompressedSize: uncompressed ?? 0,
                              totalCompressedSize: try required(compressed, "ColumnMetaData.total_compressed_size"),
                              dataPageOffset: try required(dataPageOffset, "ColumnMetaData.data_page_offset"),
                              dictionaryPageOffset: dictionaryPageOffset)
    }
}

extension PageHeader {
    /// Decodes a page header at the reader's position (the body follows it).
    public static func decode(_ reader: inout ThriftCompactReader) throws(ParquetError) -> PageHeader {
        var type: PageType?, uncompressed: Int32?, compressed: Int32?, crc: Int32?
        var v1: DataPageHeader?, dictionary: DictionaryPageHeader?, v2: DataPageHeaderV2?
        try reader.readStruct { (r, id, t) throws(ParquetError) in
            switch id {
            case 1: type = PageType(wire: try r.i32(t, "PageHeader.type"))
            case 2: uncompressed = try r.i32(t, "PageHeader.uncompressed_page_size")
            case 3: compressed = try r.i32(t, "PageHeader.compressed_page_size")
            case 4: crc = try r.i32(t, "PageHeader.crc")
            case 5:
                try r.structure(t, "PageHeader.data_page_header")
                v1 = try DataPageHeader.decode(&r)
            case 7:
                try r.structure(t, "PageHeader.dictionary_page_header")
                dictionary = try DictionaryPageHeader.decode(&r)
            case 8:
                try r.structure(t, "PageHeader.data_page_header_v2")
                v2 = try DataPageHeaderV2.decode(&r)
            default: try r.skip(t)
            }
        }
        return PageHeader(type: try required(type, "PageHeader.type"),
                          uncompressedPageSize: try required(uncompressed, "PageHeader.uncompressed_page_size"),
                          compressedPageSize: try required(compressed, "PageHeader.compressed_page_size"),
                          crc: crc, dataPageHeader: v1, dictionaryPageHeader: dictionary, dataPageHeaderV2: v2)
    }
}

extension DataPageHeader {
    static func decode(_ reader: inout ThriftCompactReader) throws(ParquetError) -> DataPageHeader {
        var numValues: Int32?, encoding: Encoding?, defEncoding: Encoding?, repEncoding: Encoding?
        try reader.readStruct { (r, id, t) throws(ParquetError) in
            switch id {
            case 1: numValues = try r.i32(t, "DataPageHeader.num_values")
            case 2: encoding = Encoding(wire: try r.i32(t, "DataPageHeader.encoding"))
            case 3: defEncoding = Encoding(wire: try r.i32(t, "DataPageHeader.definition_level_encoding"))
            case 4: repEncoding = Encoding(wire: try r.i32(t, "DataPageHeader.repetition_level_encoding"))
            default: try r.skip(t)
            }
        }
        return DataPageHeader(numValues: try required(numValues, "DataPageHeader.num_values"),
                              encoding: try required(encoding, "DataPageHeader.encoding"),
                              definitionLevelEncoding: defEncoding ?? .rle,
                              repetitionLevelEncoding: repEncoding ?? .rle)
    }
}

extension DictionaryPageHeader {
    static func decode(_ reader: inout ThriftCompactReader) throws(ParquetError) -> DictionaryPageHeader {
        var numValues: Int32?, encoding: Encoding?, sorted: Bool?
        try reader.readStruct { (r, id, t) throws(ParquetError) in
            switch id {
            case 1: numValues = try r.i32(t, "DictionaryPageHeader.num_values")
            case 2: encoding = Encoding(wire: try r.i32(t, "DictionaryPageHeader.encoding"))
            case 3: sorted = try r.bool(t, "DictionaryPageHeader.is_sorted")
            default: try r.skip(t)
            }
        }
        return DictionaryPageHeader(numValues: try required(numValues, "DictionaryPageHeader.num_values"),
                                    encoding: encoding ?? .plain, isSorted: sorted)
    }
}

extension DataPageHeaderV2 {
    static func decode(_ reader: inout ThriftCompactReader) throws(ParquetError) -> DataPageHeaderV2 {
        var numValues: Int32?, numNulls: Int32?, numRows: Int32?, encoding: Encoding?
        var defLength: Int32?, repLength: Int32?, compressed = true
        try reader.readStruct { (r, id, t) throws(ParquetError) in
            switch id {
            case 1: numValues = try r.i32(t, "DataPageHeaderV2.num_values")
            case 2: numNulls = try r.i32(t, "DataPageHeaderV2.num_nulls")
            case 3: numRows = try r.i32(t, "DataPageHeaderV2.num_rows")
            case 4: encoding = Encoding(wire: try r.i32(t, "DataPageHeaderV2.encoding"))
            case 5: defLength = try r.i32(t, "DataPageHeaderV2.definition_levels_byte_length")
            case 6: repLength = try r.i32(t, "DataPageHeaderV2.repetition_levels_byte_length")
            case 7: compressed = try r.bool(t, "DataPageHeaderV2.is_compressed")
            default: try r.skip(t)
            }
        }
        return DataPageHeaderV2(numValues: try required(numValues, "DataPageHeaderV2.num_values"),
                                numNulls: numNulls ?? 0,
                                numRows: try required(numRows, "DataPageHeaderV2.num_rows"),
                                encoding: try required(encoding, "DataPageHeaderV2.encoding"),
                                definitionLevelsByteLength: try required(defLength, "DataPageHeaderV2.definition_levels_byte_length"),
                                repetitionLevelsByteLength: try required(repLength, "DataPageHeaderV2.repetition_levels_byte_length"),
                                isCompressed: compressed)
    }
}
