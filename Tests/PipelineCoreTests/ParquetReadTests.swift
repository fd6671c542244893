import Foundation
import ParquetFormat
import PluginParquet
import Testing

@testable import PipelineArrow

/// The Parquet reader (ParquetFormat, PluginParquet's ParquetBatchReader)
/// and `load_parquet`, against files pyarrow writes (Tests/tools/parquet_make.py
/// in the test venv): under pyarrow's defaults and under the options the
/// Hub's converter uses, v2 pages, ZSTD, no dictionary, a dictionary that
/// falls back to PLAIN, many small pages that start in the middle of rows,
/// several row groups. `load_parquet` → `write_jsonl` runs through the real
/// binary and plugins, and pyarrow checks every row of the output.
@Suite(.serialized) struct ParquetReadTests {
    static let python = Fixtures.packageRoot.appendingPathComponent(".build/test-venv/bin/python").path
    static let maker = Fixtures.packageRoot.appendingPathComponent("Tests/tools/parquet_make.py").path

    /// True when the test venv has pyarrow; else the test returns early,
    /// which PIPELINE_REQUIRE_PYARROW=1 turns into a failure.
    private func pyarrowAvailable() -> Bool {
        let available = FileManager.default.isExecutableFile(atPath: Self.python)
            && (try? Spawned(Self.python, ["-c", "import pyarrow"]).wait().status) == 0
        if !available {
            #expect(ProcessInfo.processInfo.environment["PIPELINE_REQUIRE_PYARROW"] == nil,
                    "the test venv lacks pyarrow: run `make venv`")
        }
        return available
    }

    private func make(_ kind: String, _ path: String, rows: Int = 1000, options: String = "{}") throws {
        let result = try Spawned(Self.python, [Self.maker, "write", kind, path, "--rows", "\(rows)", "--options", options]).wait()
        try #require(result.status == 0, "parquet_make.py write \(kind) failed: \(result.output)")
    }

    /// pyarrow's view of the file's encodings, codecs and row groups.
    private func describe(_ path: String) throws -> [String: Any] {
        let result = try Spawned(Self.python, [Self.maker, "describe", path]).wait()
        try #require(result.status == 0, "\(result.output)")
        let line = try #require(result.output.split(separator: "\n").last)
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    /// Runs load_parquet → write_jsonl through the binary.
    private func runLoad(_ parquet: String, in directory: URL, with extra: String = "", batchSize: Int = 300)
        throws -> (status: Int32, output: String, jsonl: String)
    {
        let pipeline = """
            name: parquet-read
            steps:
              - name: load
                uses: load_parquet
                with: {path: \(parquet)\(extra)}
                batch_size: \(batchSize)
              - name: save
                uses: write_jsonl
                input: load
                with: {path: out.jsonl}
            """
        let file = directory.appendingPathComponent("pipeline-\(UUID().uuidString).yaml")
        try pipeline.write(to: file, atomically: true, encoding: .utf8)
        let runDirectory = directory.appendingPathComponent("run-\(UUID().uuidString)").path
        let result = try Fixtures.run(Fixtures.pipelineBinary, ["run", file.path, "--run-dir", runDirectory])
        return (result.status, result.output, runDirectory + "/out.jsonl")
    }

    /// pyarrow compares the JSON Lines with the file, row by row, value by value.
    private func expectSameRows(_ parquet: String, _ jsonl: String, columns: [String]? = nil, limit: Int? = nil,
                                _ label: String) throws {
        var arguments = [Self.maker, "compare", parquet, jsonl]
        if let columns { arguments += ["--columns", columns.joined(separator: ",")] }
        if let limit { arguments += ["--limit", "\(limit)"] }
        let result = try Spawned(Self.python, arguments).wait()
        #expect(result.status == 0, "\(label): \(result.output)")
    }

    // MARK: Through the binary

    /// Every type, nulls at every level, empty lists, non-ASCII, NaN; under
    /// each writer configuration the issue lists. Each file is checked to
    /// really use what it is meant to exercise.
    @Test func everyWriterConfigurationReadsBackExactly() throws {
        try Fixtures.requireBuiltPipeline()
        guard pyarrowAvailable() else { return }
        let directory = try Fixtures.emptyDirectory("parquet-configs")
        let configurations: [(name: String, options: String, encodings: [String], codecs: [String], rowGroups: Int)] = [
            ("defaults", "{}", ["PLAIN", "RLE", "RLE_DICTIONARY"], ["SNAPPY"], 1),
            ("hub", #"{"write_page_index":true,"use_content_defined_chunking":true,"compression":"snappy","use_dictionary":true,"row_group_size":700}"#,
             ["PLAIN", "RLE", "RLE_DICTIONARY"], ["SNAPPY"], 3),
            ("v2-zstd", #"{"data_page_version":"2.0","compression":"zstd","row_group_size":900,"data_page_size":512}"#,
             ["PLAIN", "RLE", "RLE_DICTIONARY"], ["ZSTD"], 3),
            ("plain-uncompressed", #"{"use_dictionary":false,"compression":"none"}"#, ["PLAIN", "RLE"], ["UNCOMPRESSED"], 1),
            ("dictionary-fallback", #"{"dictionary_pagesize_limit":64,"data_page_size":256,"write_batch_size":16,"row_group_size":700}"#,
             ["PLAIN", "RLE", "RLE_DICTIONARY"], ["SNAPPY"], 3),
            ("format-1.0", #"{"version":"1.0","data_page_size":300,"write_batch_size":10}"#,
             ["PLAIN", "PLAIN_DICTIONARY", "RLE"], ["SNAPPY"], 1),
            ("v2-fallback-snappy", #"{"data_page_version":"2.0","dictionary_pagesize_limit":64,"data_page_size":256,"write_batch_size":16}"#,
             ["PLAIN", "RLE", "RLE_DICTIONARY"], ["SNAPPY"], 1),
        ]
        for configuration in configurations {
            let parquet = directory.appendingPathComponent("\(configuration.name).parquet").path
            try make("all", parquet, rows: 2000, options: configuration.options)
            let described = try describe(parquet)
            #expect(described["encodings"] as? [String] == configuration.encodings, "\(configuration.name): \(described)")
            #expect(described["codecs"] as? [String] == configuration.codecs, "\(configuration.name): \(described)")
            #expect(described["row_groups"] as? Int == configuration.rowGroups, "\(configuration.name): \(described)")
            let result = try runLoad(parquet, in: directory, batchSize: 333)
            #expect(result.status == 0, "\(configuration.name): \(result.output)")
            try expectSameRows(parquet, result.jsonl, configuration.name)
        }
    }

    /// The data pages of a list leaf's first chunk: how many start in the
    /// middle of a row (their first repetition level is above 0), and the
    /// encodings they use.
    private func scanPages(_ parquet: String, leaf path: String) throws -> (pages: Int, midRow: Int, encodings: Set<String>) {
        let file = try ParquetFileReader(path: parquet)
        let leaf = try #require(file.leaves.firstIndex { $0.dottedPath == path })
        let chunk = file.metadata.rowGroups[0].columns[leaf]
        let meta = try #require(chunk.metaData)
        let (offset, count) = try file.chunkRange(chunk)
        let bytes = try file.read(at: offset, count: count)
        var midRow = 0, pages = 0, encodings = Set<String>()
        try bytes.withUnsafeBytes { raw in
            var position = 0
            var seen: Int64 = 0
            while seen < meta.numValues {
                var reader = ThriftCompactReader(raw, position: position)
                let header = try PageHeader.decode(&reader)
                let body = UnsafeRawBufferPointer(rebasing: raw[reader.position..<reader.position + Int(header.compressedPageSize)])
                position = reader.position + Int(header.compressedPageSize)
                guard let v1 = header.dataPageHeader else { continue }
                seen += Int64(v1.numValues)
                encodings.insert(v1.encoding.name)
                pages += 1
                let page = try PageCompression.decompress(body, codec: meta.codec, uncompressedSize: Int(header.uncompressedPageSize))
                try page.withUnsafeBytes { page in
                    let length = Int(page.loadUnaligned(as: UInt32.self))
                    var levels = try RLEHybridDecoder(UnsafeRawBufferPointer(rebasing: page[4..<4 + length]), bitWidth: 1,
                                                      what: "repetition levels")
                    if try levels.decode(1, as: UInt8.self, maxValue: 1)[0] > 0 { midRow += 1 }
                }
            }
        }
        return (pages, midRow, encodings)
    }

    /// pyarrow's dictionary fallback mixes RLE_DICTIONARY and PLAIN pages in
    /// one chunk (read above); pyarrow 26 ends even v1 pages at row
    /// boundaries, so pages that start in the middle of a row come from a
    /// file made by hand (three pages, two of them starting mid-row), which
    /// pyarrow and load_parquet read alike.
    @Test func mixedEncodingChunksAndPagesStartingMidRow() throws {
        try Fixtures.requireBuiltPipeline()
        guard pyarrowAvailable() else { return }
        let directory = try Fixtures.emptyDirectory("parquet-pages")
        let fallback = directory.appendingPathComponent("fallback.parquet").path
        try make("all", fallback, rows: 2000,
                 options: #"{"dictionary_pagesize_limit":64,"data_page_size":256,"write_batch_size":16,"row_group_size":700}"#)
        let scanned = try scanPages(fallback, leaf: "tags.list.element")
        #expect(scanned.pages > 10 && scanned.encodings == ["RLE_DICTIONARY", "PLAIN"], "\(scanned)")
        let midRow = directory.appendingPathComponent("mid-row.parquet").path
        try make("mid_row_pages", midRow)
        let pages = try scanPages(midRow, leaf: "tags.list.element")
        #expect(pages.pages == 3 && pages.midRow == 2, "\(pages)")
        let result = try runLoad(midRow, in: directory, batchSize: 2)
        #expect(result.status == 0, "\(result.output)")
        try expectSameRows(midRow, result.jsonl, "mid-row pages")
        #expect(try String(contentsOfFile: result.jsonl, encoding: .utf8)
                == #"{"tags":[1,2,3]}\#n{"tags":[4,null,5]}\#n{"tags":null}\#n{"tags":[]}\#n{"tags":[6]}\#n"#)
    }

    /// Legacy two-level lists (made by hand; pyarrow reads them as the
    /// maker asserts), DELTA_BINARY_PACKED and DELTA_LENGTH_BYTE_ARRAY.
    @Test func twoLevelListsAndDeltaEncodingsReadBackExactly() throws {
        try Fixtures.requireBuiltPipeline()
        guard pyarrowAvailable() else { return }
        let directory = try Fixtures.emptyDirectory("parquet-legacy")
        for kind in ["two_level", "delta"] {
            let parquet = directory.appendingPathComponent("\(kind).parquet").path
            try make(kind, parquet, rows: 3000)
            let result = try runLoad(parquet, in: directory)
            #expect(result.status == 0, "\(kind): \(result.output)")
            try expectSameRows(parquet, result.jsonl, kind)
        }
    }

    /// `columns:` reads only those (in that order), `limit` the first rows;
    /// a name the file lacks fails listing the file's columns.
    @Test func columnsAndLimit() throws {
        try Fixtures.requireBuiltPipeline()
        guard pyarrowAvailable() else { return }
        let directory = try Fixtures.emptyDirectory("parquet-columns")
        let parquet = directory.appendingPathComponent("all.parquet").path
        try make("all", parquet, rows: 1500, options: #"{"row_group_size":400}"#)
        let result = try runLoad(parquet, in: directory, with: ", columns: [messages, id, meta], limit: 1001")
        #expect(result.status == 0, "\(result.output)")
        try expectSameRows(parquet, result.jsonl, columns: ["messages", "id", "meta"], limit: 1001, "columns")
        let missing = try runLoad(parquet, in: directory, with: ", columns: [id, nope]")
        #expect(missing.status != 0)
        #expect(missing.output.contains(#"has no column \"nope\" (its columns: \"id\", \"i32\", \"flag\""#), "\(missing.output)")
        #expect(!FileManager.default.fileExists(atPath: missing.jsonl))
    }

    /// DELTA_BYTE_ARRAY, INT96, timestamps, binary: the step fails before
    /// any row, naming the feature, the column and the file; no output file.
    /// A dictionary index past the dictionary is corrupt data, named.
    @Test func unsupportedFeaturesAndBadIndicesFailNamingColumnAndFile() throws {
        try Fixtures.requireBuiltPipeline()
        guard pyarrowAvailable() else { return }
        let directory = try Fixtures.emptyDirectory("parquet-unsupported")
        let cases: [(kind: String, message: String)] = [
            ("delta_byte_array", "row group 0, column s: unsupported Parquet feature: the encoding DELTA_BYTE_ARRAY"),
            ("int96", "column ts: unsupported Parquet feature: INT96"),
            ("timestamp", "column ts: unsupported Parquet feature: timestamps (INT64 column ts)"),
            ("binary", "column blob: unsupported Parquet feature: binary values (BYTE_ARRAY without the STRING annotation)"),
            ("bad_dictionary_index", "row group 0, column s: page 1: corrupt Parquet: the dictionary index 5 is past the dictionary of 2 values"),
        ]
        for (kind, message) in cases {
            let parquet = directory.appendingPathComponent("\(kind).parquet").path
            try make(kind, parquet, rows: 50)
            let result = try runLoad(parquet, in: directory)
            #expect(result.status == 1, "\(kind): \(result.output)")
            #expect(result.output.contains("step load: \(parquet): \(message)"), "\(kind): \(result.output)")
            #expect(!FileManager.default.fileExists(atPath: result.jsonl), "\(kind): an output file was written")
        }
        // Leaving the unsupported column out reads the rest.
        let parquet = directory.appendingPathComponent("int96.parquet").path
        let result = try runLoad(parquet, in: directory, with: ", columns: [id]")
        #expect(result.status == 0, "\(result.output)")
        try expectSameRows(parquet, result.jsonl, columns: ["id"], "int96 without ts")
    }

    /// 200,000 rows of chat messages in several row groups read back exactly
    /// through the binary; peak RSS is reported, and bounded generously.
    @Test func twoHundredThousandMessageRowsReadBackExactly() throws {
        try Fixtures.requireBuiltPipeline()
        guard pyarrowAvailable() else { return }
        let directory = try Fixtures.emptyDirectory("parquet-large")
        let parquet = directory.appendingPathComponent("messages.parquet").path
        try make("messages", parquet, rows: 200_000, options: #"{"row_group_size":50000}"#)
        let size = (try FileManager.default.attributesOfItem(atPath: parquet)[.size] as? Int) ?? 0
        let pipeline = """
            name: parquet-large
            steps:
              - name: load
                uses: load_parquet
                with: {path: \(parquet)}
                batch_size: 1000
              - name: save
                uses: write_jsonl
                input: load
                with: {path: out.jsonl}
            """
        let file = directory.appendingPathComponent("large.yaml")
        try pipeline.write(to: file, atomically: true, encoding: .utf8)
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try Fixtures.run(Fixtures.pipelineBinary, ["run", file.path, "--run-dir", runDirectory])
        #expect(result.status == 0, "\(result.output)")
        try expectSameRows(parquet, runDirectory + "/out.jsonl", "200k messages")
        // The run's own peak RSS (getrusage), as summary.json reports it.
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: runDirectory + "/summary.json")))
        let bytes = try #require((summary as? [String: Any])?["peak_rss_bytes"] as? NSNumber, "no peak_rss_bytes in summary.json")
        let peak = bytes.intValue / 1024
        print("parquet 200k messages: file \(size) bytes, peak RSS \(peak / 1024) MiB")
        // One row group of 50,000 rows is a few tens of MB; 1 GiB means the whole file is held several times.
        #expect(peak < 1024 * 1024, "peak RSS \(peak / 1024) MiB")
    }

    /// Every data page's num_values, by leaf column (dotted path), over
    /// every chunk of the file (page headers read here, apart from the reader).
    private func dataPageValueCounts(_ parquet: String) throws -> [String: [Int]] {
        let file = try ParquetFileReader(path: parquet)
        var counts: [String: [Int]] = [:]
        for group in file.metadata.rowGroups {
            for (leaf, chunk) in group.columns.enumerated() {
                let meta = try #require(chunk.metaData)
                let (offset, count) = try file.chunkRange(chunk)
                let bytes = try file.read(at: offset, count: count)
                try bytes.withUnsafeBytes { raw in
                    var position = 0
                    var seen: Int64 = 0
                    while seen < meta.numValues {
                        var reader = ThriftCompactReader(raw, position: position)
                        let header = try PageHeader.decode(&reader)
                        position = reader.position + Int(header.compressedPageSize)
                        let values = header.dataPageHeader.map { Int($0.numValues) }
                            ?? header.dataPageHeaderV2.map { Int($0.numValues) }
                        guard let values else { continue }
                        seen += Int64(values)
                        counts[file.leaves[leaf].dottedPath, default: []].append(values)
                    }
                }
            }
        }
        return counts
    }

    /// One row group of 6,000 rows in small pages (v1 snappy, v2 zstd): the
    /// rows read back exactly through the binary, in batches that span many
    /// pages; in process, the reader reads every data page once and never
    /// holds more level entries of a column than that column's largest page
    /// has (a chunk of many pages is never held whole). The hand-made file
    /// whose pages start in the middle of rows reads one row at a time
    /// holding one page (at most 4 entries) at once.
    @Test func oneLargeRowGroupIsReadAPageAtATime() throws {
        try Fixtures.requireBuiltPipeline()
        guard pyarrowAvailable() else { return }
        let directory = try Fixtures.emptyDirectory("parquet-page-at-a-time")
        let rows = 6000
        for (name, options) in [("v1-snappy", #"{"data_page_size":2048,"write_batch_size":40}"#),
                                ("v2-zstd", #"{"data_page_version":"2.0","compression":"zstd","data_page_size":2048,"write_batch_size":40}"#)] {
            let parquet = directory.appendingPathComponent("\(name).parquet").path
            try make("all", parquet, rows: rows, options: options)
            #expect(try describe(parquet)["row_groups"] as? Int == 1, "\(name)")
            let result = try runLoad(parquet, in: directory, batchSize: 1000)
            #expect(result.status == 0, "\(name): \(result.output)")
            try expectSameRows(parquet, result.jsonl, name)

            let pages = try dataPageValueCounts(parquet)
            let content = try #require(pages["messages.list.element.content"])
            #expect(content.count >= 10, "\(name): messages' content in \(content.count) pages")
            let reader = try ParquetBatchReader(path: parquet)
            var read = 0
            while let batch = try reader.next(maxRows: 1000) { read += batch.length }
            #expect(read == rows)
            #expect(reader.pagesRead == pages.values.reduce(0) { $0 + $1.count },
                    "\(name): \(reader.pagesRead) pages read")
            let held = reader.mostEntriesHeld
            #expect(Set(held.keys) == Set(pages.keys), "\(name): \(held.keys.sorted())")
            for (leaf, counts) in pages {
                let most = held[leaf] ?? -1
                #expect(most > 0 && most <= counts.max() ?? 0,
                        "\(name): \(leaf) held \(most) entries at once; its largest of \(counts.count) pages has \(counts.max() ?? 0)")
            }
        }
        let midRow = directory.appendingPathComponent("mid-row.parquet").path
        try make("mid_row_pages", midRow)
        let reader = try ParquetBatchReader(path: midRow)
        var lengths: [Int] = []
        while let batch = try reader.next(maxRows: 1) { lengths.append(batch.length) }
        #expect(lengths == [1, 1, 1, 1, 1] && reader.pagesRead == 3 && reader.mostEntriesHeld == ["tags.list.element": 4],
                "\(lengths), \(reader.pagesRead) pages, \(reader.mostEntriesHeld) entries held")
    }

    // MARK: In process

    /// NaN, -0.0 and infinities come through as such (JSON Lines cannot
    /// show them); the Arrow types follow the table in PluginParquet.swift;
    /// batches never cross row groups and add up to the footer's count.
    @Test func readerValuesAndTypes() throws {
        guard pyarrowAvailable() else { return }
        let directory = try Fixtures.emptyDirectory("parquet-inprocess")
        let parquet = directory.appendingPathComponent("all.parquet").path
        try make("all", parquet, rows: 1200, options: #"{"row_group_size":500}"#)
        let reader = try ParquetBatchReader(path: parquet)
        #expect(reader.rowCount == 1200)
        let types = Dictionary(uniqueKeysWithValues: reader.fields.map { ($0.name, $0.type.displayName) })
        #expect(types["id"] == "int64")
        #expect(types["i32"] == "int64")
        #expect(types["flag"] == "bool")
        #expect(types["f32"] == "float32")
        #expect(types["f64"] == "float64")
        #expect(types["text"] == "utf8")
        #expect(types["big"] == "utf8")
        #expect(types["tags"] == "list<utf8>")
        #expect(types["emb"] == "list<float32>")
        #expect(types["messages"] == "list<struct<role: utf8, content: utf8>>")
        #expect(types["meta"] == "struct<a: int64, b: list<int64>>")
        #expect(types["nested"] == "list<list<int64>>")
        #expect(types["u64"] == "uint64")
        #expect(types["u32"] == "int64")
        #expect(types["i8"] == "int64")
        #expect(types["req"] == "int64")
        #expect(types["vec"] == "list<float32>")
        #expect(types["j"] == "utf8")
        let fields = Dictionary(uniqueKeysWithValues: reader.fields.map { ($0.name, $0) })
        #expect(fields["id"]?.nullable == true && fields["req"]?.nullable == false && fields["vec"]?.nullable == false)
        #expect(fields["vec"]?.type.children.first?.nullable == false && fields["emb"]?.type.children.first?.nullable == true)
        #expect(fields["j"]?.isJSONText == true && fields["text"]?.isJSONText == false)
        var sizes: [Int] = []
        var nans = 0, negativeZeros = 0, infinities = 0, nulls = 0
        while let batch = try reader.next(maxRows: 170) {
            sizes.append(batch.length)
            let f32 = try #require(batch.column("f32"))
            let f64 = try #require(batch.column("f64"))
            for row in 0..<batch.length {
                if f64.isValid(row) && f64.float64(row).isInfinite { infinities += 1 }
                if !f32.isValid(row) { nulls += 1; continue }
                if f32.float32(row).isNaN { nans += 1 }
                if f32.float32(row) == 0 && f32.float32(row).sign == .minus { negativeZeros += 1 }
            }
        }
        #expect(sizes.reduce(0, +) == 1200)
        // 500-row groups in batches of 170: 170, 170, 160, then again.
        #expect(sizes.prefix(3) == [170, 170, 160], "\(sizes)")
        #expect(nans > 0 && negativeZeros > 0 && infinities > 0 && nulls > 0, "\(nans) \(negativeZeros) \(infinities) \(nulls)")
        // The maker's pyarrow agrees on how many NaN, -0.0 and null there are.
        let script = """
            import pyarrow.parquet as pq, math, struct
            t = pq.read_table('\(parquet)')
            f32 = t.column('f32').to_pylist(); f64 = t.column('f64').to_pylist()
            print(sum(1 for v in f32 if v is not None and math.isnan(v)), sum(1 for v in f32 if v == 0 and math.copysign(1, v) < 0),
                  sum(1 for v in f64 if v is not None and math.isinf(v)), sum(1 for v in f32 if v is None))
            """
        let counts = try Spawned(Self.python, ["-c", script]).wait()
        #expect(counts.output.trimmingCharacters(in: .whitespacesAndNewlines) == "\(nans) \(negativeZeros) \(infinities) \(nulls)")
    }

    /// Unknown fields of every Thrift type are skipped (a newer writer's
    /// additions); lengths, container sizes and depth are bounded.
    @Test func thriftSkipsEveryTypeAndBoundsWhatItReads() throws {
        var bytes: [UInt8] = [0x15, 0x0A]                                   // 1: i32 5
        bytes += [0x07, 0x28] + [UInt8](repeating: 0x40, count: 8)          // 20: double (long form)
        bytes += [0x1B, 0x02, 0x58, 0x02, 0x01, 0x61, 0x04, 0x00]          // 21: map<i32, binary> of 2
        bytes += [0x1A, 0x25, 0x02, 0x04]                                   // 22: set<i32> of 2
        bytes += [0x1D] + [UInt8](repeating: 0xAB, count: 16)               // 23: uuid
        bytes += [0x19, 0x31, 0x01, 0x02, 0x01]                             // 24: list<bool> of 3
        bytes += [0x1C, 0x19, 0x1C, 0x16, 0x02, 0x00, 0x00]                 // 25: struct { list<struct { i64 }> }
        bytes += [0x13, 0x7F, 0x14, 0x03, 0x11]                             // 26: i8, 27: i16, 28: bool true
        bytes += [0x08, 0x04, 0x01, 0x78, 0x00]                             // 2: binary "x" (long form), stop
        func decode(_ bytes: [UInt8]) throws(ParquetError) -> (Int32?, String?, Int) {
            var number: Int32?, text: String?
            let result: Result<Int, ParquetError> = bytes.withUnsafeBytes { raw in
                var reader = ThriftCompactReader(raw)
                do throws(ParquetError) {
                    try reader.readStruct { (r, id, type) throws(ParquetError) in
                        switch id {
                        case 1: number = try r.readI32()
                        case 2: text = try r.readString()
                        default: try r.skip(type)
                        }
                    }
                    return .success(reader.remaining)
                } catch {
                    return .failure(error)
                }
            }
            return (number, text, try result.get())
        }
        let (number, text, left) = try decode(bytes)
        #expect(number == 5 && text == "x" && left == 0)
        for cut in [1, 5, 20, 40, bytes.count - 1] {
            #expect(throws: ParquetError.self) { _ = try decode(Array(bytes.prefix(cut))) }
        }
        let deep = [UInt8](repeating: 0x3C, count: 100) + [UInt8](repeating: 0x00, count: 101)   // field 3: struct, 100 deep
        #expect { _ = try decode(deep) } throws: { "\($0)".contains("nested deeper than 64") }
        let huge: [UInt8] = [0x39, 0xF5, 0x80, 0x94, 0xEB, 0xDC, 0x03, 0x00]  // field 3: a list of 1,000,000,000 i32
        #expect { _ = try decode(huge) } throws: { "\($0)".contains("the limit is 1000000") }
        let longString: [UInt8] = [0x38, 0x10, 0x61, 0x00]                  // field 3: 16 bytes said, 2 there
        #expect { _ = try decode(longString) } throws: { "\($0)".contains("a Thrift binary of 16 bytes where 2 are left") }
    }

    /// The hybrid decoder on the bytes pyarrow writes (research note §3.3):
    /// a bit-packed group, an RLE run, width 0, and data that ends early.
    @Test func rleHybridDecoding() throws {
        func decode(_ bytes: [UInt8], width: Int, count: Int, max: UInt32 = .max) throws -> [UInt32] {
            try bytes.withUnsafeBytes { raw in
                var decoder = try RLEHybridDecoder(raw, bitWidth: width, what: "test values")
                return try decoder.decode(count, as: UInt32.self, maxValue: max)
            }
        }
        #expect(try decode([0x03, 0x05], width: 1, count: 3) == [1, 0, 1])
        #expect(try decode([0x06, 0x01], width: 1, count: 3) == [1, 1, 1])
        #expect(try decode([0x08], width: 0, count: 4) == [0, 0, 0, 0])
        // Width 3, one group of 8: 0...7 packed LSB first.
        #expect(try decode([0x03, 0x88, 0xC6, 0xFA], width: 3, count: 8) == [0, 1, 2, 3, 4, 5, 6, 7])
        // An RLE run of 300 (varint header) of the 2-byte value 0x1234.
        #expect(try decode([0xD8, 0x04, 0x34, 0x12], width: 13, count: 300) == [UInt32](repeating: 0x1234, count: 300))
        #expect(throws: ParquetError.self) { _ = try decode([0x03], width: 8, count: 2) }
        #expect(throws: ParquetError.self) { _ = try decode([0x06, 0x03], width: 2, count: 3, max: 2) }
        #expect(throws: ParquetError.self) { _ = try decode([0x06], width: 1, count: 3) }
    }

    /// Damaged files: a clean error naming the file, never a trap.
    @Test func damagedFilesGiveCleanErrors() throws {
        guard pyarrowAvailable() else { return }
        let directory = try Fixtures.emptyDirectory("parquet-damaged")
        let parquet = directory.appendingPathComponent("good.parquet").path
        try make("all", parquet, rows: 300)
        let good = try Data(contentsOf: URL(fileURLWithPath: parquet))
        func read(_ bytes: Data, _ label: String) -> String {
            let path = directory.appendingPathComponent("\(label).parquet").path
            FileManager.default.createFile(atPath: path, contents: bytes)
            do {
                let reader = try ParquetBatchReader(path: path)
                while try reader.next(maxRows: 1000) != nil {}
                return "read"
            } catch {
                return "\(error)"
            }
        }
        var truncated = good
        truncated.removeLast(10)
        #expect(read(truncated, "truncated").contains("does not end in PAR1"))
        var pare = good
        pare.replaceSubrange(pare.count - 4..<pare.count, with: Array("PARE".utf8))
        #expect(read(pare, "pare").contains("unsupported Parquet feature: encryption"))
        var longFooter = good
        longFooter.replaceSubrange(longFooter.count - 8..<longFooter.count - 4, with: [0xff, 0xff, 0xff, 0x0f])
        #expect(read(longFooter, "long-footer").contains("corrupt Parquet: a footer of"))
        var tooShort = Data("PAR1".utf8)
        tooShort.append(contentsOf: [0, 0, 0, 0])
        tooShort.append(contentsOf: Array("PAR1".utf8))
        #expect(read(tooShort, "short").contains("corrupt Parquet: a footer of 0 bytes in a file of 12"))
        // Every single-byte change in the footer: an error or the same rows, never a crash.
        let footerLength = Int(good[good.count - 8]) | Int(good[good.count - 7]) << 8
        var outcomes = Set<String>()
        for offset in stride(from: good.count - 8 - footerLength, to: good.count - 8, by: 7) {
            var damaged = good
            damaged[offset] ^= 0x5a
            let message = read(damaged, "flip")
            outcomes.insert(String(message.replacingOccurrences(of: directory.path, with: "").prefix(60)))
        }
        #expect(outcomes.contains { $0.contains("corrupt Parquet") }, "\(outcomes)")
    }
}
