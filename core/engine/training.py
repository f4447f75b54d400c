"""Training now, on this device: the one way in for the CLI's compare and sweep and for the job runner.

Whoever trains takes the device lock (core.engine.device_lock), then fails what a runner or a CLI
that died left running (core.engine.jobs.recover_abandoned: only the lock's holder trains here, so
anything still marked running is abandoned), then starts the framework hosts, or reserves a device
on a Ray cluster, and executes comparisons on them. ``train_now`` does the first three;
``Training.execute`` the last.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from core.engine.compare import (
    ComparisonExecutor,
    RunEventCallback,
    add_repeat,
    comparison_executor,
    create_comparison,
    execute_comparison,
)
from core.engine.device_lock import device_lock
from core.engine.jobs import recover_abandoned
from core.engine.runner import WorkerOutcome
from core.spec import RunSpec
from core.store.queries import Store


@dataclass
class Training:
    """The device, held: the store to record in and, when ``train_now`` was given frameworks, their hosts."""

    store: Store
    hosts: ComparisonExecutor | None = None

    def execute(self, comparison_id: str, on_event: RunEventCallback | None = None,
                should_cancel: Callable[[], bool] = lambda: False) -> list[WorkerOutcome]:
        """Train the comparison's queued runs on these hosts (or on hosts of its own, started for it)."""
        return execute_comparison(self.store, comparison_id, on_event=on_event, should_cancel=should_cancel,
                                  hosts=self.hosts)

    def placement(self) -> str | None:
        """Where the hosts train, in words, for an executor that can say (a Ray node); None locally."""
        describe = getattr(self.hosts, "describe", None)
        return describe() if describe is not None else None


@contextlib.contextmanager
def train_now(store: Store, frameworks: list[str] | None = None, *, device: str = "auto", executor: str | None = None,
              wait: bool = True, on_wait: Callable[[], None] | None = None) -> Iterator[Training | None]:
    """Hold the device, recover what a dead trainer left, and start the hosts of ``frameworks``.

    Yields None, holding nothing, when ``wait`` is off and another process trains. Without
    ``frameworks`` every comparison starts hosts of its own when it is executed (the job runner:
    each job names its frameworks). The hosts stop, and the lock is released, on leaving.
    """
    with device_lock(wait=wait, on_wait=on_wait) as acquired:
        if not acquired:
            yield None
            return
        recover_abandoned(store)
        if frameworks is None:
            yield Training(store)
            return
        with contextlib.closing(comparison_executor(frameworks, device, executor)) as hosts:
            yield Training(store, hosts)


@dataclass
class Trained:
    """One comparison trained now: its id, how each run ended, and where it trained (a Ray node)."""

    comparison_id: str
    outcomes: list[WorkerOutcome] = field(default_factory=list)
    interrupted: bool = False
    placement: str | None = None


def compare_now(store: Store, spec: RunSpec, frameworks: list[str], *, executor: str | None = None,
                on_event: RunEventCallback | None = None, on_wait: Callable[[], None] | None = None,
                another_repeat: Callable[[str], bool] | None = None) -> Trained:
    """Prepare and train one comparison on this device (``python -m core compare``).

    ``another_repeat`` (--until-decided) is asked, with the comparison's id, after the planned
    repeats and after each added one, while every run has finished: when it says so, one more
    repeat of every framework is queued (core.engine.compare.add_repeat) and trained on the same
    hosts, under the same lock.

    On a free device the frameworks import while the data is prepared: nothing is measured before
    both are done, and nobody else trains meanwhile, the lock is held. On a busy one the data is
    prepared first, and the frameworks are imported only once the other training has ended.

    Ctrl-C or SIGTERM outside a run (a run in progress is cancelled by the runner and ends the
    comparison the same way) marks what has not finished cancelled; before the comparison was
    stored it is raised again, as KeyboardInterrupt.
    """
    trained: Trained | None = None
    try:
        with train_now(store, frameworks, device=spec.device, executor=executor, wait=False) as training:
            if training is not None:
                trained = Trained(create_comparison(store, spec, frameworks))
                _execute(training, trained, on_event, another_repeat)
        if trained is None:
            trained = Trained(create_comparison(store, spec, frameworks))
            with train_now(store, frameworks, device=spec.device, executor=executor, on_wait=on_wait) as training:
                assert training is not None  # a waiting lock is always acquired
                _execute(training, trained, on_event, another_repeat)
    except KeyboardInterrupt:
        if trained is None:
            raise
        trained.interrupted = True
        store.fail_unfinished_runs(trained.comparison_id, "cancelled", "the comparison was interrupted")
    return trained


def _execute(training: Training, trained: Trained, on_event: RunEventCallback | None,
             another_repeat: Callable[[str], bool] | None = None) -> None:
    trained.outcomes = training.execute(trained.comparison_id, on_event)
    while (another_repeat is not None and all(outcome.status == "finished" for outcome in trained.outcomes)
           and another_repeat(trained.comparison_id) and add_repeat(training.store, trained.comparison_id)):
        trained.outcomes += training.execute(trained.comparison_id, on_event)
    trained.placement = training.placement()
    trained.interrupted = any(outcome.interrupted for outcome in trained.outcomes)


def sweep_now(store: Store, comparison_ids: list[str], frameworks: list[str], *,
              on_wait: Callable[[], None] | None = None, on_start: Callable[[str], None] | None = None,
              on_event: Callable[[str, dict[str, Any], dict[str, Any]], None] | None = None,
              on_trained: Callable[[str], None] | None = None) -> bool:
    """Train a sweep's comparisons one after another (``python -m core sweep``); True if interrupted.

    One host per framework serves the whole sweep: each run is still forked fresh from it, and the
    frameworks are imported once instead of once per comparison. A comparison that fails does not
    stop the rest; Ctrl-C or SIGTERM does, and what had not finished is marked cancelled.
    """
    done = 0
    interrupted = False
    try:
        with train_now(store, frameworks, executor="local", on_wait=on_wait) as training:
            assert training is not None  # a waiting lock is always acquired
            for comparison_id in comparison_ids:
                if on_start:
                    on_start(comparison_id)
                events = functools.partial(on_event, comparison_id) if on_event else None
                outcomes = training.execute(comparison_id, events)
                done += 1
                if on_trained:
                    on_trained(comparison_id)
                if any(outcome.interrupted for outcome in outcomes):
                    interrupted = True
                    break
    except KeyboardInterrupt:
        interrupted = True
    if interrupted:
        for comparison_id in comparison_ids[done:]:
            store.fail_unfinished_runs(comparison_id, "cancelled", "the sweep was interrupted")
    return interrupted
