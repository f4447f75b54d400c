"""``python -m core``'s entry: parse, check the outputs before any work, run the command, and turn
how it ended into one line and an exit code."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

from core.cli.bench_commands import cmd_bench, cmd_models, cmd_parity
from core.cli.compare_commands import cmd_compare, cmd_sweep
from core.cli.exit_codes import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_RUN_FAILED
from core.cli.output import check_output_path
from core.cli.parser import build_parser
from core.cli.runs_commands import cmd_runs
from core.errors import BadInput, TwinbenchError
from core.store.database import is_url


def _interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """SIGTERM (a service manager, `kill`) stops the command as cleanly as Ctrl-C does."""
    signal.signal(signal.SIGTERM, _interrupt)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"compare": cmd_compare, "sweep": cmd_sweep, "bench": cmd_bench, "parity": cmd_parity, "models": cmd_models, "runs": cmd_runs}
    try:
        # Outputs (the database included) are checked before any work; `runs check` and
        # `runs recover` only read the database, which may sit on read-only media.
        reads_only = args.command == "runs" and args.action in ("check", "recover")
        for flag in ("json", "markdown") if reads_only else ("json", "markdown", "db"):
            value = getattr(args, flag, None)
            if value is not None and not (flag == "db" and is_url(value)):  # a server's database is checked by opening it
                check_output_path(Path(value), f"--{flag}")
        if args.command == "runs" and args.action == "export" and args.target:
            check_output_path(Path(args.target), "export file")
        if args.command in ("bench", "parity", "models") and not getattr(args, "dry_run", False):
            # Their workers use the device like a comparison's: one at a time (compare takes the
            # lock itself, after preparing its data).
            from core.engine.device_lock import device_lock

            waiting = "Another comparison or benchmark is using this device; waiting for it to finish ..."
            with device_lock(on_wait=lambda: print(waiting, file=sys.stderr)):
                return handlers[args.command](args)
        return handlers[args.command](args)
    except BadInput as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except TwinbenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_RUN_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # the one boundary: a line for the person, the traceback in the log
        from core.engine.error_log import one_line, record

        log = record(error, f"python -m core {args.command}")
        print(f"error: {one_line(error)}" + (f" (details in {log})" if log else ""), file=sys.stderr)
        return EXIT_RUN_FAILED
