"""Ed25519 keys that sign the publication log's daily roots (:mod:`schemas.disclosure.ledger`).

The private key lives in a PEM (PKCS #8, unencrypted) file readable by its owner only; its
public half is stored in ``signing_keys`` and published (``GET /v1/publication/keys``), so
anyone can check the roots. A key is named by its *key id*: the first 16 hex digits of the
SHA-256 of the raw 32-byte public key.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "DEFAULT_KEY_FILE",
    "SigningKeyError",
    "default_key_path",
    "generate_key",
    "key_id",
    "load_private_key",
    "load_public_keys",
    "public_key_from_raw",
    "public_key_pem",
    "raw_public_key",
]

DEFAULT_KEY_FILE = Path("var/signing-key.pem")


class SigningKeyError(Exception):
    """A key file is missing, unreadable, not Ed25519, or would be overwritten."""


def default_key_path(setting: Path | None) -> Path:
    """The private key file: the ``signing_key_file`` setting, else ``var/signing-key.pem``."""
    return setting if setting is not None else DEFAULT_KEY_FILE


def raw_public_key(key: Ed25519PublicKey | Ed25519PrivateKey) -> bytes:
    """The raw 32 bytes of a public key (of a private key: of its public half)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_from_raw(raw: bytes) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(bytes(raw))
    except ValueError as exc:
        raise SigningKeyError(f"not a raw Ed25519 public key: {exc}") from None


def key_id(public_key: Ed25519PublicKey | Ed25519PrivateKey | bytes) -> str:
    """First 16 hex digits of SHA-256 over the raw public key (bytes: the raw key itself)."""
    if isinstance(public_key, Ed25519PublicKey | Ed25519PrivateKey):
        raw = raw_public_key(public_key)
    else:
        raw = bytes(public_key)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_key_pem(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """The public key (of a private key: its public half) as PEM SubjectPublicKeyInfo."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def generate_key(path: Path) -> str:
    """Write a new Ed25519 private key to ``path`` (PEM PKCS #8, mode 0600, parent folders
    created); refuse to overwrite an existing file. Returns the key id."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SigningKeyError(f"{path} exists: refusing to overwrite a signing key") from None
    except OSError as exc:
        raise SigningKeyError(f"cannot create {path}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), 0o600)  # whatever the umask
        out.write(pem)
    return key_id(key)


def _read(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"cannot read {path}: {exc.strerror}") from None


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in a PEM file (unencrypted PKCS #8)."""
    data = _read(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise SigningKeyError(f"{path}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path}: not an Ed25519 key")
    return key


def _load_public(path: Path) -> Ed25519PublicKey:
    data = _read(path)
    if b"PRIVATE KEY" in data:  # a private key file also names its public half
        return load_private_key(path).public_key()
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise SigningKeyError(f"{path}: not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{path}: not an Ed25519 key")
    return key


def load_public_keys(paths: Iterable[Path]) -> dict[str, Ed25519PublicKey]:
    """Key id → public key, from PEM public key files (a private key file gives its public
    half), e.g. the keys published at ``/v1/publication/keys`` saved by a verifier."""
    keys: dict[str, Ed25519PublicKey] = {}
    for path in paths:
        key = _load_public(path)
        keys[key_id(key)] = key
    return keys
