/// A server the host runs for an LLM (`serve:`), as its client sees it.
/// While the server is (re)starting the client sends nothing; a request
/// that got no answer because the server went away is sent again once it
/// is back, without spending one of its retries.
package protocol ServedEndpoint: AnyObject, Sendable {
    /// Changes every time the server is started again.
    var incarnation: Int { get }
    /// Where it listens now, e.g. `http://127.0.0.1:PORT/v1` (a restart may
    /// have to take another port).
    var baseURL: String { get }
    /// Why the server is gone for good (restarts used up, or stopped), or nil.
    var failure: String? { get }
    /// [thread-safe] True when the server is ready now. Otherwise false,
    /// and `wake` runs once, on any thread, when it is ready again or has
    /// failed for good.
    func whenReady(_ wake: @escaping @Sendable () -> Void) -> Bool
    /// [thread-safe] A request sent to `incarnation` got no answer:
    /// `verdict(true)` when the server went away meanwhile (send the
    /// request again; called once it is ready again or has failed for
    /// good), `verdict(false)` when it is still the same, running server
    /// (an ordinary failure).
    func judge(failureAt incarnation: Int, _ verdict: @escaping @Sendable (_ wentAway: Bool) -> Void)
}
