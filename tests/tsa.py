"""A time-stamping authority on loopback for the tests: OpenSSL's RFC 3161 TSA (`openssl ts -reply`)
behind a small HTTP server, with its own root CA and a TSA certificate (critical EKU timeStamping).

It answers real TimeStampReq/TimeStampResp over HTTP exactly as a qualified TSA would (RFC 3161
section 3.4), so the archive's client and verifier are tested against an independent
implementation, not against themselves. Certificates are made fresh per instance.
"""
from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_CONFIG = """\
[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
dir = {dir}
serial = {dir}/serial
crypto_device = builtin
signer_cert = {dir}/tsa.pem
certs = {dir}/tsa.pem
signer_key = {dir}/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.1.1
other_policies = 1.3.6.1.4.1.99999.1.2
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _key_usage(**on) -> x509.KeyUsage:
    names = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
             "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
    return x509.KeyUsage(**{n: on.get(n, False) for n in names})


class LocalTSA:
    def __init__(self, name: str = "Test TSA") -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="einvoice-tsa-"))
        self.requests = 0
        self.down = False  # answer 503, like a TSA in maintenance
        now = dt.datetime.now(dt.timezone.utc)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} Root CA")])
        self.root = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
                     .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                     .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
                     .sign(ca_key, hashes.SHA256()))
        tsa_key = ec.generate_private_key(ec.SECP256R1())
        tsa = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
               .issuer_name(ca_name).public_key(tsa_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
               .add_extension(_key_usage(digital_signature=True, content_commitment=True), critical=True)
               .sign(ca_key, hashes.SHA256()))
        pem = serialization.Encoding.PEM
        (self.dir / "root.pem").write_bytes(self.root.public_bytes(pem))
        (self.dir / "tsa.pem").write_bytes(tsa.public_bytes(pem))
        (self.dir / "tsa.key").write_bytes(tsa_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                                 serialization.NoEncryption()))
        (self.dir / "serial").write_text("01\n")
        (self.dir / "tsa.cnf").write_text(_CONFIG.format(dir=self.dir))
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def root_file(self) -> Path:
        return self.dir / "root.pem"

    def reply(self, query: bytes) -> bytes:
        """OpenSSL's TimeStampResp for a DER TimeStampReq."""
        with self._lock:  # one serial-number file
            self.requests += 1
            q, r = self.dir / "query.tsq", self.dir / "reply.tsr"
            q.write_bytes(query)
            subprocess.run(["openssl", "ts", "-reply", "-config", str(self.dir / "tsa.cnf"), "-queryfile", str(q),
                            "-out", str(r)], check=True, capture_output=True)
            return r.read_bytes()

    def start(self) -> "LocalTSA":
        tsa = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if tsa.down:
                    self.send_response(503)
                    self.end_headers()
                    return
                if self.headers.get("Content-Type") != "application/timestamp-query":
                    self.send_response(415)
                    self.end_headers()
                    return
                out = tsa.reply(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/tsa"

    def authority(self):
        from archive.timestamp import TimestampAuthority

        return TimestampAuthority(self.url, [self.root], timeout=10)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "LocalTSA":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
