import CZstd

// The pages of a column chunk decoded into shredded leaf data: a
// dictionary page into the chunk's dictionary, a data page's repetition
// and definition levels and non-null values appended to a LeafData. v1
// pages are decompressed whole; in v2 pages the levels are stored
// uncompressed and only the values may be compressed (is_compressed,
// absent meaning true). A page may start in the middle of a row: the
// levels simply continue. ColumnChunkReader finds the pages.

/// A leaf column's decoded entries: the pages read and not yet consumed.
public struct LeafData: Sendable {
    /// One per entry; empty when the leaf's max repetition level is 0 (all 0).
    public var repetitionLevels: [UInt8] = []
    /// One per entry; empty when the leaf's max definition level is 0 (all max).
    public var definitionLevels: [UInt8] = []
    /// The non-null values, one per entry whose definition level is the maximum.
    public var values: LeafValues
    /// Entries (level pairs), nulls and empty lists included.
    public var entryCount = 0

    public init(values: LeafValues) { self.values = values }

    /// Drops the first `entries` entries and `values` values (those
    /// consumed), keeping the arrays' capacity for the next page.
    public mutating func removeFirst(entries: Int, values count: Int) {
        if entries == entryCount {
            repetitionLevels.removeAll(keepingCapacity: true)
            definitionLevels.removeAll(keepingCapacity: true)
        } else {
            if !repetitionLevels.isEmpty { repetitionLevels.removeFirst(entries) }
            if !definitionLevels.isEmpty { definitionLevels.removeFirst(entries) }
        }
        entryCount -= entries
        values.removeFirst(count)
    }
}

enum PageDecoding {
    /// `PageCompression.decompress`, after a ZSTD frame's own content size
    /// (when it states one) is checked against the header's: a damaged
    /// header must not make the reader allocate what it says.
    static func decompress(_ body: UnsafeRawBufferPointer, codec: Codec, uncompressedSize: Int) throws(ParquetError) -> [UInt8] {
        if codec == .zstd, let base = body.baseAddress {
            let stated = ZSTD_getFrameContentSize(base, body.count)
            // UInt64.max: not stated (streaming); UInt64.max - 1: not a frame.
            if stated == UInt64.max - 1 { throw .corrupt("a ZSTD page that is not a zstd frame") }
            if stated != UInt64.max && body.count > 0 {
                // Several frames may follow each other; the first alone can't be larger.
                guard stated <= UInt64(uncompressedSize) else {
                    throw .corrupt("a ZSTD page whose frame holds \(stated) bytes where the header says \(uncompressedSize)")
                }
            } else if uncompressedSize > 1 << 20 && uncompressedSize / 1024 > body.count {
                throw .corrupt("a ZSTD page of \(body.count) bytes said to hold \(uncompressedSize) (the frame does not say)")
            }
        }
        return try PageCompression.decompress(body, codec: codec, uncompressedSize: uncompressedSize)
    }

    static func readDictionary(_ header: PageHeader, body: UnsafeRawBufferPointer, meta: ColumnMetaData,
                               column: LeafColumn) throws(ParquetError) -> LeafValues {
        guard let dictionaryHeader = header.dictionaryPageHeader else {
            throw .corrupt("a dictionary page without its dictionary_page_header")
        }
        guard dictionaryHeader.encoding == .plain || dictionaryHeader.encoding == .plainDictionary else {
            throw .unsupported("a dictionary page encoded \(dictionaryHeader.encoding.name)")
        }
        let count = Int(dictionaryHeader.numValues)
        guard count >= 0 else { throw .corrupt("a dictionary of \(count) values") }
        let plain = try decompress(body, codec: meta.codec, uncompressedSize: Int(header.uncompressedPageSize))
        var values = try LeafValues(for: column.physicalType)
        // Each PLAIN value takes at least one bit: bound the count by the bytes.
        guard count <= plain.count * 8 else { throw .corrupt("a dictionary of \(count) values in \(plain.count) bytes") }
        _ = try withBytes(plain) { (raw) throws(ParquetError) in
            try values.appendPlain(raw, count: count)
        }
        return values
    }

    static func readDataPageV1(_ header: PageHeader, body: UnsafeRawBufferPointer, meta: ColumnMetaData,
                               column: LeafColumn, dictionary: LeafValues?, remaining: Int,
                               into data: inout LeafData) throws(ParquetError) {
        guard let v1 = header.dataPageHeader else { throw .corrupt("a DATA_PAGE without its data_page_header") }
        let count = Int(v1.numValues)
        guard count >= 0, count <= remaining else {
            throw .corrupt("a page of \(count) values where the chunk has \(remaining) left")
        }
        let page = try decompress(body, codec: meta.codec, uncompressedSize: Int(header.uncompressedPageSize))
        try withBytes(page) { (raw) throws(ParquetError) in
            var position = 0
            if column.maxRepetitionLevel > 0 {
                guard v1.repetitionLevelEncoding == .rle else {
                    throw .unsupported("repetition levels encoded \(v1.repetitionLevelEncoding.name)")
                }
                position += try appendLevels(raw, from: position, prefixed: true, length: 0, count: count,
                                             max: column.maxRepetitionLevel, what: "repetition levels",
                                             into: &data.repetitionLevels)
            }
            var nonNull = count
            if column.maxDefinitionLevel > 0 {
                guard v1.definitionLevelEncoding == .rle else {
                    throw .unsupported("definition levels encoded \(v1.definitionLevelEncoding.name)")
                }
                let start = data.definitionLevels.count
                position += try appendLevels(raw, from: position, prefixed: true, length: 0, count: count,
                                             max: column.maxDefinitionLevel, what: "definition levels",
                                             into: &data.definitionLevels)
                nonNull = countMax(data.definitionLevels, from: start, max: column.maxDefinitionLevel)
            }
            try appendValues(UnsafeRawBufferPointer(rebasing: raw[position...]), encoding: v1.encoding, count: nonNull,
                             dictionary: dictionary, column: column, into: &data.values)
        }
        data.entryCount += count
    }

    static func readDataPageV2(_ header: PageHeader, body: UnsafeRawBufferPointer, meta: ColumnMetaData,
                               column: LeafColumn, dictionary: LeafValues?, remaining: Int,
                               into data: inout LeafData) throws(ParquetError) {
        guard let v2 = header.dataPageHeaderV2 else { throw .corrupt("a DATA_PAGE_V2 without its data_page_header_v2") }
        let count = Int(v2.numValues)
        guard count >= 0, count <= remaining else {
            throw .corrupt("a page of \(count) values where the chunk has \(remaining) left")
        }
        let repLength = Int(v2.repetitionLevelsByteLength), defLength = Int(v2.definitionLevelsByteLength)
        guard repLength >= 0, defLength >= 0, repLength <= body.count, defLength <= body.count - repLength else {
            throw .corrupt("levels of \(repLength) + \(defLength) bytes in a page of \(body.count)")
        }
        let levelBytes = repLength + defLength
        if column.maxRepetitionLevel > 0 {
            _ = try appendLevels(body, from: 0, prefixed: false, length: repLength, count: count,
                                 max: column.maxRepetitionLevel, what: "repetition levels", into: &data.repetitionLevels)
        }
        var nonNull = count
        if column.maxDefinitionLevel > 0 {
            let start = data.definitionLevels.count
            _ = try appendLevels(body, from: repLength, prefixed: false, length: defLength, count: count,
                                 max: column.maxDefinitionLevel, what: "definition levels", into: &data.definitionLevels)
            nonNull = countMax(data.definitionLevels, from: start, max: column.maxDefinitionLevel)
        }
        let stored = UnsafeRawBufferPointer(rebasing: body[levelBytes...])
        let valuesSize = Int(header.uncompressedPageSize) - levelBytes
        guard valuesSize >= 0 else { throw .corrupt("a page whose levels are larger than the page") }
        if v2.isCompressed && meta.codec != .uncompressed {
            let values = try decompress(stored, codec: meta.codec, uncompressedSize: valuesSize)
            try withBytes(values) { (raw) throws(ParquetError) in
                try appendValues(raw, encoding: v2.encoding, count: nonNull, dictionary: dictionary, column: column,
                                 into: &data.values)
            }
        } else {
            try appendValues(stored, encoding: v2.encoding, count: nonNull, dictionary: dictionary, column: column,
                             into: &data.values)
        }
        data.entryCount += count
    }

    /// Decodes `count` levels (a v1 4-byte length prefix, or the v2 length
    /// given) at `from`; returns the bytes they took.
    private static func appendLevels(_ page: UnsafeRawBufferPointer, from: Int, prefixed: Bool, length: Int, count: Int,
                                     max: Int, what: String, into levels: inout [UInt8]) throws(ParquetError) -> Int {
        var start = from, size = length
        if prefixed {
            guard page.count - from >= 4 else { throw .corrupt("\(what) without their 4-byte length") }
            size = Int(UInt32(littleEndian: page.loadUnaligned(fromByteOffset: from, as: UInt32.self)))
            start += 4
            guard size <= page.count - start else {
                throw .corrupt("\(what) of \(size) bytes where the page has \(page.count - start) left")
            }
        }
        guard count > 0 else { return start - from + size }
        var decoder = try RLEHybridDecoder(UnsafeRawBufferPointer(rebasing: page[start..<start + size]),
                                           bitWidth: bitWidth(ofMax: max), what: what)
        let old = levels.count
        levels.reserveCapacity(old + count)
        var failure: ParquetError?
        levels.append(contentsOf: repeatElement(0, count: count))
        levels.withUnsafeMutableBufferPointer { buffer in
            do throws(ParquetError) {
                // swiftlint:disable:next force_unwrapping
                try decoder.decode(count, into: buffer.baseAddress! + old, maxValue: UInt32(max))
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        return start - from + size
    }

    private static func countMax(_ levels: [UInt8], from start: Int, max: Int) -> Int {
        let top = UInt8(max)
        var n = 0
        for i in start..<levels.count where levels[i] == top { n += 1 }
        return n
    }

    private static func appendValues(_ bytes: UnsafeRawBufferPointer, encoding: Encoding, count: Int,
                                     dictionary: LeafValues?, column: LeafColumn,
                                     into values: inout LeafValues) throws(ParquetError) {
        switch encoding {
        case .plain:
            try values.appendPlain(bytes, count: count)
        case .rleDictionary, .plainDictionary:
            guard let dictionary else { throw .corrupt("a dictionary-encoded page without a dictionary page") }
            guard count > 0 else { return }
            guard let width = bytes.first else { throw .corrupt("dictionary indices without their bit width") }
            var decoder = try RLEHybridDecoder(UnsafeRawBufferPointer(rebasing: bytes[1...]), bitWidth: Int(width),
                                               what: "dictionary indices")
            let indices = try decoder.decode(count, as: UInt32.self, maxValue: UInt32.max)
            try values.appendFromDictionary(dictionary, indices: indices)
        case .rle where column.physicalType == .boolean:
            try values.appendRLEBooleans(bytes, count: count)
        case .deltaBinaryPacked where column.physicalType == .int32 || column.physicalType == .int64:
            try values.appendDeltaBinaryPacked(bytes, count: count)
        case .deltaLengthByteArray where column.physicalType == .byteArray:
            try values.appendDeltaLengthByteArray(bytes, count: count)
        default:
            throw .unsupported("the encoding \(encoding.name) for \(column.physicalType.name) values")
        }
    }
}
