"""secp256k1 keys: the emulator's own signing key and key pairs for projects.

Private keys are written as SEC1 ``EC PRIVATE KEY`` PEM, the form the SDK's ``Project``
accepts; public keys as ``PUBLIC KEY`` (SubjectPublicKeyInfo) PEM, the form
``/v2/public-key`` serves and ``starkbank.event.parse`` reads.
"""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

_ECDSA = ec.ECDSA(hashes.SHA256())


def generate_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256K1())


def private_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def public_pem(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> str:
    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_private_pem(pem: str) -> ec.EllipticCurvePrivateKey:
    """Parse a secp256k1 private key PEM (SEC1 or PKCS#8); refuses other curves.

    Also reads the SDK's own key files (``starkbank.key.create``), which drop leading
    zero bytes of the secret in about one key in 256, a form OpenSSL refuses.
    """
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except ValueError:
        key = ec.derive_private_key(_sdk_secret(pem), ec.SECP256K1())
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256K1):
        raise ValueError("the key must be an EC secp256k1 private key in PEM form")
    return key


def _sdk_secret(pem: str) -> int:
    from ellipticcurve import PrivateKey

    try:
        key = PrivateKey.fromPem(pem)
    except Exception as exc:  # the SDK's parser raises bare Exceptions for bad input
        raise ValueError("not a private key in PEM form") from exc
    if key.curve.name != "secp256k1":
        raise ValueError("the key must be an EC secp256k1 private key in PEM form")
    return int(key.secret)


def new_key_pair() -> tuple[str, str]:
    """A fresh (private PEM, public PEM) pair, e.g. for a test project."""
    key = generate_private_key()
    return private_pem(key), public_pem(key)


class Signer:
    """Signs bytes the way Stark Bank signs webhook bodies (base64 DER ECDSA-SHA256)."""

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self._key = key
        self.public_pem = public_pem(key)

    def sign(self, content: bytes) -> str:
        return base64.b64encode(self._key.sign(content, _ECDSA)).decode()
