"""``keygen``: a new key pair for a Stark Bank project."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from starkrelay.cli.common import app, console, fail


@app.command()
def keygen(
    directory: Annotated[
        Path, typer.Option(metavar="DIR", help="Where to write the key pair.")
    ] = Path("keys"),
) -> None:
    """Write a new secp256k1 key pair (private-key.pem, public-key.pem) for a Stark project."""
    directory.mkdir(parents=True, exist_ok=True)
    private_path, public_path = directory / "private-key.pem", directory / "public-key.pem"
    if private_path.exists():
        fail(f"{private_path} exists; refusing to overwrite a private key")
    private_pem, public_pem = pem_pair(ec.generate_private_key(ec.SECP256K1()))
    private_path.write_text(private_pem)
    private_path.chmod(0o600)
    public_path.write_text(public_pem)
    console.print(
        f"Wrote {private_path} (keep it secret) and {public_path} (upload it to Stark Bank)."
    )


def pem_pair(key: ec.EllipticCurvePrivateKey) -> tuple[str, str]:
    """SEC1 private and SubjectPublicKeyInfo public PEM, as OpenSSL writes them.

    The secret is always 32 bytes (RFC 5915). The SDK's own writer drops leading zero
    bytes, which about one key in 256 has, and OpenSSL then refuses the file.
    """
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private.decode(), public.decode()
