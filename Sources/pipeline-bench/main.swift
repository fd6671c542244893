// pipeline-bench: throughput of batches crossing the plugin ABI.
//
//   pipeline-bench abi --plugin PATH [--rows N] [--seconds S]
//
// Measures, in one process and one run:
//   baseline   export a batch as an Arrow C struct array and import it back
//              (the host's share of every plugin call, no plugin code);
//   C plugin   the same batch through text_filter's process() (keeps every
//              row, so it copies every value) and back into the host.
// Reports rows/s and ns/row. Not a test: numbers, not pass/fail.

import CPipelineABI
import Foundation
import PipelineArrow
import PipelineCore
import PipelineHost

struct Options {
    var plugin: String?
    var rows = 10_000
    var seconds = 2.0
}

func parseOptions() -> Options {
    var options = Options()
    var arguments = CommandLine.arguments.dropFirst()
    guard arguments.first == "abi" else {
        FileHandle.standardError.write(Data("usage: pipeline-bench abi --plugin PATH [--rows N] [--seconds S]\n".utf8))
        exit(2)
    }
    arguments = arguments.dropFirst()
    while let flag = arguments.popFirst() {
        let value = arguments.popFirst() ?? ""
        switch flag {
        case "--plugin": options.plugin = value
        case "--rows": options.rows = Int(value) ?? options.rows
        case "--seconds": options.seconds = Double(value) ?? options.seconds
        default:
            FileHandle.standardError.write(Data("unknown option \(flag)\n".utf8))
            exit(2)
        }
    }
    return options
}

/// Short instruction-like texts of 20–60 bytes, a row id, and a score.
func makeBatch(rows: Int) throws -> RecordBatch {
    let ids = ColumnBuilder(.uint64)
    let texts = ColumnBuilder(.utf8)
    let words = ["explain", "the", "reason", "why", "compare", "write", "a", "short", "poem", "about", "rivers", "sort"]
    for row in 0..<rows {
        ids.append(UInt64(row))
        var text = "row \(row):"
        var k = row
        while text.utf8.count < 20 + row % 40 {
            text += " " + words[k % words.count]
            k = k / 3 + 7
        }
        texts.append(text)
    }
    return try RecordBatch([("_row_id", ids.finish()), ("text", texts.finish())])
}

func measure(_ label: String, rows: Int, seconds: Double, _ body: () throws -> Int) rethrows -> (String, Double) {
    _ = try body()  // warm up
    var iterations = 0
    var checked = 0
    let start = DispatchTime.now().uptimeNanoseconds
    var elapsed = 0.0
    repeat {
        checked += try body()
        iterations += 1
        elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    } while elapsed < seconds
    precondition(checked == iterations * rows, "\(label): lost rows (\(checked) of \(iterations * rows))")
    let rate = Double(iterations * rows) / elapsed
    return (label, rate)
}

let options = parseOptions()
guard let pluginPath = options.plugin else {
    FileHandle.standardError.write(Data("--plugin PATH is required\n".utf8))
    exit(2)
}
var registry = PluginRegistry()
registry.add(path: pluginPath)
if let problem = registry.problems.first {
    FileHandle.standardError.write(Data("\(problem)\n".utf8))
    exit(1)
}
guard let step = registry.steps.first else { exit(1) }

let batch = try makeBatch(rows: options.rows)
let bytes = (0..<batch.length).reduce(0) { $0 + batch.columns[1].utf8Bytes($1).count }
var results: [(String, Double)] = []

results.append(measure("baseline: export + import, no plugin", rows: options.rows, seconds: options.seconds) {
    var schema = ArrowSchema()
    var array = ArrowArray()
    batch.export(schema: &schema, array: &array)
    return (try? RecordBatch.importing(schema: &schema, array: &array))?.length ?? 0
})

let instance = try StepInstance(step, parameters: ["min_chars": .number(0)])
results.append(try measure("C plugin \(step.name) (copies every row)", rows: options.rows, seconds: options.seconds) {
    try instance.process(batch)?.length ?? 0
})

print("ABI throughput: \(options.rows)-row batches of _row_id uint64 + text utf8 (mean \(bytes / options.rows) bytes)")
for (label, rate) in results {
    let line = label.padding(toLength: 44, withPad: " ", startingAt: 0)
    print("  \(line) \(String(format: "%8.2f", rate / 1e6)) M rows/s  \(String(format: "%7.1f", 1e9 / rate)) ns/row")
}
