#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// A column chunk read page by page. The chunk's pages are read from its
// start (the dictionary page first, if any, decoded once and kept) until
// the data pages' num_values add up to the chunk's; index pages and page
// types this module does not know are skipped. Only the page at hand is
// held: its header and body are read with pread into a buffer that grows
// to the largest page (plus a little read ahead for the next header), so
// reading a chunk of any size takes memory for one page, its decoded
// values and the dictionary. PageDecoding decodes each page.

public final class ColumnChunkReader {
    public let column: LeafColumn
    private let file: ParquetFileReader
    private let meta: ColumnMetaData
    /// Where the chunk starts in the file, and its length.
    private let chunkOffset: Int64
    private let chunkSize: Int
    /// Bytes of the chunk held: chunk[bufferStart ..< bufferStart + bufferCount].
    private var buffer: UnsafeMutableRawBufferPointer
    private var bufferStart = 0
    private var bufferCount = 0
    /// The next page's header, relative to the chunk's start.
    private var position = 0
    private var dictionary: LeafValues?
    private var pageNumber = 0
    /// Level entries the chunk holds (ColumnMetaData.num_values).
    public let entryTotal: Int
    /// Level entries decoded so far.
    public private(set) var entriesRead = 0
    /// Data pages decoded so far.
    public private(set) var dataPagesRead = 0

    /// Read past a page's body at once, so the next header usually comes with it.
    static let readAhead = 16 << 10

    /// A reader of the chunk of `leaf` in row group `group`; the chunk's
    /// metadata is checked against the schema (`check`).
    public init(_ file: ParquetFileReader, rowGroup group: Int, leaf: Int) throws(ParquetError) {
        column = file.leaves[leaf]
        self.file = file
        let chunk = file.metadata.rowGroups[group].columns[leaf]
        guard let meta = chunk.metaData else { throw .corrupt("a column chunk without meta_data") }
        try Self.check(meta, column: column)
        self.meta = meta
        (chunkOffset, chunkSize) = try file.chunkRange(chunk)
        entryTotal = Int(meta.numValues)
        buffer = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    }

    deinit { buffer.deallocate() }

    /// Level entries not yet decoded.
    public var entriesLeft: Int { entryTotal - entriesRead }

    /// Decodes the next data page (after the dictionary page, index pages
    /// and pages of unknown types before it), appending its levels and
    /// values to `data`; false when every entry of the chunk was read.
    @discardableResult
    public func nextPage(into data: inout LeafData) throws(ParquetError) -> Bool {
        while entriesRead < entryTotal {
            guard position < chunkSize else {
                throw .corrupt("the chunk ends after \(entriesRead) of its \(entryTotal) values")
            }
            let header = try readHeader()
            let compressedSize = Int(header.compressedPageSize)
            guard header.compressedPageSize >= 0, header.uncompressedPageSize >= 0 else {
                throw .corrupt("page \(pageNumber) has a negative size")
            }
            guard compressedSize <= chunkSize - position else {
                throw .corrupt("page \(pageNumber) of \(compressedSize) bytes where the chunk has \(chunkSize - position) left")
            }
            let body = try bytes(from: position, count: compressedSize)
            position += compressedSize
            var isData = false
            do throws(ParquetError) {
                switch header.type {
                case .dictionaryPage:
                    guard dictionary == nil else { throw .corrupt("a second dictionary page") }
                    guard entriesRead == 0 else { throw .corrupt("a dictionary page after data pages") }
                    dictionary = try PageDecoding.readDictionary(header, body: body, meta: meta, column: column)
                case .dataPage, .dataPageV2:
                    let before = data.entryCount
                    if header.type == .dataPage {
                        try PageDecoding.readDataPageV1(header, body: body, meta: meta, column: column, dictionary: dictionary,
                                                        remaining: entriesLeft, into: &data)
                    } else {
                        try PageDecoding.readDataPageV2(header, body: body, meta: meta, column: column, dictionary: dictionary,
                                                        remaining: entriesLeft, into: &data)
                    }
                    entriesRead += data.entryCount - before
                    isData = true
                default:
                    break   // index pages and unknown page types: skipped, as Arrow does
                }
            } catch {
                throw .at("page \(pageNumber)", error)
            }
            pageNumber += 1
            if isData {
                dataPagesRead += 1
                return true
            }
        }
        return false
    }

    /// The page header at `position`, which then moves past it. The header
    /// is read from a window after `position` that grows (to the chunk's
    /// end) while the header does not decode in it.
    private func readHeader() throws(ParquetError) -> PageHeader {
        var window = min(Self.readAhead, chunkSize - position)
        while true {
            let bytes = try bytes(from: position, count: window)
            var reader = ThriftCompactReader(bytes)
            do throws(ParquetError) {
                let header = try PageHeader.decode(&reader)
                position += reader.position
                return header
            } catch {
                guard window < chunkSize - position else { throw .at("page \(pageNumber) header", error) }
                window = min(window * 2, chunkSize - position)
            }
        }
    }

    /// The chunk's bytes `start ..< start + count` (inside the chunk),
    /// valid until the next call: read into the buffer, with what it
    /// already holds of them kept, and some read ahead.
    private func bytes(from start: Int, count: Int) throws(ParquetError) -> UnsafeRawBufferPointer {
        if start >= bufferStart, start + count <= bufferStart + bufferCount, let base = buffer.baseAddress {
            return UnsafeRawBufferPointer(start: base + (start - bufferStart), count: count)
        }
        guard count > 0 else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        let wanted = min(chunkSize - start, count + Self.readAhead)
        var kept = 0
        if start >= bufferStart && start < bufferStart + bufferCount {
            kept = bufferStart + bufferCount - start
        }
        if wanted > buffer.count {
            let grown = UnsafeMutableRawBufferPointer.allocate(byteCount: wanted, alignment: 16)
            if kept > 0, let from = buffer.baseAddress, let to = grown.baseAddress {
                to.copyMemory(from: from + (start - bufferStart), byteCount: kept)
            }
            buffer.deallocate()
            buffer = grown
        } else if kept > 0, let base = buffer.baseAddress {
            memmove(base, base + (start - bufferStart), kept)
        }
        bufferStart = start
        bufferCount = kept
        // swiftlint:disable:next force_unwrapping
        let base = buffer.baseAddress!
        try file.read(at: chunkOffset + Int64(start + kept),
                      into: UnsafeMutableRawBufferPointer(start: base + kept, count: wanted - kept))
        bufferCount = wanted
        return UnsafeRawBufferPointer(start: base, count: count)
    }

    /// The chunk's metadata agrees with the schema, and uses only what this
    /// module reads.
    public static func check(_ meta: ColumnMetaData, column: LeafColumn) throws(ParquetError) {
        guard meta.type == column.physicalType else {
            throw .corrupt("the chunk's type \(meta.type.name) is not its schema leaf's \(column.physicalType.name)")
        }
        guard meta.pathInSchema == column.node.path else {
            throw .corrupt("the chunk's path \(meta.pathInSchema.joined(separator: ".")) is not its leaf's")
        }
        guard PageCompression.supported.contains(meta.codec) else {
            throw .unsupported("the compression codec \(meta.codec.name) (supported: UNCOMPRESSED, SNAPPY, ZSTD)")
        }
        for encoding in meta.encodings {
            switch encoding {
            case .plain, .plainDictionary, .rleDictionary, .rle, .bitPacked:
                break
            case .deltaBinaryPacked where column.physicalType == .int32 || column.physicalType == .int64:
                break
            case .deltaLengthByteArray where column.physicalType == .byteArray:
                break
            default:
                throw .unsupported("the encoding \(encoding.name) (supported: PLAIN, RLE_DICTIONARY, PLAIN_DICTIONARY, RLE, DELTA_BINARY_PACKED, DELTA_LENGTH_BYTE_ARRAY)")
            }
        }
        guard meta.numValues >= 0, meta.numValues <= Int64(Int32.max) * 64 else {
            throw .corrupt("ColumnMetaData.num_values is \(meta.numValues)")
        }
        guard column.maxDefinitionLevel <= 255, column.maxRepetitionLevel <= 255 else {
            throw .unsupported("levels above 255 (the schema is nested too deeply)")
        }
    }
}
