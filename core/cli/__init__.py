"""``python -m core``: compare, bench and runs, without a browser.

Exit codes: 0 every run finished, 1 a run failed, 2 bad input (nothing was trained), 130
interrupted by Ctrl-C or SIGTERM (what finished is kept and printed). docs/errors.md lists them.

The parser (core.cli.parser) reads the flags; one module per group of commands (compare_commands,
bench_commands, runs_commands) calls the engine and prints; core.cli.entry runs them.
"""

from core.cli.entry import main, stop_on_sigterm
from core.cli.exit_codes import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_OK, EXIT_RUN_FAILED
from core.cli.output import write_json
from core.cli.parser import SPEC_FLAGS, build_parser, spec_from_args

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_RUN_FAILED",
    "SPEC_FLAGS",
    "build_parser",
    "main",
    "spec_from_args",
    "stop_on_sigterm",
    "write_json",
]
