import CPipelineABI

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// Export hands our memory to a consumer through the C Data Interface. Each
// exported node (the batch struct and every nested array) gets a private
// context that retains the column, so the buffers outlive our own
// references until the consumer calls `release`. Children are released by
// their parent's release unless the consumer moved them out first.

/// What an exported array node keeps alive until it is released.
private final class ExportedArrayNode {
    let column: ArrowColumn
    let buffers: UnsafeMutablePointer<UnsafeRawPointer?>
    let childPointers: UnsafeMutablePointer<UnsafeMutablePointer<ArrowArray>?>
    let childArrays: UnsafeMutablePointer<ArrowArray>
    let childCount: Int

    init(column: ArrowColumn, children: [ArrowColumn]) {
        self.column = column
        buffers = .allocate(capacity: max(column.buffers.count, 1))
        for (index, buffer) in column.buffers.enumerated() {
            (buffers + index).initialize(to: buffer)
        }
        childCount = children.count
        childPointers = .allocate(capacity: max(childCount, 1))
        childArrays = .allocate(capacity: max(childCount, 1))
        for (index, child) in children.enumerated() {
            (childArrays + index).initialize(to: ArrowArray())
            child.exportArray(to: childArrays + index, children: child.children)
            (childPointers + index).initialize(to: childArrays + index)
        }
    }

    deinit {
        buffers.deallocate()
        childPointers.deallocate()
        childArrays.deallocate()
    }
}

private func releaseExportedArray(_ array: UnsafeMutablePointer<ArrowArray>?) {
    guard let array, let context = array.pointee.private_data else { return }
    let node = Unmanaged<ExportedArrayNode>.fromOpaque(context).takeRetainedValue()
    for index in 0..<node.childCount {
        let child = node.childArrays + index
        if let release = child.pointee.release { release(child) }
    }
    array.pointee.release = nil
    array.pointee.private_data = nil
}

extension ArrowColumn {
    fileprivate func exportArray(to out: UnsafeMutablePointer<ArrowArray>, children: [ArrowColumn]) {
        let node = ExportedArrayNode(column: self, children: children)
        out.pointee = ArrowArray(
            length: Int64(length), null_count: Int64(nullCount), offset: Int64(offset),
            n_buffers: Int64(buffers.count), n_children: Int64(node.childCount),
            buffers: node.buffers,
            children: node.childCount == 0 ? nil : node.childPointers,
            dictionary: nil,
            release: { releaseExportedArray($0) },
            private_data: Unmanaged.passRetained(node).toOpaque())
    }

    /// Exports this column alone. The consumer owns `out` and must release it.
    public func export(to out: UnsafeMutablePointer<ArrowArray>) {
        exportArray(to: out, children: children)
    }
}

/// What an exported schema node owns: its strings and its children.
private final class ExportedSchemaNode {
    let format: UnsafeMutablePointer<CChar>
    let name: UnsafeMutablePointer<CChar>
    /// The metadata in the C Data Interface's encoding, nil when there is none.
    let metadata: UnsafeMutableRawPointer?
    let childPointers: UnsafeMutablePointer<UnsafeMutablePointer<ArrowSchema>?>
    let childSchemas: UnsafeMutablePointer<ArrowSchema>
    let childCount: Int

    init(field: ArrowField) {
        format = strdup(field.type.format)
        name = strdup(field.name)
        metadata = Self.encode(field.metadata)
        let children = field.type.children
        childCount = children.count
        childPointers = .allocate(capacity: max(childCount, 1))
        childSchemas = .allocate(capacity: max(childCount, 1))
        for (index, child) in children.enumerated() {
            (childSchemas + index).initialize(to: ArrowSchema())
            child.export(to: childSchemas + index)
            (childPointers + index).initialize(to: childSchemas + index)
        }
    }

    deinit {
        free(format)
        free(name)
        free(metadata)
        childPointers.deallocate()
        childSchemas.deallocate()
    }

    /// int32 count, then per pair int32 length + key bytes, int32 length +
    /// value bytes; keys in sorted order, so an export is reproducible.
    private static func encode(_ metadata: [String: String]) -> UnsafeMutableRawPointer? {
        guard !metadata.isEmpty else { return nil }
        var bytes: [UInt8] = []
        func int32(_ value: Int) { withUnsafeBytes(of: Int32(truncatingIfNeeded: value)) { bytes.append(contentsOf: $0) } }
        int32(metadata.count)
        for key in metadata.keys.sorted() {
            int32(key.utf8.count)
            bytes.append(contentsOf: key.utf8)
            let value = metadata[key] ?? ""
            int32(value.utf8.count)
            bytes.append(contentsOf: value.utf8)
        }
        guard let memory = malloc(bytes.count) else { fatalError("out of memory exporting a schema") }
        bytes.withUnsafeBytes { memory.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        return memory
    }
}

private func releaseExportedSchema(_ schema: UnsafeMutablePointer<ArrowSchema>?) {
    guard let schema, let context = schema.pointee.private_data else { return }
    let node = Unmanaged<ExportedSchemaNode>.fromOpaque(context).takeRetainedValue()
    for index in 0..<node.childCount {
        let child = node.childSchemas + index
        if let release = child.pointee.release { release(child) }
    }
    schema.pointee.release = nil
    schema.pointee.private_data = nil
}

extension ArrowField {
    /// Exports this field's schema. The consumer owns `out` and must release it.
    public func export(to out: UnsafeMutablePointer<ArrowSchema>) {
        let node = ExportedSchemaNode(field: self)
        out.pointee = ArrowSchema(
            format: UnsafePointer(node.format), name: UnsafePointer(node.name),
            metadata: node.metadata.map { UnsafePointer($0.assumingMemoryBound(to: CChar.self)) },
            flags: nullable ? Int64(ARROW_FLAG_NULLABLE) : 0,
            n_children: Int64(node.childCount),
            children: node.childCount == 0 ? nil : node.childPointers,
            dictionary: nil,
            release: { releaseExportedSchema($0) },
            private_data: Unmanaged.passRetained(node).toOpaque())
    }
}

extension RecordBatch {
    /// Exports the batch as a struct array and its schema, without copying
    /// any buffer. The consumer owns both and must release each once.
    public func export(schema: UnsafeMutablePointer<ArrowSchema>, array: UnsafeMutablePointer<ArrowArray>) {
        ArrowField("", type, nullable: false).export(to: schema)
        exportArray(to: array)
    }

    /// Exports only the array (the consumer already knows the schema).
    public func exportArray(to array: UnsafeMutablePointer<ArrowArray>) {
        let root = ArrowColumn(type: type, length: length, offset: 0, nullCount: 0, buffers: [nil],
                               children: columns, owner: BorrowedMemory.shared)
        root.export(to: array)
    }
}
