// libFuzzer target: importing a record batch a plugin hands back through the
// Arrow C Data Interface (Sources/PipelineArrow/ArrowImport.swift), both
// `RecordBatch.importing` (take ownership) and `RecordBatch.borrowing`.
//
// The fuzzer describes a producer that is honest about the size of each
// buffer *for the length and offset it declares for that array* (the C Data
// Interface carries no buffer sizes, so nothing else can be checked) and
// dishonest about everything else: formats, buffer and child counts, NULL
// buffers and children, lengths, offsets, null counts, offsets that go
// backwards or past a child, children shorter than their parent, schema
// children that disagree with the array's, dictionaries, deep nesting.
// Every buffer is its own exact-size malloc, so AddressSanitizer catches a
// single byte read past what the producer declared. An accepted batch is read
// value by value, encoded (BatchCodec) and copied; `release` must be called
// exactly once for the array and the schema, accepted or not.
@testable import PipelineArrow
import CPipelineABI
#if canImport(Glibc)
import Glibc
#endif

/// Everything one input allocated, freed when it is done.
nonisolated(unsafe) private var allocations: [UnsafeMutableRawPointer] = []
nonisolated(unsafe) private var arrayReleases = 0
nonisolated(unsafe) private var schemaReleases = 0

private func allocate(_ bytes: Int) -> UnsafeMutableRawPointer {
    guard let pointer = malloc(bytes) else { fatalError("out of memory") }
    allocations.append(pointer)
    return pointer
}

private func cString(_ text: String) -> UnsafePointer<CChar> {
    let utf8 = Array(text.utf8)
    let pointer = allocate(utf8.count + 1).assumingMemoryBound(to: CChar.self)
    for (i, byte) in utf8.enumerated() { pointer[i] = CChar(bitPattern: byte) }
    pointer[utf8.count] = 0
    return UnsafePointer(pointer)
}

/// The producer's release callbacks: the root's count; children must never
/// be released by the importer (their parent's release does it).
private let releaseRootArray: @convention(c) (UnsafeMutablePointer<ArrowArray>?) -> Void = { array in
    arrayReleases += 1
    array?.pointee.release = nil
}
private let releaseChildArray: @convention(c) (UnsafeMutablePointer<ArrowArray>?) -> Void = { array in
    fatalError("the importer released a child array itself")
}
private let releaseRootSchema: @convention(c) (UnsafeMutablePointer<ArrowSchema>?) -> Void = { schema in
    schemaReleases += 1
    schema?.pointee.release = nil
}
private let releaseChildSchema: @convention(c) (UnsafeMutablePointer<ArrowSchema>?) -> Void = { schema in
    fatalError("the importer released a child schema itself")
}

/// No buffer larger than this is made; the producer passes NULL instead.
private let bufferCap = 1 << 16

private let specialCounts: [Int64] = [-1, -8, Int64.min, Int64.max, 1 << 31, Int64(Int32.max) * 64 - 1,
                                      Int64(Int32.max) * 64, 1 << 40, 1 << 20, 100_001, 4_611_686_018_427_387_904]

private struct Producer {
    var input: FuzzInput
    var nodes = 0

    /// A count: mostly small, sometimes one of the values that break arithmetic.
    mutating func count() -> Int64 {
        let b = input.byte()
        if b >= 0xF0 { return specialCounts[Int(b & 0x0F) % specialCounts.count] }
        return Int64(b % 17)
    }

    /// Bytes of a buffer the producer fills: fuzzer bytes, then zeros.
    mutating func buffer(_ bytes: Int) -> UnsafeRawPointer? {
        guard bytes >= 0, bytes <= bufferCap else { return nil }
        let pointer = allocate(bytes)
        let fill = input.take(min(bytes, 64))
        for (i, byte) in fill.enumerated() { pointer.storeBytes(of: byte, toByteOffset: i, as: UInt8.self) }
        if bytes > fill.count { memset(pointer + fill.count, 0, bytes - fill.count) }
        return UnsafeRawPointer(pointer)
    }

    /// An offsets buffer of `entries` values: mostly increasing by 0-3,
    /// sometimes jumping anywhere. Returns it and its largest value.
    mutating func offsets(_ entries: Int, large: Bool) -> (UnsafeRawPointer?, Int64) {
        let width = large ? 8 : 4
        guard entries >= 0, entries <= bufferCap / width else { return (nil, 0) }
        let pointer = allocate(entries * width)
        var value: Int64 = input.byte() == 0xFF ? Int64(Int8(bitPattern: input.byte())) : 0
        var largest: Int64 = 0
        for i in 0..<entries {
            let step = input.byte()
            switch step {
            case 0xFF: value = -Int64(input.byte())
            case 0xFE: value = Int64(input.u32())
            case 0xFD: value -= Int64(input.byte() % 8)
            default: value += Int64(step % 4)
            }
            if large {
                pointer.storeBytes(of: value, toByteOffset: i * 8, as: Int64.self)
            } else {
                pointer.storeBytes(of: Int32(truncatingIfNeeded: value), toByteOffset: i * 4, as: Int32.self)
            }
            largest = max(largest, large ? value : Int64(Int32(truncatingIfNeeded: value)))
        }
        return (UnsafeRawPointer(pointer), largest)
    }

    /// One node: its schema and its array, children included.
    mutating func node(depth: Int, root: Bool) -> (UnsafeMutablePointer<ArrowSchema>, UnsafeMutablePointer<ArrowArray>) {
        nodes += 1
        let schema = allocate(MemoryLayout<ArrowSchema>.stride).bindMemory(to: ArrowSchema.self, capacity: 1)
        let array = allocate(MemoryLayout<ArrowArray>.stride).bindMemory(to: ArrowArray.self, capacity: 1)
        schema.initialize(to: ArrowSchema())
        array.initialize(to: ArrowArray())

        // The format, and the children the schema gives it.
        let pick = input.byte()
        var format: String
        var natural: Int
        switch root ? (pick < 0xF0 || pick % 16 == 14 ? 9 : pick % 16) : pick % 16 {
        case 0: format = "b"; natural = 0
        case 1: format = "l"; natural = 0
        case 2: format = "L"; natural = 0
        case 3: format = "f"; natural = 0
        case 4: format = "g"; natural = 0
        case 5: format = "u"; natural = 0
        case 6: format = "U"; natural = 0
        case 7: format = "+l"; natural = 1
        case 8: format = "+w:\(Int(input.byte() % 5))"; natural = 1
        case 9: format = "+s"; natural = Int(input.byte() % 4)
        case 10: format = ["+w:-2", "+w:", "+w:99999999999999999999", "+w:4611686018427387904", "i", "+m", ""][Int(input.byte() % 7)]; natural = Int(input.byte() % 2)
        case 11: format = "u"; natural = 0  // text, the most common column
        case 12: format = "+l"; natural = 1
        case 13: format = "l"; natural = 0
        case 14:
            // A deep chain of lists (the producer may nest as deep as it likes).
            return chain(levels: Int(input.byte()) + 1, depth: depth)
        default: format = "+s"; natural = Int(input.byte() % 3)
        }
        if depth >= 5 { natural = 0 }

        let flags = input.byte()
        schema.pointee.format = flags & 0x80 != 0 && input.byte() == 0 ? nil : cString(format)
        schema.pointee.name = flags & 0x40 != 0 ? nil : cString("c\(nodes)")
        schema.pointee.flags = Int64(flags & 1) * Int64(ARROW_FLAG_NULLABLE)
        schema.pointee.release = root ? releaseRootSchema : releaseChildSchema

        // Children, built together; the counts may then be made to disagree.
        var childSchemas: [UnsafeMutablePointer<ArrowSchema>] = []
        var childArrays: [UnsafeMutablePointer<ArrowArray>] = []
        for _ in 0..<natural {
            let (s, a) = node(depth: depth + 1, root: false)
            childSchemas.append(s)
            childArrays.append(a)
        }
        let corrupt = input.byte()
        var schemaChildren = natural
        if corrupt & 0x03 == 0x03 { schemaChildren = Int(corrupt >> 4) % 3 }
        schema.pointee.n_children = Int64(schemaChildren)
        if schemaChildren > 0, corrupt != 0x07 {
            let list = allocate(schemaChildren * MemoryLayout<UnsafeMutablePointer<ArrowSchema>?>.stride)
                .bindMemory(to: UnsafeMutablePointer<ArrowSchema>?.self, capacity: schemaChildren)
            for i in 0..<schemaChildren {
                list[i] = i < childSchemas.count && corrupt != 0x0B ? childSchemas[i] : nil
            }
            schema.pointee.children = list
        }
        if corrupt == 0x0F { schema.pointee.dictionary = childSchemas.first ?? schema }

        // The array: length, offset, null count, buffers.
        let length = count()
        let offset = input.byte() < 0xE0 ? Int64(input.byte() % 4) : count()
        array.pointee.length = length
        array.pointee.offset = offset
        let nulls = input.byte()
        array.pointee.null_count = nulls < 0xC0 ? (nulls & 1 == 0 ? 0 : -1) : (nulls < 0xF0 ? Int64(nulls % 8) : count())
        array.pointee.release = root ? (input.byte() == 0xAA ? nil : releaseRootArray) : releaseChildArray

        let slots = Int(length).addingReportingOverflow(Int(offset))
        let end = slots.overflow || length < 0 || offset < 0 ? -1 : slots.partialValue
        var buffers: [UnsafeRawPointer?] = []
        let validity = end >= 0 && end < bufferCap && input.byte() & 1 == 1 ? buffer((end + 7) / 8) : nil
        buffers.append(validity)
        switch format {
        case "b": buffers.append(end >= 0 && end < bufferCap ? buffer((end + 7) / 8) : nil)
        case "l", "L", "g": buffers.append(end >= 0 && end <= bufferCap / 8 ? buffer(end * 8) : nil)
        case "f": buffers.append(end >= 0 && end <= bufferCap / 4 ? buffer(end * 4) : nil)
        case "u", "U":
            let (offsets, largest) = end >= 0 && end < bufferCap ? self.offsets(end + 1, large: format == "U") : (nil, 0)
            buffers.append(offsets)
            buffers.append(input.byte() == 0xEE ? nil : buffer(Int(clamping: largest)))
        case "+l":
            buffers.append(end >= 0 && end < bufferCap ? self.offsets(end + 1, large: false).0 : nil)
        default:
            break
        }
        let bufferChoice = input.byte()
        var bufferCount = buffers.count
        if bufferChoice & 0x0F == 0x0F { bufferCount = Int(bufferChoice >> 4) % 4 }
        if bufferChoice == 0x1E, buffers.count > 1 { buffers[1] = nil }
        array.pointee.n_buffers = Int64(bufferCount)
        if bufferChoice != 0x2E {
            let list = allocate(max(bufferCount, 1) * MemoryLayout<UnsafeRawPointer?>.stride)
                .bindMemory(to: UnsafeRawPointer?.self, capacity: max(bufferCount, 1))
            for i in 0..<bufferCount { list[i] = i < buffers.count ? buffers[i] : nil }
            array.pointee.buffers = list
        }

        var arrayChildren = natural
        if corrupt & 0x0C == 0x0C { arrayChildren = Int(corrupt >> 6) % 3 }
        array.pointee.n_children = Int64(arrayChildren)
        if arrayChildren > 0, corrupt != 0x1C {
            let list = allocate(arrayChildren * MemoryLayout<UnsafeMutablePointer<ArrowArray>?>.stride)
                .bindMemory(to: UnsafeMutablePointer<ArrowArray>?.self, capacity: arrayChildren)
            for i in 0..<arrayChildren { list[i] = i < childArrays.count && corrupt != 0x2C ? childArrays[i] : nil }
            array.pointee.children = list
        }
        if corrupt == 0x3C { array.pointee.dictionary = childArrays.first ?? array }
        return (schema, array)
    }

    /// `levels` nested lists of one item each, ending in an int64 (built
    /// bottom-up, without recursion).
    mutating func chain(levels: Int, depth: Int) -> (UnsafeMutablePointer<ArrowSchema>, UnsafeMutablePointer<ArrowArray>) {
        var below: (UnsafeMutablePointer<ArrowSchema>, UnsafeMutablePointer<ArrowArray>)?
        for _ in 0..<max(levels, 1) {
            let schema = allocate(MemoryLayout<ArrowSchema>.stride).bindMemory(to: ArrowSchema.self, capacity: 1)
            let array = allocate(MemoryLayout<ArrowArray>.stride).bindMemory(to: ArrowArray.self, capacity: 1)
            schema.initialize(to: ArrowSchema())
            array.initialize(to: ArrowArray())
            schema.pointee.name = cString("deep")
            schema.pointee.release = releaseChildSchema
            array.pointee.release = releaseChildArray
            array.pointee.length = 1
            let bufferList = allocate(2 * MemoryLayout<UnsafeRawPointer?>.stride)
                .bindMemory(to: UnsafeRawPointer?.self, capacity: 2)
            bufferList[0] = nil
            array.pointee.buffers = UnsafeMutablePointer(mutating: bufferList)
            array.pointee.n_buffers = 2
            if let (childSchema, childArray) = below {
                schema.pointee.format = cString("+l")
                let offsets = allocate(8).bindMemory(to: Int32.self, capacity: 2)
                offsets[0] = 0
                offsets[1] = 1
                bufferList[1] = UnsafeRawPointer(offsets)
                let schemaChildren = allocate(8).bindMemory(to: UnsafeMutablePointer<ArrowSchema>?.self, capacity: 1)
                schemaChildren[0] = childSchema
                schema.pointee.children = schemaChildren
                schema.pointee.n_children = 1
                let arrayChildren = allocate(8).bindMemory(to: UnsafeMutablePointer<ArrowArray>?.self, capacity: 1)
                arrayChildren[0] = childArray
                array.pointee.children = arrayChildren
                array.pointee.n_children = 1
            } else {
                schema.pointee.format = cString("l")
                let values = allocate(8).bindMemory(to: Int64.self, capacity: 1)
                values[0] = 7
                bufferList[1] = UnsafeRawPointer(values)
            }
            below = (schema, array)
        }
        guard let top = below else { fatalError("no levels") }
        return top
    }
}

/// Everything a consumer of an accepted batch may do with it.
private func use(_ batch: RecordBatch) {
    _ = touchEveryValue(batch)
    // A batch without columns may declare any number of rows with no memory
    // behind them (a valid Arrow batch); encoding or copying that many rows
    // measures time and memory, not bounds.
    guard batch.length <= 1 << 20 else { return }
    let encoded = BatchCodec.encode(batch)
    do throws(ArrowError) {
        let decoded = try BatchCodec.decode(encoded)
        expect(decoded.length == batch.length && decoded.fields == batch.fields, "the round trip changed the batch")
    } catch {
        fatalError("an accepted batch does not round-trip through BatchCodec: \(error)")
    }
    for column in batch.columns { _ = touch(column.copied()) }
    if batch.length > 1 { _ = touchEveryValue(batch.slice(from: 1, count: batch.length - 1)) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    allocations.removeAll(keepingCapacity: true)
    arrayReleases = 0
    schemaReleases = 0
    var producer = Producer(input: FuzzInput(data, size))
    let (schema, array) = producer.node(depth: 0, root: true)
    let rootArrayReleasable = array.pointee.release != nil

    // Borrowed (a plugin's input): the same checks, nothing is released.
    do throws(ArrowError) {
        use(try RecordBatch.borrowing(schema: schema, array: array))
    } catch {
        expect(!error.description.isEmpty, "an error without a message")
    }
    expect(arrayReleases == 0 && schemaReleases == 0, "borrowing released something")

    // Imported (a plugin's output): moved in, released once either way.
    do {
        do throws(ArrowError) {
            use(try RecordBatch.importing(schema: schema, array: array))
        } catch {
            expect(!error.description.isEmpty, "an error without a message")
        }
    }
    expect(schemaReleases == 1, "schema released \(schemaReleases) times")
    expect(arrayReleases == (rootArrayReleasable ? 1 : 0), "array released \(arrayReleases) times")

    for pointer in allocations { free(pointer) }
    allocations.removeAll(keepingCapacity: true)
    return 0
}
