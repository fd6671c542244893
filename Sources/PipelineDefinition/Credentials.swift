import PipelineJSON

/// Settings of an entry of `credentials:`: where the host finds a secret
/// that steps send (never the secret itself), and where it may go.
///
/// ```yaml
/// credentials:
///   hf:
///     env: HF_TOKEN                  # or file: /run/secrets/hf_token (its first line)
///     host: https://huggingface.co   # optional: the only server it is sent to
/// ```
package enum CredentialSettings {
    package static let schema: JSONValue = {
        let text = """
            {"type": "object", "additionalProperties": false,
             "properties": {
               "env": {"type": "string", "minLength": 1,
                       "description": "the environment variable that holds the secret"},
               "file": {"type": "string", "minLength": 1, "format": "input-path",
                        "description": "a file whose first line is the secret"},
               "host": {"type": "string", "minLength": 1,
                        "description": "the server the secret may be sent to: a host name, host:port, or a URL (scheme, host and port count)"},
               "token": {"not": {}, "description": "a secret is never written in a pipeline file: name the environment variable that holds it with env:, or a file with file:"},
               "value": {"not": {}, "description": "a secret is never written in a pipeline file: name the environment variable that holds it with env:, or a file with file:"}}}
            """
        return (try? JSONValue(parsing: text)) ?? .object([:])
    }()

    /// Whether an `env:` value looks like a secret pasted in place of a
    /// variable's name (`hf_AbC…`, `sk_…`, or any long mix of lower case
    /// and digits): refused without being shown. Variable names are short,
    /// or in upper case.
    package static func looksLikeSecret(_ name: String) -> Bool {
        let lower = name.unicodeScalars.contains { ("a"..."z").contains($0) }
        let digit = name.unicodeScalars.contains { ("0"..."9").contains($0) }
        let prefixed = ["hf_", "sk_", "ghp_", "gho_", "github_pat_", "xoxb", "xoxp", "glpat"].contains { name.hasPrefix($0) }
        return name.count >= 20 && (prefixed || (lower && digit))
    }
}

/// Where a credential may be sent: the `host:` of its entry, matched
/// against each request's URL.
///
/// `huggingface.co` allows that host on any port over https (and over
/// http only when it is a loopback address); `hub.local:8443` also fixes
/// the port; a URL (`https://huggingface.co`, `http://127.0.0.1:8080/`)
/// fixes the scheme and the port (the scheme's default when none is
/// written), so `host: ${HF_ENDPOINT}` scopes a credential to the endpoint.
/// Without a scope any host is allowed, under the same http rule. Host
/// names compare without regard to case.
public struct CredentialScope: Sendable, Hashable, CustomStringConvertible {
    public var scheme: String?
    public var host: String
    public var port: Int?

    /// Parses a `host:` value; nil if it is none of the forms above.
    public init?(_ text: String) {
        if let schemeEnd = text.firstRange(of: "://") {
            let scheme = text[..<schemeEnd.lowerBound].lowercased()
            guard scheme == "http" || scheme == "https",
                  let authority = URLAuthority(text), authority.userinfo == nil else { return nil }
            self.scheme = scheme
            host = authority.host
            port = authority.port ?? (scheme == "https" ? 443 : 80)
        } else {
            guard let authority = URLAuthority(authority: Substring(text)), authority.userinfo == nil else { return nil }
            scheme = nil
            host = authority.host
            port = authority.port
        }
    }

    /// As written (a URL's default port left out).
    public var description: String {
        let hostText = host.contains(":") ? "[\(host)]" : host
        let defaultPort = scheme == "https" ? 443 : scheme == "http" ? 80 : nil
        let portText = port.flatMap { $0 == defaultPort ? nil : ":\($0)" } ?? ""
        return (scheme.map { "\($0)://" } ?? "") + hostText + portText
    }

    /// Why a credential with this scope (nil: none) may not go to `url`;
    /// nil when it may.
    public static func refusal(_ scope: CredentialScope?, url: String) -> String? {
        guard let schemeEnd = url.firstRange(of: "://") else { return "the URL is not absolute" }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else { return "the URL is not http(s)" }
        guard let target = URLAuthority(url) else { return "the URL's host cannot be read" }
        guard target.userinfo == nil else { return "the URL carries a user name or password" }
        let port = target.port ?? (scheme == "https" ? 443 : 80)
        if let scope {
            if scope.host != target.host { return "its host \(target.host) is not \(scope.host), the credential's host" }
            if let wanted = scope.port, wanted != port {
                return "its port \(port) is not \(wanted), the credential's port"
            }
            if let wanted = scope.scheme, wanted != scheme {
                return "it is \(scheme)://, the credential's host says \(wanted)://"
            }
            if scope.scheme == nil, scheme == "http", !isLoopback(target.host) {
                return "it is plain http:// to a host that is not loopback (write host: http://\(scope.host) to allow it)"
            }
        } else if scheme == "http", !isLoopback(target.host) {
            return "it is plain http:// to a host that is not loopback"
        }
        return nil
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.") && host.split(separator: ".").count == 4
    }
}

/// The authority of an http(s) URL (`user@host:port`), read strictly:
/// anything but letters, digits, `.`, `-`, `_`, `~` and a bracketed
/// IPv6 address in the host makes it unreadable, so this reading cannot
/// disagree with libcurl's about which host a request goes to.
struct URLAuthority {
    var userinfo: Substring?
    /// Lowercased; an IPv6 address without its brackets.
    var host: String
    var port: Int?

    /// The authority of `url` (after `scheme://`, up to `/`, `?` or `#`).
    init?(_ url: String) {
        guard let schemeEnd = url.firstRange(of: "://") else { return nil }
        let rest = url[schemeEnd.upperBound...]
        let end = rest.firstIndex(where: URLAuthority.endsAuthority) ?? rest.endIndex
        self.init(authority: rest[..<end])
    }

    static func endsAuthority(_ character: Character) -> Bool {
        character == "/" || character == "?" || character == "#"
    }

    init?(authority: Substring) {
        guard !authority.isEmpty, authority.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0 != "\\" })
        else { return nil }
        var hostPort = authority
        if let at = authority.lastIndex(of: "@") {
            userinfo = authority[..<at]
            hostPort = authority[authority.index(after: at)...]
        }
        var portText: Substring?
        if hostPort.first == "[" {
            guard let close = hostPort.firstIndex(of: "]") else { return nil }
            let address = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
            guard !address.isEmpty, address.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return nil }
            host = address.lowercased()
            let after = hostPort[hostPort.index(after: close)...]
            if !after.isEmpty {
                guard after.first == ":" else { return nil }
                portText = after.dropFirst()
            }
        } else {
            var name = hostPort
            if let colon = hostPort.lastIndex(of: ":") {
                name = hostPort[..<colon]
                portText = hostPort[hostPort.index(after: colon)...]
            }
            guard !name.isEmpty, name.unicodeScalars.allSatisfy({ scalar in
                (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || ".-_~".unicodeScalars.contains(scalar))
            }) else { return nil }
            host = name.lowercased()
        }
        if let portText {
            guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy(\.isASCII), portText.allSatisfy(\.isNumber),
                  let value = Int(portText), (1...65_535).contains(value) else { return nil }
            port = value
        }
    }
}
