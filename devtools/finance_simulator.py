"""A stand-in finance system for demos and tests: receives webhook postings on loopback.

It verifies the HMAC signature and timestamp, books each idempotency key once (answering
"duplicate" with the same booking number when a key comes again) and can misbehave on request
(``script``/``default`` modes: ok, slow:<seconds>, 500, reject, duplicate). The counters
(``accepted``, ``requests``, ``bad_signatures``) let tests prove exactly-once delivery.

The one fake finance system of the project: ``make demo`` (flows/demo.py) and the tests use it
(as a context manager or with ``start``/``stop``); run it alone with ``einvoice-dev
finance-simulator`` and point ``finance.webhook.url`` at it. This module is never used by the production delivery path and must never listen on anything but the address
it is given (loopback by default).
"""
from __future__ import annotations

import collections
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from einvoice.finance.connectors import verify_signature


class FinanceSimulator:
    def __init__(self, secret: str | bytes, host: str = "127.0.0.1", port: int = 0, *,
                 signature_header: str = "X-Einvoice-Signature", timestamp_header: str = "X-Einvoice-Timestamp",
                 idempotency_header: str = "Idempotency-Key"):
        self.secret = secret.encode() if isinstance(secret, str) else secret
        self.lock = threading.Lock()
        self.bookings: dict[str, str] = {}
        self.accepted: collections.Counter = collections.Counter()  # bookings made per key (exactly-once: ≤ 1)
        self.requests: collections.Counter = collections.Counter()
        self.bad_signatures = 0
        self.bodies: dict[str, dict] = {}
        self.script: collections.deque = collections.deque()
        self.default = "ok"
        sim = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet: the counters are the record
                pass

            def _answer(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): the booking stands anyway, as in a real system

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                ts = self.headers.get(timestamp_header, "")
                sig = self.headers.get(signature_header, "")
                if not verify_signature(sim.secret, ts, body, sig):
                    with sim.lock:
                        sim.bad_signatures += 1
                    return self._answer(401, {"status": "failed", "message": "signature does not verify"})
                key = self.headers.get(idempotency_header)
                try:
                    record = json.loads(body)
                except ValueError:
                    return self._answer(400, {"status": "failed", "message": "body is not JSON"})
                if not key or record.get("idempotency_key") != key:
                    return self._answer(400, {"status": "failed", "message": "idempotency key header and body differ"})
                with sim.lock:
                    sim.requests[key] += 1
                    mode = sim.script.popleft() if sim.script else sim.default
                if mode == "500":
                    return self._answer(503, {"status": "error", "message": "Buchungsdienst nicht verfügbar"})
                if mode == "reject":
                    return self._answer(422, {"status": "failed", "message": "Sachkonto ist gesperrt"})
                if mode.startswith("slow"):
                    time.sleep(float(mode.split(":")[1]))
                with sim.lock:
                    if key in sim.bookings:
                        return self._answer(200, {"status": "duplicate", "booking_number": sim.bookings[key]})
                    if mode == "duplicate":  # claims to know the key already (e.g. booked by another channel)
                        sim.bookings[key] = f"ALT-{len(sim.bookings) + 1:05d}"
                        return self._answer(409, {"status": "duplicate", "booking_number": sim.bookings[key]})
                    sim.bookings[key] = f"FIN-{len(sim.bookings) + 1:05d}"
                    sim.accepted[key] += 1
                    sim.bodies[key] = record
                    return self._answer(201, {"status": "booked", "booking_number": sim.bookings[key]})

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/belege"

    def start(self) -> "FinanceSimulator":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "FinanceSimulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
