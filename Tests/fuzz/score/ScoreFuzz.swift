// libFuzzer target: the score and judge answer parsers of the llm plugin
// (Plugins/llm/ScoreParsing.swift): `[i] Score: s` lines, the JSON
// {"scores": [...]} form, and the rewrite extraction of evol_* steps, whose
// ASCII fast paths must agree with the Foundation fallbacks.
//
// Input: byte 0 = item count (1...32, or 0), byte 1 = which markers; the
// rest is the LLM's answer (any bytes, decoded as UTF-8 with repair).
import Foundation
@testable import PipelineLLM

private let markerSets: [[String]] = [
    ["#Rewritten Instruction#:", "#Created Instruction#:", "#Rewritten Instruction#", "#Created Instruction#"],
    ["#Rewritten Response#:", "#Rewritten Response#"],
    ["Answer:", "answer"],
    ["é:", "Score"],
]
private let markerWordSets: [[String]] = [
    ["given instruction", "rewritten instruction", "created instruction"],
    ["given response", "rewritten response"],
    ["score", "[1]"],
    ["réponse"],
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let count = Int(input.byte() % 33)
    let choice = Int(input.byte())
    let text = String(decoding: input.rest(), as: UTF8.self)

    for format in [ScoreParsing.Format.lines, .json] {
        switch ScoreParsing.parse(text, count: count, format: format) {
        case .success(let scores):
            expect(scores.count == (count >= 1 ? count : 0), "\(scores.count) scores for \(count) items")
        case .failure(let error):
            expect(!error.message.isEmpty)
        }
    }
    _ = ScoreParsing.scoreLines(text)
    _ = ScoreParsing.jsonScores(text)

    let markers = markerSets[choice % markerSets.count]
    let words = markerWordSets[(choice / 4) % markerWordSets.count]
    let rewrite = RewriteParsing.afterMarker(text, markers: markers)
    _ = RewriteParsing.degenerate(rewrite, input: text, markerWords: words)
    _ = RewriteParsing.trimmed(text)

    // The ASCII fast paths promise Foundation's answers.
    if let fast = ASCIIText.trimmed(text) {
        expect(fast == text.trimmingCharacters(in: .whitespacesAndNewlines), "ASCIIText.trimmed differs")
    }
    if let fast = ASCIIText.afterMarker(text, markers: markers) {
        var start = text.startIndex
        for marker in markers {
            if let range = text.range(of: marker, options: [.caseInsensitive, .backwards]), range.upperBound > start {
                start = range.upperBound
            }
        }
        var slow = text[start...].trimmingCharacters(in: .whitespacesAndNewlines)
        if slow.hasPrefix(":") { slow = String(slow.dropFirst()).trimmingCharacters(in: .whitespacesAndNewlines) }
        expect(fast == slow, "ASCIIText.afterMarker differs: \(fast.debugDescription) vs \(slow.debugDescription)")
    }
    if let fast = ASCIIText.firstContained(words, in: text) {
        let lower = text.lowercased()
        let slow = words.first(where: { lower.contains($0) })
        expect(fast == slow, "ASCIIText.firstContained differs")
    }
    return 0
}
