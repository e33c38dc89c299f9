"""``keygen``: a new key pair for a Stark Bank project."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from starkrelay.cli.common import app, console, fail


@app.command()
def keygen(
    directory: Annotated[Path, typer.Option(help="Where to write the key pair.")] = Path("keys"),
) -> None:
    """Write a new secp256k1 key pair (private-key.pem, public-key.pem) for a Stark project."""
    from ellipticcurve import PrivateKey

    directory.mkdir(parents=True, exist_ok=True)
    private_path, public_path = directory / "private-key.pem", directory / "public-key.pem"
    if private_path.exists():
        fail(f"{private_path} exists; refusing to overwrite a private key")
    key = PrivateKey()
    private_path.write_text(key.toPem().strip() + "\n")
    private_path.chmod(0o600)
    public_path.write_text(key.publicKey().toPem().strip() + "\n")
    console.print(
        f"Wrote {private_path} (keep it secret) and {public_path} (upload it to Stark Bank)."
    )
