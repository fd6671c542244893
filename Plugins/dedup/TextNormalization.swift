/// How text is normalised before it is hashed or cut into shingles.
struct TextNormalization: Sendable {
    /// Lower-case letters (Unicode).
    var ignoreCase: Bool
    /// Runs of white space become one space; leading and trailing space goes.
    var ignoreWhitespace: Bool
    /// Punctuation and symbols (Unicode categories P and S) are removed.
    var ignorePunctuation: Bool

    /// The normalised UTF-8 bytes of `text`. ASCII text takes a byte loop;
    /// anything else goes through Unicode scalars (same rules).
    func apply(_ text: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        if text.allSatisfy({ $0 < 0x80 }) {
            var pendingSpace = false
            for var byte in text {
                if ignoreWhitespace && Self.isASCIISpace(byte) {
                    pendingSpace = !out.isEmpty
                    continue
                }
                if ignorePunctuation && Self.isASCIIPunctuation(byte) { continue }
                if ignoreCase && byte >= 0x41 && byte <= 0x5A { byte += 0x20 }
                if pendingSpace {
                    out.append(0x20)
                    pendingSpace = false
                }
                out.append(byte)
            }
            return
        }
        var string = String(decoding: text, as: UTF8.self)
        if ignoreCase { string = string.lowercased() }
        var pendingSpace = false
        for scalar in string.unicodeScalars {
            if ignoreWhitespace && scalar.properties.isWhitespace {
                pendingSpace = !out.isEmpty
                continue
            }
            if ignorePunctuation && Self.isPunctuationOrSymbol(scalar) { continue }
            if pendingSpace {
                out.append(0x20)
                pendingSpace = false
            }
            out.append(contentsOf: String(scalar).utf8)
        }
    }

    static func isASCIISpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (byte >= 0x09 && byte <= 0x0D)
    }

    static func isASCIIPunctuation(_ byte: UInt8) -> Bool {
        (byte >= 0x21 && byte <= 0x2F) || (byte >= 0x3A && byte <= 0x40) || (byte >= 0x5B && byte <= 0x60)
            || (byte >= 0x7B && byte <= 0x7E)
    }

    static func isPunctuationOrSymbol(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation,
             .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol:
            true
        default:
            false
        }
    }
}

/// Fast 64-bit hashing of bytes and of integers (not cryptographic).
enum Hashing {
    /// The splitmix64 finaliser: a good mix of one 64-bit value.
    @inline(__always)
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A hash of `bytes`, eight at a time.
    static func bytes(_ bytes: UnsafeRawBufferPointer, seed: UInt64) -> UInt64 {
        var hash = mix(seed ^ UInt64(bytes.count))
        var index = 0
        while index + 8 <= bytes.count {
            hash = mix(hash ^ bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self))
            index += 8
        }
        if index < bytes.count {
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while index < bytes.count {
                tail |= UInt64(bytes[index]) << shift
                shift += 8
                index += 1
            }
            hash = mix(hash ^ tail ^ 0xFF)
        }
        return hash
    }

    static func bytes(_ bytes: [UInt8], seed: UInt64) -> UInt64 {
        bytes.withUnsafeBytes { Self.bytes($0, seed: seed) }
    }
}
