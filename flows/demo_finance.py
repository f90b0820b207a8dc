"""A stand-in finance system for ``make demo``: an HTTP server on loopback that books postings.

It speaks the webhook protocol documented in ``einvoice.finance.connectors`` (checks the HMAC
signature, answers ``booked`` with a booking number, ``duplicate`` for a repeated idempotency key).
Only the demo uses it; a municipality points ``finance.webhook.url`` at its real system.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class DemoFinanceSystem:
    def __init__(self, secret: bytes):
        self.secret = secret
        self.bookings: dict[str, str] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the demo output readable
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                ts = self.headers.get("X-Einvoice-Timestamp", "")
                sig = self.headers.get("X-Einvoice-Signature", "")
                want = "v1=" + hmac.new(outer.secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
                if not hmac.compare_digest(sig, want):
                    return self._answer(401, {"status": "failed", "message": "bad signature"})
                key = self.headers.get("Idempotency-Key", "")
                if key in outer.bookings:
                    return self._answer(409, {"status": "duplicate", "booking_number": outer.bookings[key]})
                number = f"FIBU-2026-{len(outer.bookings) + 1:05d}"
                outer.bookings[key] = number
                json.loads(body)  # a real system would import the record here
                return self._answer(200, {"status": "booked", "booking_number": number})

            def _answer(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/postings"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "DemoFinanceSystem":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
