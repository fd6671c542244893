/// Releases the results of a step's calls in the order the calls started.
///
/// A reentrant step (an LLM step, a C step flagged REENTRANT) has several
/// calls in flight, and they finish in any order. What they return must
/// still reach the children, the store and the output files in input
/// order: the output of a run is then the same file every time, and the
/// sequence numbers a resumed run replays by are those of the input.
///
/// Each call takes a ticket when it is dispatched; a result that arrives
/// before an earlier ticket's is held until that one has arrived.
struct InOrder<Result> {
    private var issued: [Int]
    private var released: [Int]
    private var held: [[Int: Result]]

    init(steps: Int) {
        issued = Array(repeating: 0, count: steps)
        released = Array(repeating: 0, count: steps)
        held = Array(repeating: [:], count: steps)
    }

    /// The ticket of a call of `step` that starts now.
    mutating func ticket(for step: Int) -> Int {
        defer { issued[step] += 1 }
        return issued[step]
    }

    /// The result of `step`'s call `ticket` arrived: the results now
    /// released, in ticket order (empty while an earlier call is out).
    mutating func arrived(_ result: Result, step: Int, ticket: Int) -> [Result] {
        precondition(ticket >= released[step] && ticket < issued[step] && held[step][ticket] == nil,
                     "a call's result arrived twice, or for a call never started")
        held[step][ticket] = result
        var ready: [Result] = []
        while let next = held[step].removeValue(forKey: released[step]) {
            ready.append(next)
            released[step] += 1
        }
        return ready
    }

    /// Results held for calls still out.
    func heldCount(_ step: Int) -> Int { held[step].count }
}
