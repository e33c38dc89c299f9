"""What ``starkrelay doctor`` finds: one ``CheckResult`` per check, gathered in a ``DoctorReport``.

``warn`` is a pass with a remark (an optional setting unset, a fact that could not be read on
managed Redis); ``skip`` means the check could not run or was not asked for. No result carries
a secret, and every ``detail`` and ``fix`` is one line.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

from starkrelay.forwarding import transfers


class Status(enum.StrEnum):
    PASSED = "pass"
    WARNED = "warn"
    FAILED = "fail"
    SKIPPED = "skip"


@dataclass(frozen=True)
class CheckResult:
    name: str
    """Dotted, stable: ``settings``, ``redis.eviction``, ``stark.webhook``, ``url.https``..."""
    status: Status
    detail: str
    fix: str = ""


class Destination(transfers.Destination):
    """The account every forward goes to, as the doctor reports it."""

    def describe(self) -> str:
        """``forwards to Stark Bank S.A., bank 20018183, branch 0001, account ... (payment),
        tax ID 20.018.183/0001-80``."""
        return (
            f"forwards to {self.name}, bank {self.bank_code}, branch {self.branch_code}, "
            f"account {self.account_number} ({self.account_type}), tax ID {self.tax_id}"
        )


@dataclass
class DoctorReport:
    results: list[CheckResult] = field(default_factory=list)
    workspace_id: str | None = None
    """The workspace id Stark Bank reports for these credentials (the value of
    ``STARK_WORKSPACE_ID``), or None when it could not be read."""
    destination: Destination | None = None
    """Where forwards go, when the settings could be read."""

    @property
    def ok(self) -> bool:
        """True when no check failed (passes, warnings and skips only)."""
        return all(result.status is not Status.FAILED for result in self.results)

    @property
    def failed(self) -> list[CheckResult]:
        return [result for result in self.results if result.status is Status.FAILED]

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "workspace_id": self.workspace_id,
            "destination": None if self.destination is None else asdict(self.destination),
            "checks": [asdict(result) for result in self.results],
        }


def passed(name: str, detail: str) -> CheckResult:
    return CheckResult(name, Status.PASSED, detail)


def failed(name: str, detail: str, fix: str = "") -> CheckResult:
    return CheckResult(name, Status.FAILED, detail, fix)


def warned(name: str, detail: str, fix: str = "") -> CheckResult:
    return CheckResult(name, Status.WARNED, detail, fix)


def skipped(name: str, detail: str) -> CheckResult:
    return CheckResult(name, Status.SKIPPED, detail)


def first_line(error: BaseException) -> str:
    """An exception as one line: its message's first line, else its type's name."""
    lines = str(error).strip().splitlines()
    return lines[0].strip() if lines else type(error).__name__
