#!/usr/bin/env python3
"""A tiny verifier for the verify_http tests. POST a JSON object with
"answer" and "reference": {"verdict": answer == reference, "score": 1.0 or 0.0}.
Faults by the answer's text: "flaky" answers 503 on each first try of that
body, "boom" answers 500 always, "notjson" answers plain text, "noverdict"
answers {} and "slow" sleeps 5 s. Prints the port on stdout, then serves
(threaded) until killed; logs every request to the file given as argv[1]."""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = sys.argv[1] if len(sys.argv) > 1 else None
SEEN = set()
LOCK = threading.Lock()
IN_FLIGHT = [0, 0]  # now, peak


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body, kind="application/json"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with LOCK:
            IN_FLIGHT[0] += 1
            IN_FLIGHT[1] = max(IN_FLIGHT[1], IN_FLIGHT[0])
            first = raw not in SEEN
            SEEN.add(raw)
            if LOG:
                with open(LOG, "a") as f:
                    f.write(json.dumps({"body": raw.decode(), "peak": IN_FLIGHT[1]}) + "\n")
        try:
            row = json.loads(raw)
            answer = str(row.get("answer"))
            time.sleep(0.2)  # so that concurrent requests overlap
            if answer == "slow":
                time.sleep(5)
            if answer == "flaky" and first:
                return self.reply(503, '{"error": "try again"}')
            if answer == "boom":
                return self.reply(500, '{"error": "the runner crashed"}')
            if answer == "notjson":
                return self.reply(200, "all good", "text/plain")
            if answer == "noverdict":
                return self.reply(200, "{}")
            ok = answer == str(row.get("reference"))
            self.reply(200, json.dumps({"verdict": ok, "score": 1.0 if ok else 0.0}))
        finally:
            with LOCK:
                IN_FLIGHT[0] -= 1


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
