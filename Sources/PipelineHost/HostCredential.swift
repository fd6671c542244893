import Foundation
import PipelineDefinition
import PipelineJSON

/// A secret of the pipeline's `credentials:`, read by the host when the run
/// starts and sent only by `pipeline.http/1`'s perform_authenticated, as an
/// Authorization header, to the hosts its scope allows. Never logged,
/// stored, given to a plugin or shown in a message.
public struct HostCredential: Sendable {
    public let name: String
    /// Where it may go (`host:`); nil: any host (https, or http to loopback).
    public let scope: CredentialScope?
    private let secret: String

    /// Reads the secret from the environment variable (`env:`) or the
    /// first line of the file (`file:`) of validated `settings`.
    public init(name: String, settings: JSONValue, environment: [String: String]) throws(CredentialError) {
        self.name = name
        if let host = settings["host"]?.stringValue {
            guard let scope = CredentialScope(host) else {
                throw CredentialError(credential: name, problem: "its host: is not a host name, host:port or http(s) URL")
            }
            self.scope = scope
        } else {
            scope = nil
        }
        if let variable = settings["env"]?.stringValue {
            guard let value = environment[variable]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else {
                // Validation refuses a name that looks like a secret; never show one anyway.
                let shown = CredentialSettings.looksLikeSecret(variable) ? "named by env:" : "\(variable) (env:)"
                throw CredentialError(credential: name,
                                      problem: "the environment variable \(shown) is not set; nothing was sent")
            }
            secret = value
        } else if let path = settings["file"]?.stringValue {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw CredentialError(credential: name, problem: "cannot read its file \(path) (file:)")
            }
            let line = text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            guard !line.isEmpty else { throw CredentialError(credential: name, problem: "its file \(path) is empty") }
            secret = line
        } else {
            throw CredentialError(credential: name, problem: "it says neither env: nor file:")
        }
        guard !secret.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
            // A header line cannot hold it (and a newline would add headers).
            throw CredentialError(credential: name, problem: "the secret holds a control character")
        }
    }

    /// The header line to add to a request to `url`, or why the
    /// credential may not go there.
    func authorization(for url: String) -> Result<String, CredentialRefusal> {
        if let reason = CredentialScope.refusal(scope, url: url) {
            let scoped = scope.map { " (host: \($0))" } ?? ""
            return .failure(CredentialRefusal(message: "credential \"\(name)\"\(scoped) is not sent to \(Self.shown(url)): \(reason)"))
        }
        return .success("Authorization: Bearer " + secret)
    }

    /// The URL for messages: without its query (which may hold anything),
    /// a user and password in it as `***`, at most 200 characters.
    static func shown(_ url: String) -> String {
        let cut = url.firstIndex { $0 == "?" || $0 == "#" } ?? url.endIndex
        var text = String(url[..<cut])
        if let scheme = text.range(of: "://") {
            let authority = text[scheme.upperBound...].prefix { $0 != "/" }
            if let at = authority.lastIndex(of: "@") {
                text = String(text[..<scheme.upperBound]) + "***" + String(text[at...])
            }
        }
        return text.count > 200 ? String(text.prefix(200)) + "…" : text
    }
}

/// Why a credential could not be read when the run started.
public struct CredentialError: Error, CustomStringConvertible, Sendable {
    public let credential: String
    public let problem: String
    public var description: String { "credential \"\(credential)\": \(problem)" }
}

/// Why the host did not send a request with a credential.
struct CredentialRefusal: Error {
    let message: String
}
