"""Where the project's private key comes from, and that it is a secp256k1 key.

``STARK_PRIVATE_KEY`` (PEM text, ``\\n`` escapes allowed), else ``STARK_PRIVATE_KEY_FILE``,
else the older pair ``STARKBANK_EC_PARAMETERS`` + ``STARKBANK_EC_PRIVATE_KEY``. A wrong one
raises ``ValueError`` naming the variable, never echoing the key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ellipticcurve import PrivateKey

if TYPE_CHECKING:
    from starkrelay.core.settings import Settings


def _pem(value: str, label: str) -> str:
    """Accept PEM text with real newlines or ``\\n`` escapes, or a bare base64 body."""
    text = value.strip().replace("\\n", "\n")
    if "-----BEGIN" not in text:
        text = f"-----BEGIN {label}-----\n{text}\n-----END {label}-----"
    return text + "\n"


def resolve_private_key(settings: Settings) -> str:
    """The PEM from the first variable that provides it; ``ValueError`` names the variable."""
    expected = "expected a secp256k1 private key in PEM format (-----BEGIN EC PRIVATE KEY-----)"
    if settings.stark_private_key is not None and settings.stark_private_key.get_secret_value():
        source = "STARK_PRIVATE_KEY"
        pem = _pem(settings.stark_private_key.get_secret_value(), "EC PRIVATE KEY")
    elif settings.stark_private_key_file is not None:
        source = "STARK_PRIVATE_KEY_FILE"
        try:
            pem = settings.stark_private_key_file.read_text(encoding="utf-8")
        except OSError as error:
            raise ValueError(
                f"{source}: cannot read the file ({error.strerror}); expected a readable PEM file"
            ) from None
    elif settings.starkbank_ec_private_key is not None:
        source = "STARKBANK_EC_PRIVATE_KEY"
        params = settings.starkbank_ec_parameters
        pem = _pem(settings.starkbank_ec_private_key.get_secret_value(), "EC PRIVATE KEY")
        if params is not None and params.get_secret_value():
            pem = _pem(params.get_secret_value(), "EC PARAMETERS") + pem
    else:
        raise ValueError(
            "STARK_PRIVATE_KEY: missing; expected the project's PEM private key in "
            "STARK_PRIVATE_KEY, or its path in STARK_PRIVATE_KEY_FILE, or the pair "
            "STARKBANK_EC_PARAMETERS + STARKBANK_EC_PRIVATE_KEY"
        )
    try:
        curve = PrivateKey.fromPem(pem).curve.name
    except Exception:
        raise ValueError(f"{source}: {expected}") from None
    if curve != "secp256k1":
        raise ValueError(f"{source}: {expected}; got a key on another curve")
    return pem
