import CPipelineABI

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// Arrow C Data Interface structures made by hand, the way a C producer
// would make them, so the tests control every field (including broken
// ones) and can count how often `release` is called on each node.
//
// The test keeps the HandArray/HandSchema object alive; it owns the memory.
// `private_data` points at it unretained, and release only counts, releases
// the children and marks the struct released, as the spec requires.

/// The bytes of one buffer.
struct HandBuffer {
    var bytes: [UInt8]

    static func raw(_ bytes: [UInt8]) -> HandBuffer { HandBuffer(bytes: bytes) }

    static func values<T: BitwiseCopyable>(_ values: [T]) -> HandBuffer {
        HandBuffer(bytes: values.withUnsafeBytes { Array($0) })
    }

    static func text(_ text: String) -> HandBuffer { HandBuffer(bytes: Array(text.utf8)) }

    /// A validity bitmap: bit i set when `valid[i]`.
    static func bitmap(_ valid: [Bool]) -> HandBuffer {
        var bytes = [UInt8](repeating: 0, count: (valid.count + 7) / 8)
        for (i, isValid) in valid.enumerated() where isValid { bytes[i >> 3] |= 1 << UInt8(i & 7) }
        return HandBuffer(bytes: bytes)
    }
}

final class HandArray {
    /// The producer-side struct; the consumer is handed this pointer.
    let pointer: UnsafeMutablePointer<ArrowArray>
    let children: [HandArray]
    /// How many times release was called on a struct that carries this node.
    var releaseCount = 0
    private let bufferList: UnsafeMutablePointer<UnsafeRawPointer?>
    private let childList: UnsafeMutablePointer<UnsafeMutablePointer<ArrowArray>?>
    private var allocations: [UnsafeMutableRawPointer] = []

    init(length: Int64, nullCount: Int64 = 0, offset: Int64 = 0, buffers: [HandBuffer?],
         children: [HandArray] = []) {
        self.children = children
        pointer = .allocate(capacity: 1)
        bufferList = .allocate(capacity: max(buffers.count, 1))
        childList = .allocate(capacity: max(children.count, 1))
        for (index, buffer) in buffers.enumerated() {
            if let buffer {
                // 64-byte aligned and padded, as Arrow producers do.
                var memory: UnsafeMutableRawPointer?
                let size = max(64, (buffer.bytes.count + 63) / 64 * 64)
                guard posix_memalign(&memory, 64, size) == 0, let memory else { fatalError("posix_memalign") }
                memory.initializeMemory(as: UInt8.self, repeating: 0, count: size)
                buffer.bytes.withUnsafeBytes { memory.copyMemory(from: $0.baseAddress ?? UnsafeRawPointer(memory), byteCount: $0.count) }
                allocations.append(memory)
                (bufferList + index).initialize(to: UnsafeRawPointer(memory))
            } else {
                (bufferList + index).initialize(to: nil)
            }
        }
        for (index, child) in children.enumerated() {
            (childList + index).initialize(to: child.pointer)
        }
        pointer.initialize(to: ArrowArray(
            length: length, null_count: nullCount, offset: offset,
            n_buffers: Int64(buffers.count), n_children: Int64(children.count),
            buffers: bufferList, children: children.isEmpty ? nil : childList, dictionary: nil,
            release: { releaseHandArray($0) },
            private_data: nil))
        pointer.pointee.private_data = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        for memory in allocations { free(memory) }
        bufferList.deallocate()
        childList.deallocate()
        pointer.deallocate()
    }

    /// True if this node and every node below it were released exactly once.
    var releasedExactlyOnce: Bool {
        releaseCount == 1 && children.allSatisfy(\.releasedExactlyOnce)
    }

    /// True if no node of this tree has been released.
    var untouched: Bool {
        releaseCount == 0 && children.allSatisfy(\.untouched)
    }

    // MARK: Shapes

    /// A record batch: a struct array without nulls.
    static func batch(length: Int64, offset: Int64 = 0, _ columns: [HandArray]) -> HandArray {
        HandArray(length: length, offset: offset, buffers: [nil], children: columns)
    }

    static func int64(_ values: [Int64], valid: [Bool]? = nil) -> HandArray {
        HandArray(length: Int64(values.count), nullCount: valid.map { Int64($0.filter { !$0 }.count) } ?? 0,
                  buffers: [valid.map(HandBuffer.bitmap), .values(values)])
    }

    static func utf8(offsets: [Int32], bytes: String) -> HandArray {
        HandArray(length: Int64(max(offsets.count - 1, 0)), buffers: [nil, .values(offsets), .text(bytes)])
    }

    static func list(offsets: [Int32], _ items: HandArray) -> HandArray {
        HandArray(length: Int64(max(offsets.count - 1, 0)), buffers: [nil, .values(offsets)], children: [items])
    }
}

private func releaseHandArray(_ array: UnsafeMutablePointer<ArrowArray>?) {
    guard let array, let context = array.pointee.private_data else { return }
    let node = Unmanaged<HandArray>.fromOpaque(context).takeUnretainedValue()
    node.releaseCount += 1
    // The node's own list of children: a deliberately wrong n_children in
    // the struct must not make release read past what was allocated.
    for child in node.children {
        if let release = child.pointer.pointee.release { release(child.pointer) }
    }
    array.pointee.release = nil
}

final class HandSchema {
    let pointer: UnsafeMutablePointer<ArrowSchema>
    let children: [HandSchema]
    let dictionary: HandSchema?
    var releaseCount = 0
    private let format: UnsafeMutablePointer<CChar>
    private let name: UnsafeMutablePointer<CChar>
    private let childList: UnsafeMutablePointer<UnsafeMutablePointer<ArrowSchema>?>

    init(_ format: String, name: String = "", nullable: Bool = true, children: [HandSchema] = [],
         dictionary: HandSchema? = nil) {
        self.children = children
        self.dictionary = dictionary
        self.format = strdup(format)
        self.name = strdup(name)
        pointer = .allocate(capacity: 1)
        childList = .allocate(capacity: max(children.count, 1))
        for (index, child) in children.enumerated() {
            (childList + index).initialize(to: child.pointer)
        }
        pointer.initialize(to: ArrowSchema(
            format: UnsafePointer(self.format), name: UnsafePointer(self.name), metadata: nil,
            flags: nullable ? Int64(ARROW_FLAG_NULLABLE) : 0, n_children: Int64(children.count),
            children: children.isEmpty ? nil : childList, dictionary: dictionary?.pointer,
            release: { releaseHandSchema($0) }, private_data: nil))
        pointer.pointee.private_data = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        free(format)
        free(name)
        childList.deallocate()
        pointer.deallocate()
    }

    var releasedExactlyOnce: Bool {
        releaseCount == 1 && children.allSatisfy(\.releasedExactlyOnce)
            && (dictionary?.releasedExactlyOnce ?? true)
    }

    static func batch(_ columns: [HandSchema]) -> HandSchema {
        HandSchema("+s", nullable: false, children: columns)
    }
}

private func releaseHandSchema(_ schema: UnsafeMutablePointer<ArrowSchema>?) {
    guard let schema, let context = schema.pointee.private_data else { return }
    let node = Unmanaged<HandSchema>.fromOpaque(context).takeUnretainedValue()
    node.releaseCount += 1
    for child in node.children {
        if let release = child.pointer.pointee.release { release(child.pointer) }
    }
    if let dictionary = node.dictionary, let release = dictionary.pointer.pointee.release {
        release(dictionary.pointer)
    }
    schema.pointee.release = nil
}

/// Consumer-side storage for an exported batch, released on deinit if the
/// test did not release it.
final class ExportSlot {
    let schema: UnsafeMutablePointer<ArrowSchema> = .allocate(capacity: 1)
    let array: UnsafeMutablePointer<ArrowArray> = .allocate(capacity: 1)

    init() {
        schema.initialize(to: ArrowSchema())
        array.initialize(to: ArrowArray())
    }

    deinit {
        if let release = schema.pointee.release { release(schema) }
        if let release = array.pointee.release { release(array) }
        schema.deallocate()
        array.deallocate()
    }
}
