"""RFC 3161 time-stamps over checkpoints: an anchor outside the archive's own key.

A checkpoint is signed with the archive's Ed25519 key, so whoever holds that key could rewrite
the log and sign the new history with old dates. A time-stamp token of an independent
Time-Stamping Authority (RFC 3161; in Germany a qualified time-stamp under eIDAS Art. 42, as
BSI TR-ESOR asks for evidence records) over a checkpoint's exact bytes proves that this tree head,
and so every leaf below it, existed no later than the token's time. A rewritten history then
needs either the old tokens (which name the old bytes) or new ones (which carry today's date).

Protocol (RFC 3161 section 3.4, "TSP over HTTP"): POST the DER ``TimeStampReq`` with
``Content-Type: application/timestamp-query``; the answer is a DER ``TimeStampResp``
(``application/timestamp-reply``). We send only the SHA-512 hash of the checkpoint, a nonce, and
ask for the TSA's certificate in the token, so a verifier needs nothing but the TSA's root
certificate. The stored file is the whole ``TimeStampResp`` as the TSA sent it.

ASN.1, CMS and certificate-path checks are ``rfc3161-client``'s (Trail of Bits, the library
sigstore uses); this module adds what the archive needs: which bytes are stamped, the nonce, and
findings that say expected versus computed. What a token proves (the time, the imprint, the
signed attributes and the signature) is checked byte for byte; a CMS token also carries bytes no
signature covers (version numbers, algorithm labels, a second copy of the TSA certificate), and
changing those changes nothing the token proves. It must never store or accept a token it has
not verified, and never send anything but the hash.
"""
from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .errors import ArchiveError

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
_HASHES = {"2.16.840.1.101.3.4.2.1": hashlib.sha256, "2.16.840.1.101.3.4.2.2": hashlib.sha384,
           "2.16.840.1.101.3.4.2.3": hashlib.sha512}


@dataclass(frozen=True)
class TokenProblem:
    """Why a token does not prove what it should; ``code`` names the check that failed."""

    code: str  # timestamp-unreadable | timestamp-not-granted | timestamp-mismatch | timestamp-invalid
    message: str
    expected: str | None = None
    computed: str | None = None

    def __str__(self) -> str:
        extra = f" (expected {self.expected}, computed {self.computed})" if self.expected or self.computed else ""
        return f"{self.code}: {self.message}{extra}"


@dataclass(frozen=True)
class TokenInfo:
    """What a verified token says: the time, the TSA's serial number for it, who signed it."""

    gen_time: datetime
    serial_number: int
    tsa: str  # subject of the signing certificate
    hash_algorithm: str


def load_certificates(paths) -> list:
    """X.509 certificates (PEM, several per file allowed, or DER) of the TSA roots an auditor trusts."""
    from cryptography import x509

    certs = []
    for path in paths:
        data = Path(path).read_bytes()
        try:
            certs += x509.load_pem_x509_certificates(data) if b"-----BEGIN" in data else [x509.load_der_x509_certificate(data)]
        except ValueError as exc:
            raise ArchiveError(f"{path}: not an X.509 certificate ({exc})", kind="usage") from exc
    if not certs:
        raise ArchiveError("no TSA root certificate given", kind="usage")
    return certs


def _decode(token: bytes):
    from rfc3161_client import decode_timestamp_response

    try:
        return decode_timestamp_response(token)
    except Exception:  # noqa: BLE001 - the parser raises ValueError or its own errors
        return None


def _signer_subject(resp) -> str:
    from cryptography import x509

    try:
        [si] = list(resp.signed_data.signer_infos)
        for der in resp.signed_data.certificates:
            cert = x509.load_der_x509_certificate(der)
            if cert.issuer == si.issuer and cert.serial_number == si.serial_number:
                return cert.subject.rfc4514_string()
    except Exception:  # noqa: BLE001 - only a label for the report; the verification itself is strict
        pass
    return "?"


def check_token(token: bytes, data: bytes, roots: list, *,
                nonce: int | None = None) -> tuple[TokenInfo | None, TokenProblem | None]:
    """Whether ``token`` time-stamps exactly ``data`` and is signed by a TSA under ``roots``.

    Steps: (1) the response parses and its status is "granted"; (2) its message imprint is the
    hash of ``data`` under the algorithm the token names; (3) the CMS signature verifies with a
    certificate that chains to one of ``roots``, valid at the token's time, with the critical
    id-kp-timeStamping key purpose (RFC 3161 2.3); (4) the nonce is ours, when we asked.
    Returns (what the token says, None) or (None, the first check that failed); never raises for
    a bad token, whatever its bytes (a verifier must report every problem, not stop at one).
    """
    try:
        return _check_token(token, data, roots, nonce)
    except Exception as exc:  # noqa: BLE001 - a parser or library error on hostile bytes is a finding
        return None, TokenProblem("timestamp-unreadable", f"the token could not be read ({type(exc).__name__}: {exc})")


def _check_token(token: bytes, data: bytes, roots: list, nonce: int | None) -> tuple[TokenInfo | None, TokenProblem | None]:
    from cryptography import x509
    from rfc3161_client import VerificationError, VerifierBuilder

    resp = _decode(token)
    if resp is None:
        return None, TokenProblem("timestamp-unreadable", "not a readable RFC 3161 time-stamp response")
    if resp.status != 0:  # PKIStatus granted; 1 (grantedWithMods) is refused too, as sigstore does
        return None, TokenProblem("timestamp-not-granted", f"the TSA did not grant the time-stamp (status "
                                  f"{resp.status}: {' '.join(resp.status_string) or 'no reason given'})")
    try:  # the parser decodes the token's inner structures only when they are read
        imprint = resp.tst_info.message_imprint
        oid = imprint.hash_algorithm.dotted_string
        gen = resp.tst_info.gen_time
        serial = resp.tst_info.serial_number
    except ValueError as exc:
        return None, TokenProblem("timestamp-unreadable", f"the time-stamp token is malformed ({exc})")
    if oid not in _HASHES:
        return None, TokenProblem("timestamp-invalid", f"the token uses hash algorithm {oid}, which this "
                                  f"verifier does not accept")
    expected = _HASHES[oid](data).hexdigest()
    if imprint.message.hex() != expected:
        return None, TokenProblem("timestamp-mismatch", "the token time-stamps other bytes than the checkpoint's",
                                  expected, imprint.message.hex())
    builder = VerifierBuilder()
    for root in roots:
        builder = builder.add_root_certificate(root)
    if nonce is not None:
        builder = builder.nonce(nonce)
    try:
        builder.build().verify_message(resp, data)
    except (VerificationError, ValueError, x509.InvalidVersion) as exc:  # a garbled embedded certificate
        return None, TokenProblem("timestamp-invalid", f"the token's signature does not verify against the "
                                  f"trusted TSA roots: {exc}")
    gen = gen.replace(tzinfo=timezone.utc) if gen.tzinfo is None else gen.astimezone(timezone.utc)
    return TokenInfo(gen, serial, _signer_subject(resp), oid), None


@dataclass
class TimestampAuthority:
    """An RFC 3161 TSA reached over HTTP(S), and the roots its tokens must chain to."""

    url: str
    roots: list
    timeout: float = 15.0

    def stamp(self, data: bytes) -> tuple[bytes, TokenInfo]:
        """The TSA's ``TimeStampResp`` over ``data`` (checked before it is returned) and what it says."""
        from rfc3161_client import HashAlgorithm, TimestampRequestBuilder

        request = TimestampRequestBuilder().data(data).hash_algorithm(HashAlgorithm.SHA512) \
            .nonce(nonce=True).cert_request(cert_request=True).build()
        http = urllib.request.Request(self.url, data=request.as_bytes(), method="POST",
                                      headers={"Content-Type": QUERY_TYPE, "Accept": REPLY_TYPE})
        try:
            with urllib.request.urlopen(http, timeout=self.timeout) as r:  # noqa: S310 - the configured TSA URL
                token, ctype = r.read(), r.headers.get("Content-Type", "")
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise ArchiveError(f"time-stamping authority {self.url} did not answer: {exc}", kind="io") from exc
        if not ctype.startswith(REPLY_TYPE):
            raise ArchiveError(f"time-stamping authority {self.url} answered {ctype!r}, not {REPLY_TYPE}", kind="io")
        info, problem = check_token(token, data, self.roots, nonce=request.nonce)
        if problem is not None:
            # A TSA that answers with a token we cannot verify is misconfigured (or not the TSA).
            raise ArchiveError(f"time-stamping authority {self.url} sent a token that does not verify: {problem}",
                               kind="io")
        if info is None:  # check_token returns either the token's information or a problem
            raise RuntimeError("check_token returned neither token information nor a problem")
        return token, info
