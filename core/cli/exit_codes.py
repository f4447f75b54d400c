"""The CLI's exit codes (docs/errors.md lists them)."""

EXIT_OK, EXIT_RUN_FAILED, EXIT_BAD_INPUT = 0, 1, 2
# Ctrl-C or SIGTERM: the shell's convention for an interrupted command (128 + SIGINT).
EXIT_INTERRUPTED = 130
