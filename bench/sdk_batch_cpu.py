"""CPU of one 100-transfer create in the worker, three ways:

1. ``starkbank.transfer.create`` with a ``starkbank.Project`` (the PEM parsed on every request:
   how the gateway called it before);
2. the same with ``ParsedKeyProject`` (the key parsed once);
3. ``BankGateway.create_transfers`` as it is now: the SDK's raw signed request
   (``starkbank.request.post``) with the parsed key, no SDK objects built or parsed.

    .venv/bin/python bench/sdk_batch_cpu.py [--batches 20]

starksandbox runs in its own process pinned to core 1; this process (the "worker") is pinned
to core 0, alternating the three ways batch by batch. CPU is this process's user + system time
(every thread) per batch, so the emulator's work is not counted. Prints min / median / max.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

import starkbank

from relay_load import pin, run_sandbox
from relay_throughput import PROJECT_ID, child
from starkrelay.bank import BankGateway, NewTransfer, convert
from starkrelay.bank.project import ParsedKeyProject
from starkrelay.core.settings import Settings
from starksandbox.keys import new_key_pair


def batch(run: str, size: int) -> list[NewTransfer]:
    return [
        NewTransfer(
            amount=1000 + n,
            name="Stark Bank S.A.",
            tax_id="20.018.183/0001-80",
            bank_code="20018183",
            branch_code="0001",
            account_number="6341320293482496",
            account_type="payment",
            external_id=f"invoice-{run}-{n}",
            tags=(f"invoice:{run}-{n}",),
        )
        for n in range(size)
    ]


def sdk_transfer(item: NewTransfer) -> Any:
    return starkbank.Transfer(
        amount=item.amount,
        name=item.name,
        tax_id=item.tax_id,
        bank_code=item.bank_code,
        branch_code=item.branch_code,
        account_number=item.account_number,
        account_type=item.account_type,
        external_id=item.external_id,
        tags=list(item.tags),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--size", type=int, default=100)
    args = parser.parse_args()
    pin(0)
    project_key, project_public = new_key_pair()
    stark_key, _ = new_key_pair()
    with child(run_sandbox, PROJECT_ID, project_public, stark_key) as (sandbox_url, _):
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, stark_project_id=PROJECT_ID, stark_private_key=project_key,
            stark_api_url=sandbox_url, log_level="WARNING",
        )  # fmt: skip
        gateway = BankGateway(settings)
        plain = starkbank.Project(environment="sandbox", id=PROJECT_ID, private_key=project_key)
        parsed = ParsedKeyProject(environment="sandbox", id=PROJECT_ID, private_key=project_key)

        def sdk_create(user: Any, run_id: str) -> None:
            items = [sdk_transfer(item) for item in batch(run_id, args.size)]
            for made in starkbank.transfer.create(items, user=user):
                convert.transfer(made)

        def gateway_create(run_id: str) -> None:
            asyncio.run(gateway.create_transfers(batch(run_id, args.size)))

        ways: dict[str, Callable[[str], None]] = {
            "1. transfer.create, PEM parsed per request": lambda r: sdk_create(plain, r),
            "2. transfer.create, key parsed once": lambda r: sdk_create(parsed, r),
            "3. gateway: raw signed POST, key parsed once": gateway_create,
        }
        cpu: dict[str, list[float]] = {name: [] for name in ways}
        gateway_create("warm")
        for n in range(args.batches):
            for name, way in ways.items():
                before = time.process_time()
                way(f"{n}{name[0]}")
                cpu[name].append((time.process_time() - before) * 1000)
    print(f"CPU of one create_transfers({args.size} items) in this process, ms "
          f"(min / median / max over {args.batches} batches each):")  # fmt: skip
    for name, values in cpu.items():
        print(f"   {name:46s} {min(values):6.2f} / {statistics.median(values):6.2f} / "
              f"{max(values):6.2f}   = {statistics.median(values) * 1000 / args.size:5.0f} us "
              "per forwarded invoice")  # fmt: skip


if __name__ == "__main__":
    main()
