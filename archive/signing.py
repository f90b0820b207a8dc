"""Ed25519 keys and checkpoint signatures (``cryptography``).

The signature covers a domain-separation prefix plus the canonical JSON of the checkpoint body,
so a signature over some other JSON document can never be replayed as a checkpoint. The key id
is the SHA-256 of the raw 32-byte public key. This module must never write a private key
without the caller asking for it, and never accept a key that is not Ed25519.
"""
from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from . import canonical
from .errors import ArchiveError

DOMAIN = b"einvoice-archive checkpoint v1\n"


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def sign_body(private_key: Ed25519PrivateKey, body: dict[str, Any], domain: bytes = DOMAIN) -> str:
    """Base64 Ed25519 signature over ``domain || canonical JSON of body`` (checkpoints: ``DOMAIN``)."""
    return base64.b64encode(private_key.sign(domain + canonical.dumps(body))).decode("ascii")


def signature_valid(public_key: Ed25519PublicKey, body: dict[str, Any], signature_b64: str | None,
                    domain: bytes = DOMAIN) -> bool:
    if not signature_b64:
        return False
    try:
        sig = base64.b64decode(signature_b64, validate=True)
        public_key.verify(sig, domain + canonical.dumps(body))
        return True
    except (InvalidSignature, ValueError, ArchiveError):
        return False


def generate() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ArchiveError(f"cannot read public key {path}: {exc}", kind="io") from exc
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        try:  # a private key file also yields its public key
            key = serialization.load_pem_private_key(data, password=None).public_key()
        except (ValueError, TypeError) as exc:
            raise ArchiveError(f"{path} is not a PEM Ed25519 key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ArchiveError(f"{path} holds a {type(key).__name__}, expected an Ed25519 public key")
    return key


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ArchiveError(f"cannot read private key {path}: {exc}", kind="io") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ArchiveError(f"{path} is not an unencrypted PEM Ed25519 private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ArchiveError(f"{path} holds a {type(key).__name__}, expected an Ed25519 private key")
    return key
