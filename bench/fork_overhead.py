"""Does training in a process forked from a framework host measure what a process of its own does?

Alternates the same train job (the default comparison's spec, one seed, prepared digits) through
``ProcessExecutor`` (a fresh interpreter that imports the framework) and ``WorkerHost.run`` (a child
forked from a host that imported it once), and prints forked / own steady images/s as a ratio of
geometric means with a 95 % interval.

    python -m bench.fork_overhead --framework pytorch --pairs 6
"""

from __future__ import annotations

import argparse

from core.analysis.uncertainty import ratio_interval
from core.engine.compare import prepare_for
from core.engine.runner import ProcessExecutor, WorkerHost
from core.engine.work import TrainJob
from core.frameworks import REFERENCE
from core.spec import RunSpec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", default=REFERENCE.name)
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--threads", type=int, default=None)
    arguments = parser.parse_args()
    spec = RunSpec(framework=arguments.framework, threads=arguments.threads)
    _, data = prepare_for(spec)
    job = TrainJob(spec=spec, data_path=str(data.path))
    own: list[float] = []
    forked: list[float] = []
    host = WorkerHost(arguments.framework)
    host.wait_ready()
    try:
        for pair in range(arguments.pairs):
            order = [(own, ProcessExecutor().run), (forked, host.run)]
            for figures, run in order if pair % 2 == 0 else order[::-1]:
                outcome = run(job)
                if outcome.result is None:
                    raise SystemExit(f"a run failed: {outcome.error}")
                figures.append(outcome.result["steady_images_per_second"])
    finally:
        host.close()
    interval = ratio_interval(forked, own)
    print(f"own process images/s: {', '.join(f'{v:,.0f}' for v in own)}")
    print(f"forked images/s:      {', '.join(f'{v:,.0f}' for v in forked)}")
    print(f"forked / own: {interval.estimate:.3f} (95 % CI {interval.low:.3f}–{interval.high:.3f}), {arguments.pairs} pairs")


if __name__ == "__main__":
    main()
