import PluginKit

/// What a loader tells the host of the rows it will emit in all
/// (expect_rows, ABI 1.5; nothing on older hosts), for progress and an ETA.
/// Exact when the loader counted them (inline rows, a first pass over the
/// file that it makes anyway for the column types); otherwise an estimate,
/// the file's size over the bytes per row read so far, revised with every
/// batch. Either way the rows emitted are announced when the data ends, so
/// the last figure is exact. The file is never read again for it.
struct RowForecast {
    /// Rows emitted so far.
    private(set) var emitted = 0
    /// The count is known: no more estimates.
    private var counted = false
    private var announced: Int?

    /// The loader knows how many rows it will emit.
    mutating func exactly(_ rows: Int, context: StepContext) {
        counted = true
        announce(rows, context: context)
    }

    /// A batch of `rows` was emitted, having read `consumed` bytes of a file
    /// of `size` bytes (0: unknown).
    mutating func emitted(_ rows: Int, consumed: Int, of size: Int, context: StepContext) {
        emitted += rows
        guard !counted, emitted > 0, consumed > 0, size > 0 else { return }
        let estimate = (Double(emitted) * Double(size) / Double(consumed)).rounded()
        announce(max(emitted, Int(exactly: estimate) ?? emitted), context: context)
    }

    /// The data ended: what was emitted is the count.
    mutating func ended(context: StepContext) {
        counted = true
        announce(emitted, context: context)
    }

    private mutating func announce(_ rows: Int, context: StepContext) {
        guard rows != announced else { return }
        announced = rows
        context.expectRows(rows)
    }
}
