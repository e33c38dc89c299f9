"""``starkrelay demo`` end to end, and its exactly-once check against planted discrepancies.

The demo runs as a real process (its own logging, its own SDK redirection) at a speed that
plays the 24 h campaign in 6 s, against the test session's Redis (``REDIS_URL``). The check
(``demo.verdict``) is fed real records from a starksandbox, read through the SDK.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import starkbank
from tests.support.processes import relay_environment, starkrelay_command

from starkrelay.bank import BankGateway
from starkrelay.core.settings import Settings
from starkrelay.demo.verdict import Verdict, sandbox_verdict
from starksandbox.testing import SandboxHandle, running_sandbox


def _demo(redis_url: str, cwd: Path, *options: str) -> subprocess.CompletedProcess[str]:
    env = relay_environment(redis_url=redis_url, columns=120)
    return subprocess.run(
        starkrelay_command("demo", *options),
        cwd=cwd, env=env, capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip


def test_the_demo_forwards_every_credited_invoice_exactly_once(
    redis_url: str, tmp_path: Path
) -> None:
    done = _demo(redis_url, tmp_path, "--speed", "14400", "--seed", "7", "--timeout", "60")
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    for expected in (
        "8/8",
        "Money report",
        "Every credited invoice adds up.",
        "forwarded exactly once",
        "the balance agrees to the cent",
    ):
        assert expected in out, f"{expected!r} missing from the demo's output:\n{out}"
    issued = int(re.search(r"invoices issued\s+(\d+)", out).group(1))  # type: ignore[union-attr]
    assert 64 <= issued <= 96
    log_path = Path(re.search(r"Logs: (\S+)", out).group(1))  # type: ignore[union-attr]
    assert "demo.invoice.paid" in log_path.read_text()
    assert '"level"' not in out  # logs went to the file, not the terminal
    prefix = re.search(r'"redis_key_prefix":\s*"([^"]+)"', log_path.read_text())
    assert prefix is not None
    assert redis.Redis.from_url(redis_url).keys(prefix.group(1) + ":*") == []  # left as found


def test_a_daily_limit_holds_the_rest_and_says_how_to_approve(
    redis_url: str, tmp_path: Path
) -> None:
    done = _demo(
        redis_url, tmp_path, "--speed", "14400", "--seed", "7", "--timeout", "60",
        "--daily-limit", "500.00",
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    forwarded = re.search(r"- forwarded \((\d+) transfers\)\s+│\s+R\$ ([\d,.]+)", out)
    assert forwarded is not None, out
    assert float(forwarded.group(2).replace(",", "")) <= 500.00  # never past the limit
    held = re.search(r"(\d+) forward\(s\) of R\$ [\d,.]+ are held", out)
    assert held is not None, out
    assert int(held.group(1)) > 0, out
    for expected in (
        "forwards past R$ 500.00 a day are held for approval",
        "would pass the daily limit of R$ 500.00",
        "/console/held",
        "/api/v1/admin/forwards/approve",
        "starkrelay forwards approve ",
        "the balance agrees to the cent",
    ):
        assert expected in out, f"{expected!r} missing from the demo's output:\n{out}"
    refused = _demo(redis_url, tmp_path, "--daily-limit", "lots")
    assert refused.returncode == 2
    assert "expected an amount in R$ above 0" in refused.stderr


def test_the_demo_gives_up_loudly_past_its_timeout(redis_url: str, tmp_path: Path) -> None:
    done = _demo(redis_url, tmp_path, "--timeout", "1")
    assert done.returncode == 1
    assert "gave up after 1 s while" in done.stdout
    assert "The log is" in done.stdout


def test_a_redis_url_that_does_not_answer_is_named(tmp_path: Path) -> None:
    done = _demo("redis://127.0.0.1:1/0", tmp_path)
    assert done.returncode == 1
    assert "REDIS_URL: no Redis answers there" in done.stderr


@pytest.fixture
def funded_sandbox() -> Iterator[tuple[SandboxHandle, BankGateway]]:
    with running_sandbox(pay_share=0.0, initial_balance=100_000, transfer_fee=25) as sb:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            stark_project_id=sb.project_id,
            stark_private_key=sb.private_key,
            stark_api_url=sb.url,
            bank_retry_deadline_seconds=1,
        )
        yield sb, BankGateway(settings)


def _paid_invoice(sb: SandboxHandle, amount: int) -> tuple[str, int]:
    invoice = starkbank.invoice.create(
        [starkbank.Invoice(amount=amount, name="Ana Lima", tax_id="012.345.678-90")]
    )[0]
    paid = sb.pay_invoice(invoice.id)
    return invoice.id, int(paid["amount"]) - int(paid["fee"])


def _forward(amount: int, external_id: str, tag: str) -> None:
    starkbank.transfer.create(
        [
            starkbank.Transfer(
                amount=amount, name="Stark Bank S.A.", tax_id="20.018.183/0001-80",
                bank_code="20018183", branch_code="0001", account_number="6341320293482496",
                account_type="payment", external_id=external_id, tags=[tag],
            )
        ]
    )  # fmt: skip


def _verdict(sb: SandboxHandle, bank: BankGateway, transfers: int, initial: int) -> Verdict:
    sb.wait_until(lambda: sb.summary()["transfers"].get("success") == transfers)
    return asyncio.run(sandbox_verdict(bank, initial_balance=initial))


def test_the_check_passes_when_money_moved_exactly_once(
    funded_sandbox: tuple[SandboxHandle, BankGateway],
) -> None:
    sb, bank = funded_sandbox
    invoice_id, net = _paid_invoice(sb, 10_000)
    _forward(net, f"invoice-{invoice_id}", f"invoice:{invoice_id}")
    verdict = _verdict(sb, bank, 1, 100_000)
    assert verdict.ok, verdict.problems
    assert (verdict.credited_invoices, verdict.net_credited, verdict.forwarded) == (1, net, net)
    assert verdict.transfer_fees == 25
    assert verdict.balance == verdict.expected_balance == 100_000 - 25
    assert (verdict.unexplained_outflow, verdict.unexplained_transfers) == (0, 0)


def test_a_held_invoice_must_have_no_transfer(
    funded_sandbox: tuple[SandboxHandle, BankGateway],
) -> None:
    sb, bank = funded_sandbox
    held, held_net = _paid_invoice(sb, 10_000)
    sent, sent_net = _paid_invoice(sb, 20_000)
    _forward(sent_net, f"invoice-{sent}", f"invoice:{sent}")
    sb.wait_until(lambda: sb.summary()["transfers"].get("success") == 1)
    verdict = asyncio.run(sandbox_verdict(bank, initial_balance=100_000, held={held}))
    assert verdict.ok, verdict.problems
    assert (verdict.held_invoices, verdict.held) == (1, held_net)
    assert verdict.balance == verdict.expected_balance
    _forward(held_net, f"invoice-{held}", f"invoice:{held}")  # sent although held
    verdict = _verdict(sb, bank, 2, 100_000)
    wrong = asyncio.run(sandbox_verdict(bank, initial_balance=100_000, held={held}))
    assert [p for p in wrong.problems if "held for approval, yet 1 transfer(s)" in p]
    assert verdict.ok  # without the hold, it is simply forwarded once


def test_planted_discrepancies_each_fail_the_check(
    funded_sandbox: tuple[SandboxHandle, BankGateway],
) -> None:
    sb, bank = funded_sandbox
    good, good_net = _paid_invoice(sb, 10_000)
    twice, twice_net = _paid_invoice(sb, 20_000)
    short, short_net = _paid_invoice(sb, 30_000)
    never = starkbank.invoice.create(
        [starkbank.Invoice(amount=5_000, name="Rui Alves", tax_id="529.982.247-25")]
    )[0]
    _forward(good_net, f"invoice-{good}", f"invoice:{good}")
    _forward(twice_net, f"invoice-{twice}", f"invoice:{twice}")
    _forward(twice_net, f"invoice-{twice}-r1", f"invoice:{twice}")
    _forward(short_net - 1, f"invoice-{short}", f"invoice:{short}")
    _forward(4_000, f"invoice-{never.id}", f"invoice:{never.id}")
    _forward(1_000, "payroll-1", "payroll")

    verdict = _verdict(sb, bank, 6, 100_000)

    def found(*parts: str) -> bool:
        return any(all(part in problem for part in parts) for problem in verdict.problems)

    assert not verdict.ok
    assert found(f"invoice {twice} ", "forwarded 2 times, expected exactly once")
    assert found(f"invoice {short} ", "forwarded R$ 299.49")
    assert found(f"forwards invoice {never.id}, never credited")
    assert found("carries no invoice:<id> tag")
    assert not found(good)
    assert not found("balance")  # each of those transfers did move the money
    assert found("unexplained outflow", "in 3 transfer(s)")
    assert verdict.unexplained_transfers == 3  # the second forward, never credited, payroll
    assert verdict.unexplained_outflow == twice_net + 4_000 + 1_000
    assert len(verdict.problems) == 5

    off_by_a_cent = asyncio.run(sandbox_verdict(bank, initial_balance=100_001))
    assert any("off by -R$ 0.01" in problem for problem in off_by_a_cent.problems)
