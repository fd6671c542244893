// One leaf column of the row group being written: the shredder appends
// level entries and non-null values; full pages are cut (at row
// boundaries), encoded and compressed as they fill, and kept in memory
// until the row group is written out, dictionary page first.

#if _endian(big)
#error("the Parquet writer writes PLAIN values from host memory: little-endian hosts only")
#endif

/// A leaf of the schema as the writer needs it.
public struct OutputLeaf: Sendable {
    /// Names from below the root down to the leaf (`path_in_schema`).
    public var path: [String]
    /// BOOLEAN, INT64, FLOAT, DOUBLE or BYTE_ARRAY.
    public var type: PhysicalType
    public var maxDefinitionLevel: Int
    public var maxRepetitionLevel: Int
    /// INTEGER(64, unsigned): min/max statistics compare unsigned.
    public var isUnsigned: Bool

    public init(path: [String], type: PhysicalType, maxDefinitionLevel: Int, maxRepetitionLevel: Int, isUnsigned: Bool = false) {
        self.path = path
        self.type = type
        self.maxDefinitionLevel = maxDefinitionLevel
        self.maxRepetitionLevel = maxRepetitionLevel
        self.isUnsigned = isUnsigned
    }

    public var dottedPath: String { path.joined(separator: ".") }
}

/// How pages are made.
public struct ColumnWriterOptions: Sendable {
    public var codec: Codec
    /// Dictionary-encode (not BOOLEAN) until the dictionary passes
    /// `dictionaryPageBytes`, then PLAIN for the rest of the chunk.
    public var dictionary: Bool
    public var statistics: Bool
    /// Target size of a data page's values and levels before compression.
    public var pageBytes: Int
    public var dictionaryPageBytes: Int
    /// min/max longer than this are left out (null_count stays), as pyarrow does.
    public var maxStatisticsBytes: Int

    public init(codec: Codec = .snappy, dictionary: Bool = true, statistics: Bool = true,
                pageBytes: Int = 1 << 20, dictionaryPageBytes: Int = 1 << 20, maxStatisticsBytes: Int = 4096) {
        self.codec = codec
        self.dictionary = dictionary
        self.statistics = statistics
        self.pageBytes = pageBytes
        self.dictionaryPageBytes = dictionaryPageBytes
        self.maxStatisticsBytes = maxStatisticsBytes
    }
}

public final class ColumnChunkWriter {
    public let leaf: OutputLeaf
    let options: ColumnWriterOptions
    private let levelWidths: (rep: Int, def: Int)
    private let maxDef: UInt8

    // Staged entries, not yet in a page.
    private var rep: [UInt8] = []
    private var def: [UInt8] = []
    private var int64s: [UInt64] = []      // INT64 (bit patterns) and DOUBLE bits
    private var int32s: [UInt32] = []      // FLOAT bits
    private var bools: [UInt8] = []        // BOOLEAN, one byte per value
    private var bytes: [UInt8] = []        // BYTE_ARRAY data
    private var byteOffsets: [Int] = [0]   // BYTE_ARRAY: count + 1 offsets into `bytes`
    private var stagedBytes = 0

    // The chunk so far.
    /// Page headers and bodies, in order (pieces, so that a growing row
    /// group is never copied to a bigger buffer).
    private var pages: [[UInt8]] = []
    private var pagesBytes = 0
    private var numValues: Int64 = 0
    private var uncompressedTotal: Int64 = 0
    private var usedDictionary = false
    private var usedPlain = false
    private var fellBack = false
    private var dictionary: ValueDictionary
    private var stats: ValueStatistics

    public init(leaf: OutputLeaf, options: ColumnWriterOptions) throws(ParquetError) {
        switch leaf.type {
        case .boolean, .int64, .float, .double, .byteArray: break
        default: throw .unsupported("writing \(leaf.type.name) values (column \(leaf.dottedPath))")
        }
        guard leaf.maxDefinitionLevel <= 255, leaf.maxRepetitionLevel <= 255 else {
            throw .unsupported("nesting deeper than 255 levels (column \(leaf.dottedPath))")
        }
        self.leaf = leaf
        self.options = options
        levelWidths = (RLEHybridEncoder.bitWidth(UInt64(leaf.maxRepetitionLevel)),
                       RLEHybridEncoder.bitWidth(UInt64(leaf.maxDefinitionLevel)))
        maxDef = UInt8(leaf.maxDefinitionLevel)
        dictionary = ValueDictionary(type: leaf.type)
        stats = ValueStatistics(type: leaf.type, unsigned: leaf.isUnsigned)
    }

    // MARK: Appending (the shredder)

    /// A level entry with no value: a null, or an empty or null list.
    @inline(__always)
    public func appendNull(rep r: UInt8, def d: UInt8) {
        rep.append(r)
        def.append(d)
    }

    @inline(__always)
    private func entry(_ r: UInt8) {
        rep.append(r)
        def.append(maxDef)
    }

    /// A non-null INT64 (or the bits of a uint64) at the full definition level.
    @inline(__always)
    public func append(int64 bits: UInt64, rep r: UInt8) {
        entry(r)
        int64s.append(bits)
        stagedBytes += 8
    }

    @inline(__always)
    public func append(doubleBits bits: UInt64, rep r: UInt8) {
        entry(r)
        int64s.append(bits)
        stagedBytes += 8
    }

    @inline(__always)
    public func append(floatBits bits: UInt32, rep r: UInt8) {
        entry(r)
        int32s.append(bits)
        stagedBytes += 4
    }

    @inline(__always)
    public func append(bool value: Bool, rep r: UInt8) {
        entry(r)
        bools.append(value ? 1 : 0)
        stagedBytes += 1
    }

    @inline(__always)
    public func append(byteArray value: UnsafeRawBufferPointer, rep r: UInt8) {
        entry(r)
        bytes.append(contentsOf: value)
        byteOffsets.append(bytes.count)
        stagedBytes += 4 + value.count
    }

    /// Floats that are all non-null entries at rep `firstRep` then `nextRep`
    /// (a run of embedding items): one call instead of one per value.
    public func append(floats: UnsafeBufferPointer<Float>, firstRep: UInt8, nextRep: UInt8) {
        guard !floats.isEmpty else { return }
        rep.append(firstRep)
        if floats.count > 1 { rep.append(contentsOf: repeatElement(nextRep, count: floats.count - 1)) }
        def.append(contentsOf: repeatElement(maxDef, count: floats.count))
        floats.withMemoryRebound(to: UInt32.self) { int32s.append(contentsOf: $0) }
        stagedBytes += 4 * floats.count
    }

    /// Bytes staged and encoded so far (an estimate of the chunk's size).
    public var bufferedBytes: Int { stagedBytes + pagesBytes + dictionary.byteSize }

    // MARK: Pages

    /// Cuts full pages off the staged entries; with `all`, everything staged.
    public func cutPages(all: Bool) throws(ParquetError) {
        let perEntry = levelWidths.rep + levelWidths.def
        while !def.isEmpty {
            let estimate = stagedBytes + def.count * perEntry / 8
            let target = pageTarget
            if !all && estimate < target { return }
            let (entries, values) = estimate > target ? pageEnd(target) : (def.count, stagedValueCount)
            try writeDataPage(entries: entries, values: values)
        }
    }

    /// The page size aimed at: `pageBytes`, smaller while the dictionary
    /// nears its limit (a page can add as many bytes to the dictionary as
    /// it holds), so the dictionary page ends up close to the limit.
    private var pageTarget: Int {
        guard options.dictionary && leaf.type != .boolean && !fellBack else { return options.pageBytes }
        let room = options.dictionaryPageBytes - dictionary.byteSize
        return min(options.pageBytes, max(options.pageBytes / 16, room, 1))
    }

    private var stagedValueCount: Int {
        switch leaf.type {
        case .boolean: bools.count
        case .float: int32s.count
        case .byteArray: byteOffsets.count - 1
        default: int64s.count
        }
    }

    /// Where a page of about `target` bytes ends: the first row start after the
    /// size is reached (pages begin at row boundaries), or the end.
    private func pageEnd(_ target: Int) -> (entries: Int, values: Int) {
        let perEntry = Double(levelWidths.rep + levelWidths.def) / 8
        let width: Int = switch leaf.type { case .boolean: 1; case .float: 4; default: 8 }
        var size = 0.0
        var values = 0
        var k = 0
        let total = def.count
        while k < total {
            if def[k] == maxDef {
                size += Double(leaf.type == .byteArray ? 4 + byteOffsets[values + 1] - byteOffsets[values] : width)
                values += 1
            }
            size += perEntry
            k += 1
            if size >= Double(target) { break }
        }
        if leaf.maxRepetitionLevel > 0 {
            while k < total && rep[k] != 0 {
                if def[k] == maxDef { values += 1 }
                k += 1
            }
        }
        return (k, values)
    }

    private func writeDataPage(entries: Int, values: Int) throws(ParquetError) {
        guard entries <= Int(Int32.max) else { throw .unsupported("a page of more than 2^31 entries (column \(leaf.dottedPath))") }
        var body: [UInt8] = []
        body.reserveCapacity(stagedBytes / max(1, def.count) * entries + entries / 2 + 64)
        if leaf.maxRepetitionLevel > 0 { Self.levels(rep, entries, width: levelWidths.rep, into: &body) }
        if leaf.maxDefinitionLevel > 0 { Self.levels(def, entries, width: levelWidths.def, into: &body) }

        if options.statistics { updateStatistics(values: values) }
        let encoding: Encoding
        if options.dictionary && leaf.type != .boolean && !fellBack {
            encodeIndices(values: values, into: &body)
            encoding = .rleDictionary
            usedDictionary = true
            if dictionary.byteSize >= options.dictionaryPageBytes { fellBack = true }
        } else {
            encodePlain(values: values, into: &body)
            encoding = .plain
            usedPlain = true
        }
        let header = DataPageHeader(numValues: Int32(entries), encoding: encoding)
        try appendPage(type: .dataPage, body: body, dataHeader: header, dictionaryHeader: nil, to: &pages)
        numValues += Int64(entries)
        dropStaged(entries: entries, values: values)
    }

    /// Levels of a v1 page: a 4-byte little-endian length, then the runs.
    private static func levels(_ levels: [UInt8], _ count: Int, width: Int, into body: inout [UInt8]) {
        let start = body.count
        body.append(contentsOf: [0, 0, 0, 0])
        levels.withUnsafeBufferPointer { all in
            RLEHybridEncoder.encode(UnsafeBufferPointer(rebasing: all[0..<count]), bitWidth: width, into: &body)
        }
        let length = UInt32(body.count - start - 4)
        for k in 0..<4 { body[start + k] = UInt8(truncatingIfNeeded: length >> (8 * UInt32(k))) }
    }

    private func encodePlain(values: Int, into body: inout [UInt8]) {
        switch leaf.type {
        case .boolean:
            bools.withUnsafeBufferPointer { RLEHybridEncoder.packBooleans(UnsafeBufferPointer(rebasing: $0[0..<values]), into: &body) }
        case .float:
            int32s.withUnsafeBytes { body.append(contentsOf: $0[0..<(values * 4)]) }
        case .byteArray:
            Self.plainByteArrays(bytes, byteOffsets, 0..<values, into: &body)
        default:
            int64s.withUnsafeBytes { body.append(contentsOf: $0[0..<(values * 8)]) }
        }
    }

    /// PLAIN BYTE_ARRAY: each value as a 4-byte little-endian length and its bytes.
    static func plainByteArrays(_ data: [UInt8], _ offsets: [Int], _ range: Range<Int>, into body: inout [UInt8]) {
        data.withUnsafeBytes { raw in
            for v in range {
                let length = UInt32(offsets[v + 1] - offsets[v])
                withUnsafeBytes(of: length.littleEndian) { body.append(contentsOf: $0) }
                body.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[offsets[v]..<offsets[v + 1]]))
            }
        }
    }

    /// RLE_DICTIONARY data: the bit width byte, then the index runs.
    private func encodeIndices(values: Int, into body: inout [UInt8]) {
        var indices = [UInt32](repeating: 0, count: values)
        switch leaf.type {
        case .float:
            for v in 0..<values { indices[v] = dictionary.index(ofFixed: UInt64(int32s[v])) }
        case .byteArray:
            bytes.withUnsafeBytes { raw in
                for v in 0..<values {
                    indices[v] = dictionary.index(ofBytes: UnsafeRawBufferPointer(rebasing: raw[byteOffsets[v]..<byteOffsets[v + 1]]))
                }
            }
        default:
            for v in 0..<values { indices[v] = dictionary.index(ofFixed: int64s[v]) }
        }
        guard values > 0 else {
            body.append(0)
            return
        }
        let width = max(1, RLEHybridEncoder.bitWidth(UInt64(dictionary.count - 1)))
        body.append(UInt8(width))
        indices.withUnsafeBufferPointer { RLEHybridEncoder.encode($0, bitWidth: width, into: &body) }
    }

    private func updateStatistics(values: Int) {
        switch leaf.type {
        case .boolean: for v in 0..<values { stats.update(fixed: UInt64(bools[v])) }
        case .float: for v in 0..<values { stats.update(fixed: UInt64(int32s[v])) }
        case .byteArray:
            bytes.withUnsafeBytes { raw in
                for v in 0..<values {
                    stats.update(bytes: UnsafeRawBufferPointer(rebasing: raw[byteOffsets[v]..<byteOffsets[v + 1]]))
                }
            }
        default: for v in 0..<values { stats.update(fixed: int64s[v]) }
        }
    }

    private func dropStaged(entries: Int, values: Int) {
        rep.removeFirst(entries)
        def.removeFirst(entries)
        switch leaf.type {
        case .boolean: bools.removeFirst(values); stagedBytes = bools.count
        case .float: int32s.removeFirst(values); stagedBytes = int32s.count * 4
        case .byteArray:
            let cut = byteOffsets[values]
            bytes.removeFirst(cut)
            byteOffsets.removeFirst(values)
            for k in byteOffsets.indices { byteOffsets[k] -= cut }
            stagedBytes = bytes.count + 4 * (byteOffsets.count - 1)
        default: int64s.removeFirst(values); stagedBytes = int64s.count * 8
        }
    }

    /// Compresses `body` and appends header and body to `out`.
    private func appendPage(type: PageType, body: [UInt8], dataHeader: DataPageHeader?,
                            dictionaryHeader: DictionaryPageHeader?, to out: inout [[UInt8]]) throws(ParquetError) {
        let compressed: [UInt8]
        if options.codec == .uncompressed {
            compressed = body
        } else {
            let codec = options.codec
            compressed = try body.withUnsafeBytes { raw in
                Result { () throws(ParquetError) in try PageCompression.compress(raw, codec: codec) }
            }.get()
        }
        guard body.count <= Int(Int32.max), compressed.count <= Int(Int32.max) else {
            throw .unsupported("a page of more than 2 GiB (column \(leaf.dottedPath))")
        }
        let header = PageHeader(type: type, uncompressedPageSize: Int32(body.count), compressedPageSize: Int32(compressed.count),
                                dataPageHeader: dataHeader, dictionaryPageHeader: dictionaryHeader).encoded()
        out.append(header)
        // The codec's buffer has room for the worst case: keep only the bytes
        // (the row group's pages are what a writer holds in memory).
        out.append(compressed.capacity > compressed.count + compressed.count / 16
                   ? compressed.withUnsafeBufferPointer { Array($0) } : compressed)
        pagesBytes += header.count + compressed.count
        uncompressedTotal += Int64(header.count + body.count)
    }

    // MARK: The chunk

    /// The chunk's pages, once every row of the row group is in.
    public struct Chunk {
        /// The dictionary page (header and body), empty without one.
        public var dictionaryPage: [[UInt8]]
        /// The data pages' headers and bodies, in order.
        public var dataPages: [[UInt8]]
        public var numValues: Int64
        public var totalUncompressedSize: Int64
        public var encodings: [Encoding]
        public var statistics: Statistics?
    }

    /// Encodes what is staged and hands over the chunk; the writer starts
    /// afresh (a new dictionary, new statistics) for the next row group.
    public func finishChunk() throws(ParquetError) -> Chunk {
        try cutPages(all: true)
        var dictionaryPage: [[UInt8]] = []
        if usedDictionary {
            var body: [UInt8] = []
            dictionary.encodePlain(into: &body)
            try appendPage(type: .dictionaryPage, body: body, dataHeader: nil,
                           dictionaryHeader: DictionaryPageHeader(numValues: Int32(dictionary.count), encoding: .plain, isSorted: false),
                           to: &dictionaryPage)
        }
        var encodings: [Encoding] = []
        if usedPlain || usedDictionary { encodings.append(.plain) }
        encodings.append(.rle)
        if usedDictionary { encodings.append(.rleDictionary) }
        let statistics = options.statistics ? stats.statistics(nullCount: numValues - stats.valueCount,
                                                               maxBytes: options.maxStatisticsBytes) : nil
        let chunk = Chunk(dictionaryPage: dictionaryPage, dataPages: pages, numValues: numValues,
                          totalUncompressedSize: uncompressedTotal, encodings: encodings, statistics: statistics)
        pages = []
        pagesBytes = 0
        numValues = 0
        uncompressedTotal = 0
        usedDictionary = false
        usedPlain = false
        fellBack = false
        dictionary = ValueDictionary(type: leaf.type)
        stats = ValueStatistics(type: leaf.type, unsigned: leaf.isUnsigned)
        return chunk
    }
}
