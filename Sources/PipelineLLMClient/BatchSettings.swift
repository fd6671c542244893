import PipelineJSON

/// The `batch:` settings of an `llms:` entry: its requests go to the
/// provider's Batch API (`/v1/files`, `/v1/batches`) instead of live calls.
package struct BatchSettings: Sendable, Equatable {
    /// The provider's completion window ("24h").
    package var completionWindow = "24h"
    /// Requests per batch file at most (OpenAI: 50 000).
    package var maxRequests = 50_000
    /// Bytes per batch file at most (OpenAI: 200 MB).
    package var maxBytes = 200_000_000
    /// Seconds between polls at first; the wait doubles while nothing
    /// finishes, up to `maxPollSeconds`.
    package var pollSeconds = 15.0
    package var maxPollSeconds = 300.0
    /// How many times a failed or expired request goes into a follow-up batch.
    package var resubmit = 1
    /// Cancel the provider's open batches when the run is cancelled.
    package var cancelOnStop = false

    package init() {}

    /// From a validated `batch:` value: an object, or `true` for the defaults.
    /// Values out of range are brought into it (a limit of at least 1, a
    /// poll of at least 10 ms, no negative resubmissions).
    package init(settings: JSONValue) {
        guard let object = settings.objectValue else { return }
        if let window = object["completion_window"]?.stringValue, !window.isEmpty { completionWindow = window }
        if let value = object["max_requests"]?.int64Value { maxRequests = max(1, Int(clamping: value)) }
        if let value = object["max_bytes"]?.int64Value { maxBytes = max(1, Int(clamping: value)) }
        if let value = object["poll_seconds"]?.doubleValue, value.isFinite { pollSeconds = max(0.01, value) }
        if let value = object["max_poll_seconds"]?.doubleValue, value.isFinite { maxPollSeconds = max(0.01, value) }
        maxPollSeconds = max(maxPollSeconds, pollSeconds)
        if let value = object["resubmit"]?.int64Value { resubmit = max(0, Int(clamping: value)) }
        if let value = object["cancel_on_stop"]?.boolValue { cancelOnStop = value }
    }
}

/// What the provider batches hold for one request.
package enum BatchAnswer: Sendable, Equatable {
    /// The provider's answer: the HTTP status of the request inside the
    /// batch and the response body, as a live call would have received it.
    /// A status other than 200 is one not worth resubmitting (400: a bad
    /// request stays bad).
    case response(status: Int, body: [UInt8])
    /// No answer and no resubmission left: the provider's reason.
    case failed(String)
    /// Recorded; a batch will (or does) hold it.
    case pending
}

/// One batch of the provider, or a chunk on its way to being one.
package struct OpenBatch: Sendable, Equatable {
    package var llm: String
    /// Our id of the chunk (the batch's `pipeline_chunk` metadata).
    package var chunkID: String
    /// Nil until the provider has created the batch.
    package var batchID: String?
    /// The provider's status (validating, in_progress, finalizing, cancelling,
    /// ...), or ours before there is a batch: "recorded", "uploaded", "creating".
    package var status: String
    /// Unix time the chunk was recorded.
    package var recorded: Double
    /// Unix time the provider created the batch, if it has.
    package var created: Double?
    package var requests: Int
    package var completed: Int
    package var failed: Int
}

/// Where an LLM's batched requests are.
package struct BatchProgress: Sendable, Equatable {
    package var llm: String
    /// Requests without a final answer yet.
    package var pending = 0
    /// Of those, the ones no batch holds (to be submitted).
    package var unsubmitted = 0
    package var answered = 0
    /// Requests that failed for good.
    package var failed = 0
    /// Chunks being submitted and batches the provider is working on.
    package var open: [OpenBatch] = []
    /// Seconds to wait before the next poll (backs off while nothing finishes).
    package var nextPollSeconds = 0.0

    /// Every request has its final answer.
    package var done: Bool { pending == 0 }
}

/// Why a provider batch could not be submitted, polled or read.
package struct BatchError: Error, CustomStringConvertible, Sendable {
    package enum Kind: Sendable {
        /// The batch state file could not be opened, read or written.
        case store
        /// The provider refused or did not answer (after retries).
        case provider
        /// The state file or the provider's answer is not what it must be.
        case damaged
    }

    package let kind: Kind
    package let message: String

    package init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    package var description: String { message }
}
