"""CPU of one 100-transfer ``transfer.create`` in the worker: SDK user parsing its key on every
request (``starkbank.Project``) against the gateway's ``ParsedKeyProject`` (parsed once).

    .venv/bin/python bench/sdk_batch_cpu.py [--batches 20]

starksandbox runs in its own process pinned to core 1; this process (the "worker") is pinned
to core 0 and calls ``BankGateway.create_transfers`` with 100 transfers, alternating the two
users batch by batch. CPU is this process's user + system time (every thread) per batch, so
the emulator's work is not counted. Prints min / median / max per user.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import starkbank

from relay_load import pin, run_sandbox
from relay_throughput import PROJECT_ID, child
from starkrelay.bank import BankGateway, NewTransfer
from starkrelay.bank.project import ParsedKeyProject
from starkrelay.settings import Settings
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
        users = {
            "starkbank.Project (PEM parsed per request)": starkbank.Project(
                environment="sandbox", id=PROJECT_ID, private_key=project_key
            ),
            "ParsedKeyProject (parsed once)": ParsedKeyProject(
                environment="sandbox", id=PROJECT_ID, private_key=project_key
            ),
        }
        cpu: dict[str, list[float]] = {name: [] for name in users}

        async def run() -> None:
            await gateway.create_transfers(batch("warm", args.size))
            for n in range(args.batches):
                for name, user in users.items():
                    gateway._user = user  # the bench compares the two users on one gateway
                    before = time.process_time()
                    await gateway.create_transfers(
                        batch(f"{n}{len(cpu[name])}{name[0]}", args.size)
                    )
                    cpu[name].append((time.process_time() - before) * 1000)

        asyncio.run(run())
    print(f"CPU of one create_transfers({args.size} items) in this process, ms "
          f"(min / median / max over {args.batches} batches each):")  # fmt: skip
    for name, values in cpu.items():
        print(f"   {name:45s} {min(values):6.2f} / {statistics.median(values):6.2f} / "
              f"{max(values):6.2f}   = {statistics.median(values) * 1000 / args.size:5.0f} us "
              "per forwarded invoice")  # fmt: skip


if __name__ == "__main__":
    main()
