import Foundation
import Testing

@testable import PipelineDefinition

/// Host credentials (`credentials:`, `credential:`, ABI 1.3
/// perform_authenticated) through a C plugin that asks for requests with
/// its step's credential, against the in-project Hub double, which accepts
/// one token only. The plugin never holds the token: the host adds it.
@Suite("Host credentials", .serialized)
struct CredentialTests {
    static let token = "hf_credCANARY\(UInt32.random(in: 100_000...999_999))plugh"
    private var binary: String { Fixtures.buildDirectory.appendingPathComponent("pipeline").path }

    /// Runs load_inline (one row) → auth_probe (`probe` parameters) →
    /// write_jsonl and returns the run's output and the probe's row.
    private func probe(_ label: String, probe: String, credentials: String, credential: String? = "hf",
                       environment extra: [String: String]) throws -> (status: Int32, output: String, row: JSONRow?) {
        let directory = try Fixtures.emptyDirectory(label)
        let file = directory.appendingPathComponent("probe.yaml").path
        try """
            name: probe
            \(credentials)
            steps:
              - {name: load, uses: load_inline, with: {rows: [{n: 1}]}}
              - name: probe
                uses: auth_probe
                input: load\(credential.map { "\n    credential: \($0)" } ?? "")
                with: \(probe)
              - {name: save, uses: write_jsonl, input: probe, with: {path: out.jsonl}}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment["NO_COLOR"] = "1"
        for (key, value) in extra { environment[key] = value }
        let plugin = try Fixtures.library("Tests/Fixtures/plugins/auth_probe.c")
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try Spawned(binary, ["run", file, "--run-dir", runDirectory, "--plugin-path", plugin],
                                 environment: environment).wait()
        // The token is in no file the run wrote, nor in what it printed.
        #expect(!result.output.contains(Self.token))
        for name in (try? FileManager.default.subpathsOfDirectory(atPath: runDirectory)) ?? [] {
            let text = (try? String(contentsOfFile: runDirectory + "/" + name, encoding: .isoLatin1)) ?? ""
            #expect(!text.contains(Self.token), "the token is in \(name)")
        }
        let line = try? String(contentsOfFile: runDirectory + "/out.jsonl", encoding: .utf8)
            .split(separator: "\n").first.map(String.init)
        let row = line.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        return (result.status, result.output, row.map(JSONRow.init))
    }

    struct JSONRow {
        var status: Int
        var httpStatus: Int
        var error: String?
        init(_ object: [String: Any]) {
            status = object["status"] as? Int ?? -1
            httpStatus = object["http_status"] as? Int ?? -1
            error = object["error"] as? String
        }
    }

    @Test func theHostAddsTheTokenTheServerWants() throws {
        let server = try HubPushTests.HubServer(["--token", Self.token])
        let result = try probe("cred-ok", probe: "{url: \"${HF_ENDPOINT}/api/whoami-v2\"}",
                               credentials: "credentials:\n  hf: {env: HF_TOKEN, host: \"${HF_ENDPOINT}\"}",
                               environment: ["HF_TOKEN": Self.token, "HF_ENDPOINT": server.endpoint])
        try #require(result.status == 0, "\(result.output)")
        let row = try #require(result.row)
        #expect(row.status == 0 && row.httpStatus == 200 && row.error == nil, "\(row)")
        // Another token: the double says 401, so the header the host sent was the token.
        let wrong = try probe("cred-wrong", probe: "{url: \"${HF_ENDPOINT}/api/whoami-v2\"}",
                              credentials: "credentials:\n  hf: {env: HF_TOKEN, host: \"${HF_ENDPOINT}\"}",
                              environment: ["HF_TOKEN": "hf_someOtherToken", "HF_ENDPOINT": server.endpoint])
        #expect(wrong.row?.httpStatus == 401, "\(wrong.output)")
    }

    @Test func aRequestWithItsOwnAuthorizationIsRefusedUnsent() throws {
        let server = try HubPushTests.HubServer(["--token", Self.token])
        let result = try probe("cred-own", probe: "{url: \"${HF_ENDPOINT}/api/whoami-v2\", own_authorization: true}",
                               credentials: "credentials:\n  hf: {env: HF_TOKEN, host: \"${HF_ENDPOINT}\"}",
                               environment: ["HF_TOKEN": Self.token, "HF_ENDPOINT": server.endpoint])
        let row = try #require(result.row, "\(result.output)")
        #expect(row.status == 1 && row.httpStatus == 0)
        #expect(row.error?.contains("the request has an Authorization header of its own") == true, "\(row)")
        #expect(try server.counter("whoami") == 0, "nothing reached the server")
    }

    @Test func plainHTTPGoesOnlyToLoopbackOrWhereTheScopeSaysHTTP() throws {
        // No scope, plain http to a name that is not loopback: refused before any lookup.
        let result = try probe("cred-http", probe: "{url: \"http://hub.example.invalid/api/whoami-v2\"}",
                               credentials: "credentials:\n  hf: {env: HF_TOKEN}",
                               environment: ["HF_TOKEN": Self.token])
        let row = try #require(result.row, "\(result.output)")
        #expect(row.status == 1, "\(row)")
        #expect(row.error?.contains("it is plain http:// to a host that is not loopback") == true, "\(row)")
        // A user@ in the URL (what the URL's host is, to a reader in a hurry) is refused too.
        let userinfo = try probe("cred-userinfo", probe: "{url: \"https://huggingface.co@hub.example.invalid/\"}",
                                 credentials: "credentials:\n  hf: {env: HF_TOKEN, host: huggingface.co}",
                                 environment: ["HF_TOKEN": Self.token])
        #expect(userinfo.row?.error?.contains("is not sent to https://***@hub.example.invalid/: the URL carries a user name or password") == true,
                "\(userinfo.output)")
    }

    @Test func withoutACredentialTheHostSendsNothing() throws {
        let server = try HubPushTests.HubServer(["--token", Self.token])
        let plugin = try Fixtures.library("Tests/Fixtures/plugins/auth_probe.c")
        var environment = ProcessInfo.processInfo.environment
        environment["HF_TOKEN"] = Self.token
        // plugins try runs the step alone: no pipeline file, no credential.
        let input = try Fixtures.emptyDirectory("cred-none").appendingPathComponent("in.jsonl")
        try "{\"n\": 1}\n".write(to: input, atomically: true, encoding: .utf8)
        let result = try Spawned(binary, ["plugins", "try", "auth_probe", "--plugin-path", plugin,
                                          "--with", "url=\(server.endpoint)/api/whoami-v2", "--input", input.path],
                                 environment: environment).wait()
        #expect(result.output.contains("the step has no credential"), "\(result.output)")
        #expect(try server.counter("whoami") == 0)
    }
}

@Suite("Credential scope")
struct CredentialScopeTests {
    @Test func theFormsOfHost() throws {
        let name = try #require(CredentialScope("HuggingFace.co"))
        #expect(name.scheme == nil && name.host == "huggingface.co" && name.port == nil)
        let withPort = try #require(CredentialScope("hub.local:8443"))
        #expect(withPort.host == "hub.local" && withPort.port == 8443)
        let url = try #require(CredentialScope("https://huggingface.co/some/path"))
        #expect(url.scheme == "https" && url.port == 443 && url.description == "https://huggingface.co")
        let local = try #require(CredentialScope("http://127.0.0.1:8080/"))
        #expect(local.scheme == "http" && local.port == 8080 && local.description == "http://127.0.0.1:8080")
        let v6 = try #require(CredentialScope("[::1]:9000"))
        #expect(v6.host == "::1" && v6.port == 9000 && v6.description == "[::1]:9000")
        for bad in ["", "ftp://huggingface.co", "https://user@huggingface.co", "huggingface.co:0", "huggingface.co:99999",
                    "hugging face.co", "huggingface.co:", "[::1", "https://", "host\\evil.com", "a/b"] {
            #expect(CredentialScope(bad) == nil, "\(bad)")
        }
    }

    @Test func whereACredentialMayGo() throws {
        let hub = try #require(CredentialScope("https://huggingface.co"))
        #expect(CredentialScope.refusal(hub, url: "https://huggingface.co/api/repos/create") == nil)
        #expect(CredentialScope.refusal(hub, url: "https://HUGGINGFACE.CO:443/x?y=1") == nil)
        #expect(CredentialScope.refusal(hub, url: "https://huggingface.co:8443/x")?.contains("port 8443") == true)
        #expect(CredentialScope.refusal(hub, url: "http://huggingface.co:443/x")?.contains("says https://") == true)
        #expect(CredentialScope.refusal(hub, url: "https://huggingface.co.evil.com/")?.contains("is not huggingface.co") == true)
        #expect(CredentialScope.refusal(hub, url: "https://huggingface.co@evil.com/") != nil)
        #expect(CredentialScope.refusal(hub, url: "https://evil.com\\@huggingface.co/") != nil)
        #expect(CredentialScope.refusal(hub, url: "https://evil.com#@huggingface.co/")?.contains("evil.com") == true)
        #expect(CredentialScope.refusal(hub, url: "huggingface.co/x") != nil)
        // A host name alone: any port, https; http only to loopback.
        let name = try #require(CredentialScope("huggingface.co"))
        #expect(CredentialScope.refusal(name, url: "https://huggingface.co:8443/") == nil)
        #expect(CredentialScope.refusal(name, url: "http://huggingface.co/")?.contains("plain http://") == true)
        let loopback = try #require(CredentialScope("127.0.0.1"))
        #expect(CredentialScope.refusal(loopback, url: "http://127.0.0.1:5000/") == nil)
        // No scope: anywhere over https, loopback over http.
        #expect(CredentialScope.refusal(nil, url: "https://example.com/") == nil)
        #expect(CredentialScope.refusal(nil, url: "http://localhost:1/") == nil)
        #expect(CredentialScope.refusal(nil, url: "http://[::1]:1/") == nil)
        #expect(CredentialScope.refusal(nil, url: "http://example.com/") != nil)
        #expect(CredentialScope.refusal(nil, url: "http://127.0.0.1.evil.com/") != nil)
    }

    @Test func aSecretIsNotAVariableName() {
        #expect(CredentialSettings.looksLikeSecret("hf_abcdefghijklmnopqrstuvwxyz012345"))
        #expect(CredentialSettings.looksLikeSecret("sk_live_ABCDEFGHIJKLMNOPQRST"))
        #expect(CredentialSettings.looksLikeSecret("a1b2c3d4e5f6a7b8c9d0e1"))
        #expect(!CredentialSettings.looksLikeSecret("HF_TOKEN"))
        #expect(!CredentialSettings.looksLikeSecret("MY_VERY_LONG_HUB_TOKEN_VARIABLE_2"))
        #expect(!CredentialSettings.looksLikeSecret("hf_token"))
    }
}
