import CPipelineABI
import PipelineJSON

// Service "pipeline.params/1": typed reads of a step's validated parameters,
// so a C plugin needs no JSON parser.

private func parameter(_ call: OpaquePointer?, _ key: UnsafePointer<CChar>?) -> (InstanceContext, String, JSONValue?)? {
    guard let key, let instance = CallContext.from(call)?.instance else { return nil }
    let name = String(cString: key)
    return (instance, name, instance.parameters[name])
}

private let notFound = Int32(PIPELINE_NOT_IMPLEMENTED)
private let wrongType = Int32(PIPELINE_INVALID_ARGUMENT)
private let ok = Int32(PIPELINE_OK)

private func getString(_ call: OpaquePointer?, _ key: UnsafePointer<CChar>?,
                       _ value: UnsafeMutablePointer<UnsafePointer<CChar>?>?, _ length: UnsafeMutablePointer<Int>?) -> Int32 {
    guard let (instance, name, found) = parameter(call, key) else { return wrongType }
    guard let found, found != .null else { return notFound }
    guard let string = found.stringValue else { return wrongType }
    value?.pointee = UnsafePointer(instance.cString(string, key: name))
    length?.pointee = string.utf8.count
    return ok
}

private func getInt64(_ call: OpaquePointer?, _ key: UnsafePointer<CChar>?, _ value: UnsafeMutablePointer<Int64>?) -> Int32 {
    guard let (_, _, found) = parameter(call, key) else { return wrongType }
    guard let found, found != .null else { return notFound }
    guard let number = found.int64Value else { return wrongType }
    value?.pointee = number
    return ok
}

private func getDouble(_ call: OpaquePointer?, _ key: UnsafePointer<CChar>?, _ value: UnsafeMutablePointer<Double>?) -> Int32 {
    guard let (_, _, found) = parameter(call, key) else { return wrongType }
    guard let found, found != .null else { return notFound }
    guard let number = found.doubleValue else { return wrongType }
    value?.pointee = number
    return ok
}

private func getBool(_ call: OpaquePointer?, _ key: UnsafePointer<CChar>?, _ value: UnsafeMutablePointer<Bool>?) -> Int32 {
    guard let (_, _, found) = parameter(call, key) else { return wrongType }
    guard let found, found != .null else { return notFound }
    guard let flag = found.boolValue else { return wrongType }
    value?.pointee = flag
    return ok
}

private func stringList(_ found: JSONValue?) -> (status: Int32, items: [String]) {
    guard let found, found != .null else { return (notFound, []) }
    guard let array = found.arrayValue else { return (wrongType, []) }
    var items: [String] = []
    for item in array {
        guard let string = item.stringValue else { return (wrongType, []) }
        items.append(string)
    }
    return (ok, items)
}

private func getStringCount(_ call: OpaquePointer?, _ key: UnsafePointer<CChar>?, _ count: UnsafeMutablePointer<Int>?) -> Int32 {
    guard let (_, _, found) = parameter(call, key) else { return wrongType }
    let (status, items) = stringList(found)
    if status == ok { count?.pointee = items.count }
    return status
}

private func getStringAt(_ call: OpaquePointer?, _ key: UnsafePointer<CChar>?, _ index: Int,
                         _ value: UnsafeMutablePointer<UnsafePointer<CChar>?>?, _ length: UnsafeMutablePointer<Int>?) -> Int32 {
    guard let (instance, name, found) = parameter(call, key) else { return wrongType }
    let (status, items) = stringList(found)
    guard status == ok else { return status }
    guard index >= 0, index < items.count else { return wrongType }
    value?.pointee = UnsafePointer(instance.cString(items[index], key: "\(name)[\(index)]"))
    length?.pointee = items[index].utf8.count
    return ok
}

enum ParamsService {
    nonisolated(unsafe) static let table: UnsafePointer<pipeline_params_ext> = {
        let table = UnsafeMutablePointer<pipeline_params_ext>.allocate(capacity: 1)
        // Field by field over zeroes: what a later header appends stays NULL.
        var service = pipeline_params_ext()
        service.struct_size = UInt32(MemoryLayout<pipeline_params_ext>.size)
        service.get_string = { getString($0, $1, $2, $3) }
        service.get_int64 = { getInt64($0, $1, $2) }
        service.get_double = { getDouble($0, $1, $2) }
        service.get_bool = { getBool($0, $1, $2) }
        service.get_string_count = { getStringCount($0, $1, $2) }
        service.get_string_at = { getStringAt($0, $1, $2, $3, $4) }
        table.initialize(to: service)
        return UnsafePointer(table)
    }()
}
