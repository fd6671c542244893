import Foundation
import Logging
import PipelineArrow
import Testing

@testable import PipelineCore
@testable import PipelineJSON
@testable import PipelineHost

/// The C plugin Plugins/deita_filter, compiled with cc, dlopen'ed and driven
/// through StepInstance as a global step (batches in `process`, rows out of
/// `finish`). Every expected selection below is worked out by hand.
@Suite("DeitaFilter")
struct DeitaFilterTests {
    struct Row {
        var id: Int64
        var c: Double?
        var q: Double?
        var v: [Float]
    }

    private func descriptor() throws -> StepDescriptor {
        let registry = PluginRegistry.load(PluginSearchPath(entries: [try Fixtures.library("Plugins/deita_filter/deita_filter.c")]))
        #expect(registry.problems.isEmpty, "\(registry.problems)")
        return try registry.step("org.pipeline.deita_filter")
    }

    /// A batch with columns id, complexity_score, quality_score (float64, or
    /// int64 with `integers`), embedding and text ("t<id>").
    private func batch(_ rows: [Row], integers: Bool = false, withQuality: Bool = true) throws -> RecordBatch {
        let width = rows.first?.v.count ?? 2
        let scoreType: ArrowType = integers ? .int64 : .float64
        let ids = ColumnBuilder(.int64), cs = ColumnBuilder(scoreType), qs = ColumnBuilder(scoreType)
        let es = ColumnBuilder(.embedding(width: width)), texts = ColumnBuilder(.utf8)
        func put(_ builder: ColumnBuilder, _ value: Double?) {
            guard let value else { builder.appendNull(); return }
            if integers { builder.append(Int64(value)) } else { builder.append(value) }
        }
        for row in rows {
            ids.append(row.id)
            put(cs, row.c)
            put(qs, row.q)
            row.v.withUnsafeBufferPointer { es.append(vector: $0) }
            texts.append("t\(row.id)")
        }
        var fields = [ArrowField("id", .int64), ArrowField("complexity_score", scoreType)]
        var columns = [ids.finish(), cs.finish()]
        let q = qs.finish()
        if withQuality {
            fields.append(ArrowField("quality_score", scoreType))
            columns.append(q)
        }
        fields += [ArrowField("embedding", .embedding(width: width)), ArrowField("text", .utf8)]
        columns += [es.finish(), texts.finish()]
        return try RecordBatch(fields: fields, columns: columns)
    }

    struct Selected {
        var ids: [Int64] = []
        var scores: [Double] = []
        var distances: [Double] = []
        var texts: [String] = []
        var vectors: [[Float]] = []
        var fieldNames: [String] = []
    }

    /// Pushes the batches one by one, then drains finish.
    private func run(_ batches: [RecordBatch], _ parameters: [String: JSONValue], logs: LogCapture? = nil) throws -> Selected {
        let step = try descriptor()
        let instance: StepInstance
        if let logs {
            instance = try StepInstance(step, parameters: parameters,
                                        logger: Logger(label: "test") { _ in CaptureHandler(capture: logs) })
        } else {
            instance = try StepInstance(step, parameters: parameters)
        }
        for input in batches { #expect(try instance.process(input) == nil) }
        var result = Selected()
        while let output = try instance.finish() {
            result.fieldNames = output.fields.map(\.name)
            let id = try #require(output.column("id")), score = try #require(output.column("deita_score"))
            let distance = try #require(output.column("nearest_distance")), text = try #require(output.column("text"))
            let embedding = try #require(output.column("embedding"))
            for i in 0..<output.length {
                result.ids.append(id.int64(i))
                result.scores.append(score.float64(i))
                result.distances.append(distance.float64(i))
                result.texts.append(text.string(i) ?? "?")
                result.vectors.append(embedding.valueRange(i).map { embedding.items.float32($0) })
            }
        }
        return result
    }

    private func close(_ a: [Double], _ b: [Double], _ eps: Double = 1e-6) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= eps }
    }

    // MARK: The paper's rule

    @Test func paperKeepsRowsFarFromTheKeptOnes() throws {
        let logs = LogCapture()
        let rows = [
            Row(id: 0, c: 2, q: 5, v: [1, 0]),          // 10: first, kept
            Row(id: 1, c: 3, q: 3, v: [0.99, 0.141]),   // 9: 8 degrees from row 0, dropped
            Row(id: 2, c: 2, q: 4, v: [0, 1]),          // 8: orthogonal to row 0, kept
            Row(id: 3, c: 1, q: 1, v: [1, 1]),          // 1: 45 degrees from both, kept
            Row(id: 4, c: nil, q: 9, v: [-1, 0]),       // no complexity: never selectable
        ]
        let out = try run([try batch(rows)], ["budget": .number(10)], logs: logs)
        #expect(out.ids == [0, 2, 3])
        #expect(out.scores == [10, 8, 1])
        #expect(close(out.distances, [2.0, 1.0, 1 - 1 / 2.0.squareRoot()]))
        #expect(out.texts == ["t0", "t2", "t3"])
        #expect(out.vectors == [[1, 0], [0, 1], [1, 1]])
        #expect(out.fieldNames == ["id", "complexity_score", "quality_score", "embedding", "text", "deita_score", "nearest_distance"])
        #expect(logs.messages(.info).contains { $0.contains("5 rows in, 1 without") && $0.contains("3 selected") })

        // The budget stops the walk.
        #expect(try run([try batch(rows)], ["budget": .number(2)]).ids == [0, 2])
    }

    @Test func paperAndDistilabelDiffer() throws {
        // B is 0.05 away from A, C is far from both (threshold 0.1).
        let rows = [
            Row(id: 0, c: 2, q: 5, v: [1, 0]),              // A, 10
            Row(id: 1, c: 3, q: 3, v: [0.95, 0.3122499]),   // B, 9
            Row(id: 2, c: 2, q: 4, v: [0, 1]),              // C, 8
        ]
        // paper: A kept, B within 0.05 of A dropped, C kept.
        let paper = try run([try batch(rows)], ["budget": .number(10), "threshold": .number(0.1)])
        #expect(paper.ids == [0, 2])
        // distilabel: A and B are each other's nearest neighbour (0.05 < 0.1): both dropped.
        let distilabel = try run([try batch(rows)], ["budget": .number(10), "threshold": .number(0.1),
                                                     "method": .string("distilabel")])
        #expect(distilabel.ids == [2])
        #expect(close(distilabel.distances, [1 - 0.3122499 / (0.95 * 0.95 + 0.3122499 * 0.3122499).squareRoot()], 1e-5))
    }

    @Test func tiesKeepInputOrder() throws {
        // All scores 1 (int64 columns); rows 1 and 3 are parallel to row 0.
        let rows = [
            Row(id: 0, c: 1, q: 1, v: [1, 0]),
            Row(id: 1, c: 1, q: 1, v: [1, 0]),
            Row(id: 2, c: 1, q: 1, v: [0, 1]),
            Row(id: 3, c: 1, q: 1, v: [2, 0]),
        ]
        let out = try run([try batch(rows, integers: true)], ["budget": .number(10)])
        #expect(out.ids == [0, 2])
        #expect(try run([try batch(rows, integers: true)], ["budget": .number(1)]).ids == [0])
        let reversed = try run([try batch(rows.reversed(), integers: true)], ["budget": .number(10)])
        #expect(reversed.ids == [3, 2])
    }

    @Test func zeroVectorsAreAtDistanceOneFromEverything() throws {
        let rows = [
            Row(id: 0, c: 4, q: 1, v: [0, 0]),
            Row(id: 1, c: 3, q: 1, v: [0, 0]),
            Row(id: 2, c: 2, q: 1, v: [1, 0]),
        ]
        let loose = try run([try batch(rows)], ["budget": .number(10), "threshold": .number(0.5)])
        #expect(loose.ids == [0, 1, 2])
        #expect(loose.distances == [2.0, 1.0, 1.0])
        // threshold 1: distance 1 is not > 1.
        #expect(try run([try batch(rows)], ["budget": .number(10), "threshold": .number(1)]).ids == [0])
    }

    @Test func thresholdsZeroAndOne() throws {
        let rows = [
            Row(id: 0, c: 3, q: 1, v: [1, 0]),
            Row(id: 1, c: 2, q: 1, v: [2, 0]),        // same direction: distance 0
            Row(id: 2, c: 1, q: 1, v: [1, 0.001]),    // distance 5e-7
        ]
        let zero = try run([try batch(rows)], ["budget": .number(10), "threshold": .number(0)])
        #expect(zero.ids == [0, 2])
        #expect(zero.distances[1] > 0 && zero.distances[1] < 1e-6)

        let wide = [
            Row(id: 0, c: 3, q: 1, v: [1, 0]),
            Row(id: 1, c: 2, q: 1, v: [0, 1]),        // distance exactly 1: dropped
            Row(id: 2, c: 1, q: 1, v: [-1, 0.1]),     // obtuse: distance > 1
        ]
        let one = try run([try batch(wide)], ["budget": .number(10), "threshold": .number(1)])
        #expect(one.ids == [0, 2])
        #expect(one.distances[1] > 1.99)
        #expect(try run([try batch(wide)], ["budget": .number(10), "threshold": .number(0.99)]).ids == [0, 1])  // row 2 is 0.90 from row 1
    }

    @Test func missingScoresAreCountedAndNeverSelected() throws {
        let logs = LogCapture()
        let rows = [
            Row(id: 0, c: nil, q: 9, v: [1, 0]),
            Row(id: 1, c: 9, q: nil, v: [0, 1]),
            Row(id: 2, c: nil, q: nil, v: [-1, 0]),
            Row(id: 3, c: 0, q: 5, v: [0, -1]),       // 0 is a real score
        ]
        let out = try run([try batch(rows)], ["budget": .number(10)], logs: logs)
        #expect(out.ids == [3])
        #expect(out.scores == [0])
        #expect(logs.messages(.info).contains { $0.contains("4 rows in, 3 without") })

        // No quality column at all: nothing is selectable.
        let absent = LogCapture()
        let none = try run([try batch(rows, withQuality: false)], ["budget": .number(10)], logs: absent)
        #expect(none.ids.isEmpty)
        #expect(absent.messages(.info).contains { $0.contains("4 rows in, 4 without") && $0.contains("0 selected") })
    }

    @Test func budgetLargerThanThePool() throws {
        let rows = [
            Row(id: 0, c: 1, q: 1, v: [1, 0]),
            Row(id: 1, c: 1, q: 2, v: [0, 1]),
            Row(id: 2, c: 1, q: 3, v: [-1, 0]),
        ]
        let out = try run([try batch(rows)], ["budget": .number(100)])
        #expect(out.ids == [2, 1, 0])
        #expect(out.scores == [3, 2, 1])
    }

    @Test func severalInputBatches() throws {
        let rows = [
            Row(id: 0, c: 2, q: 5, v: [2, 0]),
            Row(id: 1, c: 3, q: 3, v: [0.99, 0.141]),
            Row(id: 2, c: 2, q: 4, v: [0, 3]),
            Row(id: 3, c: 1, q: 1, v: [1, 1]),
            Row(id: 4, c: nil, q: 9, v: [-1, 0]),
            Row(id: 5, c: 5, q: 5, v: [-0.5, -0.5]),
        ]
        let batches = [try batch(Array(rows[0..<2])), try batch(Array(rows[2..<3])), try batch(Array(rows[3...]))]
        let out = try run(batches, ["budget": .number(10)])
        #expect(out.ids == [5, 0, 2, 3])
        #expect(out.texts == ["t5", "t0", "t2", "t3"])
        // Embeddings pass through as they came, not normalised.
        #expect(out.vectors == [[-0.5, -0.5], [2, 0], [0, 3], [1, 1]])
        #expect(out.scores == [25, 10, 8, 1])
    }

    // MARK: distilabel's variant

    @Test func distilabelScoreFallbacks() throws {
        let logs = LogCapture()
        let rows = [
            Row(id: 0, c: nil, q: nil, v: [-1, 1]),   // 0
            Row(id: 1, c: 4, q: nil, v: [1, 1]),      // 4 (complexity alone)
            Row(id: 2, c: 0, q: 5, v: [0, 1]),        // 5 (0 is missing: quality alone)
            Row(id: 3, c: 2, q: 3, v: [1, 0]),        // 6
        ]
        let out = try run([try batch(rows)], ["budget": .number(10), "method": .string("distilabel")], logs: logs)
        #expect(out.ids == [3, 2, 1, 0])
        #expect(out.scores == [6, 5, 4, 0])
        #expect(close(out.distances, Array(repeating: 1 - 1 / 2.0.squareRoot(), count: 4)))
        // The whole-pool neighbour: nn distance >= threshold keeps (0.2929 >= 0.2929...).
        #expect(try run([try batch(rows)], ["budget": .number(2), "method": .string("distilabel")]).ids == [3, 2])
        #expect(try run([try batch(rows)], ["budget": .number(10), "method": .string("distilabel"),
                                            "threshold": .number(0.3)]).ids.isEmpty)
    }

    // MARK: Embeddings as lists (load_jsonl turns JSON arrays into list<float64>)

    /// The batch of `rows` with the embedding as list<float64>; rows in `nullRows` get a null list.
    private func listBatch(_ rows: [Row], nullRows: Set<Int64> = [], lengths: [Int64: Int] = [:],
                           nullItem: Int64? = nil) throws -> RecordBatch {
        let ids = ColumnBuilder(.int64), cs = ColumnBuilder(.float64), qs = ColumnBuilder(.float64)
        let es = ColumnBuilder(.float64List), texts = ColumnBuilder(.utf8)
        for row in rows {
            ids.append(row.id)
            if let c = row.c { cs.append(c) } else { cs.appendNull() }
            if let q = row.q { qs.append(q) } else { qs.appendNull() }
            if nullRows.contains(row.id) {
                es.appendNull()
            } else {
                var values = row.v.map(Double.init)
                if let n = lengths[row.id] { values = Array((values + Array(repeating: 0.5, count: n)).prefix(n)) }
                if nullItem == row.id {
                    let items = es.items
                    items.appendNull()
                    for v in values.dropFirst() { items.append(v) }
                    es.append(doubles: [])  // ends the row
                } else {
                    es.append(doubles: values)
                }
            }
            texts.append("t\(row.id)")
        }
        return try RecordBatch(fields: [ArrowField("id", .int64), ArrowField("complexity_score", .float64),
                                        ArrowField("quality_score", .float64), ArrowField("embedding", .float64List),
                                        ArrowField("text", .utf8)],
                               columns: [ids.finish(), cs.finish(), qs.finish(), es.finish(), texts.finish()])
    }

    @Test func listFloat64EmbeddingsSelectLikeFixedOnes() throws {
        let rows = [
            Row(id: 0, c: 2, q: 5, v: [1, 0]),          // 10: first, kept
            Row(id: 1, c: 3, q: 3, v: [0.99, 0.141]),   // 9: 8 degrees from row 0, dropped
            Row(id: 2, c: 2, q: 4, v: [0, 1]),          // 8: orthogonal to row 0, kept
            Row(id: 3, c: 1, q: 1, v: [1, 1]),          // 1: 45 degrees from both, kept
            Row(id: 4, c: 9, q: 9, v: [-1, 0]),         // 81, but a null embedding: not selectable
            Row(id: 5, c: 0.5, q: 1, v: [0.1, 0.25]),   // 0.5: 0.07 from row 2: dropped
        ]
        let logs = LogCapture()
        let step = try descriptor()
        let instance = try StepInstance(step, parameters: ["budget": .number(10)],
                                        logger: Logger(label: "test") { _ in CaptureHandler(capture: logs) })
        // Two batches: the first row of the second is null, so the dimension comes from the first batch.
        #expect(try instance.process(try listBatch(Array(rows[0..<3]))) == nil)
        #expect(try instance.process(try listBatch(Array(rows[3...]).reversed(), nullRows: [4])) == nil)
        var ids: [Int64] = [], distances: [Double] = [], vectors: [[Double?]] = [], types: [String] = []
        while let output = try instance.finish() {
            let id = try #require(output.column("id")), distance = try #require(output.column("nearest_distance"))
            let embedding = try #require(output.column("embedding"))
            types.append(embedding.type.displayName)
            for i in 0..<output.length {
                ids.append(id.int64(i))
                distances.append(distance.float64(i))
                vectors.append(embedding.float64List(i) ?? [])
            }
        }
        #expect(ids == [0, 2, 3])
        #expect(close(distances, [2.0, 1.0, 1 - 1 / 2.0.squareRoot()]))
        #expect(types == ["list<float64>"])
        #expect(vectors == [[1, 0], [0, 1], [1, 1]])
        #expect(logs.messages(.info).contains { $0.contains("6 rows in") && $0.contains("1 with a null embedding") && $0.contains("3 selected") })

        // The same rows as fixed_size_list<float32> select the same rows.
        #expect(try run([try batch(Array(rows[0..<4]) + [rows[5]])], ["budget": .number(10)]).ids == [0, 2, 3])
    }

    @Test func listEmbeddingsOfAnotherLengthOrWithNullsFailTheStep() throws {
        let rows = [Row(id: 0, c: 2, q: 5, v: [1, 0]), Row(id: 1, c: 3, q: 3, v: [0, 1]), Row(id: 2, c: 1, q: 1, v: [1, 1])]
        let step = try descriptor()
        let longer = try StepInstance(step, parameters: ["budget": .number(10)])
        #expect(try longer.process(try listBatch(Array(rows[0..<2]))) == nil)
        let error = #expect(throws: PluginError.self) { try longer.process(try listBatch([rows[2]], lengths: [2: 3])) }
        #expect(error?.description.contains("different length") == true, "\(String(describing: error))")

        let shorter = try StepInstance(step, parameters: ["budget": .number(10)])
        #expect(throws: PluginError.self) { try shorter.process(try listBatch(rows, lengths: [1: 1])) }

        let empty = try StepInstance(step, parameters: ["budget": .number(10)])
        #expect(throws: PluginError.self) { try empty.process(try listBatch(rows, lengths: [0: 0])) }

        let nullItem = try StepInstance(step, parameters: ["budget": .number(10)])
        let nullError = #expect(throws: PluginError.self) { try nullItem.process(try listBatch(rows, nullItem: 1)) }
        #expect(nullError?.description.contains("null value") == true, "\(String(describing: nullError))")
    }

    @Test func rejectsBadInput() throws {
        let step = try descriptor()
        let instance = try StepInstance(step, parameters: ["budget": .number(3), "embedding_column": .string("vec")])
        #expect(throws: PluginError.self) { try instance.process(try batch([Row(id: 0, c: 1, q: 1, v: [1, 0])])) }
    }
}
