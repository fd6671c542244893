// The footer and the page headers in the Thrift compact protocol, field
// ids from parquet.thrift. Every field the IDL marks `required` is written,
// even when it is 0 (pyarrow refuses a footer that lacks one); optional
// fields are written when set. Fields are written in ascending id order.

extension FileMetaData {
    /// The serialized footer (without its length and the closing magic).
    public func encoded() -> [UInt8] {
        var w = ThriftCompactWriter()
        w.field(1, i32: version)
        w.beginList(2, of: .structure, count: schema.count)
        for element in schema { element.encode(into: &w) }
        w.field(3, i64: numRows)
        w.beginList(4, of: .structure, count: rowGroups.count)
        for group in rowGroups { group.encode(into: &w) }
        if !keyValueMetadata.isEmpty {
            w.beginList(5, of: .structure, count: keyValueMetadata.count)
            for pair in keyValueMetadata {
                w.beginStructElement()
                w.field(1, string: pair.key)
                if let value = pair.value { w.field(2, string: value) }
                w.endStruct()
            }
        }
        if let createdBy { w.field(6, string: createdBy) }
        if columnOrderCount > 0 {
            // ColumnOrder is a union; member 1 is TypeDefinedOrder, an empty struct.
            w.beginList(7, of: .structure, count: columnOrderCount)
            for _ in 0..<columnOrderCount {
                w.beginStructElement()
                w.emptyStruct(1)
                w.endStruct()
            }
        }
        w.endStruct()
        return w.bytes
    }
}

extension SchemaElement {
    func encode(into w: inout ThriftCompactWriter) {
        w.beginStructElement()
        if let type { w.field(1, i32: type.wire) }
        if let typeLength { w.field(2, i32: typeLength) }
        if let repetition { w.field(3, i32: repetition.rawValue) }
        w.field(4, string: name)
        if let numChildren { w.field(5, i32: numChildren) }
        if let convertedType { w.field(6, i32: convertedType) }
        if let scale { w.field(7, i32: scale) }
        if let precision { w.field(8, i32: precision) }
        if let fieldId { w.field(9, i32: fieldId) }
        if let logicalType {
            w.beginStruct(10)
            logicalType.encodeMember(into: &w)
            w.endStruct()
        }
        w.endStruct()
    }
}

extension LogicalType {
    /// The one member of the union, as a field of the open union struct.
    func encodeMember(into w: inout ThriftCompactWriter) {
        func unit(_ id: Int16, _ unit: TimeUnit) {
            w.beginStruct(id)
            switch unit {
            case .millis: w.emptyStruct(1)
            case .micros: w.emptyStruct(2)
            case .nanos: w.emptyStruct(3)
            }
            w.endStruct()
        }
        switch self {
        case .string: w.emptyStruct(1)
        case .map: w.emptyStruct(2)
        case .list: w.emptyStruct(3)
        case .enumeration: w.emptyStruct(4)
        case .decimal(let scale, let precision):
            w.beginStruct(5)
            w.field(1, i32: scale)
            w.field(2, i32: precision)
            w.endStruct()
        case .date: w.emptyStruct(6)
        case .time(let utc, let timeUnit):
            w.beginStruct(7)
            w.field(1, bool: utc)
            unit(2, timeUnit)
            w.endStruct()
        case .timestamp(let utc, let timeUnit):
            w.beginStruct(8)
            w.field(1, bool: utc)
            unit(2, timeUnit)
            w.endStruct()
        case .integer(let bitWidth, let isSigned):
            w.beginStruct(10)
            w.field(1, i8: bitWidth)
            w.field(2, bool: isSigned)
            w.endStruct()
        case .unknown: w.emptyStruct(11)
        case .json: w.emptyStruct(12)
        case .bson: w.emptyStruct(13)
        case .uuid: w.emptyStruct(14)
        case .float16: w.emptyStruct(15)
        case .other(let id): w.emptyStruct(id)
        }
    }
}

extension RowGroup {
    func encode(into w: inout ThriftCompactWriter) {
        w.beginStructElement()
        w.beginList(1, of: .structure, count: columns.count)
        for column in columns { column.encode(into: &w) }
        w.field(2, i64: totalByteSize)
        w.field(3, i64: numRows)
        if let fileOffset { w.field(5, i64: fileOffset) }
        if let totalCompressedSize { w.field(6, i64: totalCompressedSize) }
        w.endStruct()
    }
}

extension ColumnChunk {
    func encode(into w: inout ThriftCompactWriter) {
        w.beginStructElement()
        if let filePath { w.field(1, string: filePath) }
        w.field(2, i64: fileOffset)
        if let metaData {
            w.beginStruct(3)
            metaData.encodeFields(into: &w)
            w.endStruct()
        }
        w.endStruct()
    }
}

extension ColumnMetaData {
    func encodeFields(into w: inout ThriftCompactWriter) {
        w.field(1, i32: type.wire)
        w.beginList(2, of: .i32, count: encodings.count)
        for encoding in encodings { w.element(i32: encoding.wire) }
        w.beginList(3, of: .binary, count: pathInSchema.count)
        for name in pathInSchema { w.element(string: name) }
        w.field(4, i32: codec.wire)
        w.field(5, i64: numValues)
        w.field(6, i64: totalUncompressedSize)
        w.field(7, i64: totalCompressedSize)
        w.field(9, i64: dataPageOffset)
        if let dictionaryPageOffset { w.field(11, i64: dictionaryPageOffset) }
        if let statistics {
            w.beginStruct(12)
            statistics.encodeFields(into: &w)
            w.endStruct()
        }
    }
}

extension Statistics {
    /// Fields 3 to 6 (the deprecated signed-order 1 and 2 are never written).
    func encodeFields(into w: inout ThriftCompactWriter) {
        if let nullCount { w.field(3, i64: nullCount) }
        if let distinctCount { w.field(4, i64: distinctCount) }
        if let maxValue { w.field(5, binary: maxValue) }
        if let minValue { w.field(6, binary: minValue) }
    }
}

extension PageHeader {
    /// The serialized header; the page body follows it directly.
    public func encoded() -> [UInt8] {
        var w = ThriftCompactWriter()
        w.field(1, i32: type.wire)
        w.field(2, i32: uncompressedPageSize)
        w.field(3, i32: compressedPageSize)
        if let crc { w.field(4, i32: crc) }
        if let header = dataPageHeader {
            w.beginStruct(5)
            w.field(1, i32: header.numValues)
            w.field(2, i32: header.encoding.wire)
            w.field(3, i32: header.definitionLevelEncoding.wire)
            w.field(4, i32: header.repetitionLevelEncoding.wire)
            if let statistics = header.statistics {
                w.beginStruct(5)
                statistics.encodeFields(into: &w)
                w.endStruct()
            }
            w.endStruct()
        }
        if let header = dictionaryPageHeader {
            w.beginStruct(7)
            w.field(1, i32: header.numValues)
            w.field(2, i32: header.encoding.wire)
            if let isSorted = header.isSorted { w.field(3, bool: isSorted) }
            w.endStruct()
        }
        if let header = dataPageHeaderV2 {
            w.beginStruct(8)
            w.field(1, i32: header.numValues)
            w.field(2, i32: header.numNulls)
            w.field(3, i32: header.numRows)
            w.field(4, i32: header.encoding.wire)
            w.field(5, i32: header.definitionLevelsByteLength)
            w.field(6, i32: header.repetitionLevelsByteLength)
            w.field(7, bool: header.isCompressed)
            if let statistics = header.statistics {
                w.beginStruct(8)
                statistics.encodeFields(into: &w)
                w.endStruct()
            }
            w.endStruct()
        }
        w.endStruct()
        return w.bytes
    }
}
