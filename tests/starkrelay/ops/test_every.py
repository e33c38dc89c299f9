"""``every``, the one way periodic work runs: timing, heartbeat, errors and stop."""

from __future__ import annotations

import itertools

import anyio
import pytest

from starkrelay.core import supervision
from starkrelay.core.supervision import Heartbeat, every


@pytest.fixture(autouse=True)
def quick_beats(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervision, "BEAT_SECONDS", 0.01)


def test_runs_at_once_then_after_each_wait() -> None:
    async def scenario() -> None:
        runs: list[float] = []
        three = anyio.Event()

        async def job() -> None:
            runs.append(anyio.current_time())
            if len(runs) == 3:
                three.set()

        async with every(0.05, job, Heartbeat("part")):
            await three.wait()
        assert all(b - a >= 0.05 for a, b in itertools.pairwise(runs))

    anyio.run(scenario)


def test_the_first_run_is_at_once_and_a_stop_ends_the_wait_at_once() -> None:
    async def scenario() -> None:
        ran = anyio.Event()

        async def job() -> None:
            ran.set()

        started = anyio.current_time()
        async with every(3600, job):
            await ran.wait()
        assert anyio.current_time() - started < 5

    anyio.run(scenario)


def test_a_callable_is_asked_for_the_wait_before_every_run_the_first_included() -> None:
    async def scenario() -> None:
        asked: list[int] = []
        runs: list[int] = []
        two = anyio.Event()

        def wait() -> float:
            asked.append(len(runs))
            return 0.02

        async def job() -> None:
            runs.append(len(asked))
            if len(runs) == 2:
                two.set()

        async with every(wait, job):
            await two.wait()
        assert asked[:2] == [0, 1]
        assert runs == [1, 2]

    anyio.run(scenario)


@pytest.mark.parametrize(("watch_job", "stale"), [(True, True), (False, False)])
def test_a_long_run_goes_silent_unless_the_job_is_not_watched(watch_job: bool, stale: bool) -> None:
    async def scenario() -> None:
        beats = Heartbeat("part")
        running, release = anyio.Event(), anyio.Event()

        async def job() -> None:
            running.set()
            await release.wait()

        async with every(60, job, beats, watch_job=watch_job):
            await running.wait()
            await anyio.sleep(0.1)
            assert (beats.silent_for() > 0.08) is stale
            release.set()

    anyio.run(scenario)


def test_start_up_comes_first_and_an_error_the_job_raises_ends_the_part() -> None:
    async def scenario() -> None:
        order: list[str] = []

        async def startup(part: Heartbeat) -> None:
            order.append(f"startup {part.name}")

        async def job() -> None:
            order.append("job")
            raise RuntimeError("a bug")

        with pytest.raises(ExceptionGroup) as died:
            async with every(0.01, job, Heartbeat("part"), startup=startup):
                await anyio.sleep(1)
        assert died.group_contains(RuntimeError, match="a bug")
        assert order == ["startup part", "job"]

    anyio.run(scenario)
