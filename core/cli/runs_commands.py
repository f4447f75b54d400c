"""``runs``: the stored comparisons listed, shown, exported, imported, deleted; the database checked
and, when damaged, recovered into a new one."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.cli.exit_codes import EXIT_OK, EXIT_RUN_FAILED
from core.cli.output import open_store, print_comparison, write_json, write_text_whole
from core.cli.parser import margin_from_args
from core.errors import BadInput
from core.store.database import default_location, is_url


def check_or_recover(args: argparse.Namespace) -> int:
    """`runs check`: is the database whole? `runs recover NEW`: copy what is readable into NEW."""
    from core.store.queries import Store
    from core.store.recovery import recover

    path = args.db or default_location()
    if args.action == "check":
        store = Store.read_only(path)
        report = store.check()
        store.close()
        counts = ", ".join(f"{count if count is not None else 'unreadable'} {table}" for table, count in report["counts"].items())
        print(f"{report['path']}: schema {report['schema_version']}; {counts}")
        for problem in report["problems"]:
            print(f"problem: {problem}")
        if report["ok"]:
            print("integrity check: ok")
            return EXIT_OK
        print(f"damaged: `python -m core runs recover NEW.sqlite{' --db ' + str(args.db) if args.db else ''}` copies every "
              "readable comparison into a new file; this one is left as it is")
        return EXIT_RUN_FAILED
    if not args.target:
        raise BadInput("`runs recover` needs the path of a new database to copy into")
    if is_url(path) or is_url(args.target):
        raise BadInput("`runs recover` rescues a damaged SQLite file into a new one; a PostgreSQL server "
                       "checks and repairs its own storage (pg_dump copies what it holds)")
    recovery = recover(Path(path), Path(args.target))
    print(f"Copied {len(recovery.copied)} comparisons from {path} into {args.target}; {path} is unchanged.")
    for what, why in recovery.lost.items():
        print(f"lost: {what}: {why}", file=sys.stderr)
    if recovery.lost:
        print(f"To use the copy: move {path} aside and put {args.target} in its place (or pass --db {args.target}).")
    return EXIT_OK if not recovery.lost else EXIT_RUN_FAILED


def cmd_runs(args: argparse.Namespace) -> int:
    import datetime as dt

    from core.analysis.report import comparison_json, render_table

    if args.action in ("check", "recover"):
        return check_or_recover(args)
    store = open_store(args.db)
    if args.action == "list":
        rows = []
        listed = store.list_comparisons()
        if args.sweep:  # a sweep id or a unique prefix of one, as comparison ids
            sweeps = sorted({c.sweep_id for c in listed if (c.sweep_id or "").startswith(args.sweep.strip())})
            if len(sweeps) != 1:
                raise BadInput(f"no sweep with id {args.sweep!r}" if not sweeps else
                               f"sweep id {args.sweep!r} is ambiguous: {', '.join(sweeps)}", "sweep")
            listed = [c for c in listed if c.sweep_id == sweeps[0]]
        for c in listed:
            when = dt.datetime.fromtimestamp(c.created_at).strftime("%Y-%m-%d %H:%M")
            status = f"{c.finished or 0}/{c.runs} finished" + (f", {c.failed} failed" if c.failed else "")
            rows.append([c.id, when, c.dataset, c.architecture, c.resolved_device or c.device, ",".join(c.frameworks), status,
                         c.sweep_id or "–"])
        if not rows:
            print("No comparisons yet: run `python -m core compare`.")
            return EXIT_OK
        print(render_table(["id", "created", "dataset", "architecture", "device", "frameworks", "runs", "sweep"], rows))
        return EXIT_OK
    if not args.target:
        raise BadInput(f"`runs {args.action}` needs {'a file' if args.action in ('export', 'import') else 'a comparison id'}")
    if args.action == "show":
        comparison = store.comparison(store.resolve_comparison_id(args.target))
        margin = margin_from_args(args)
        print_comparison(comparison, margin)
        if args.json:
            write_json(args.json, comparison_json(comparison, margin=margin))
        return EXIT_OK
    if args.action == "delete":
        comparison_id = store.resolve_comparison_id(args.target)
        if not args.yes:
            if not sys.stdin.isatty():
                raise BadInput("refusing to delete without confirmation; add --yes")
            if input(f"Delete comparison {comparison_id} and all its runs? [y/N] ").strip().lower() not in ("y", "yes"):
                print("Nothing deleted.")
                return EXIT_OK
        store.delete_comparison(comparison_id)
        print(f"Deleted comparison {comparison_id}.")
        return EXIT_OK
    path = Path(args.target)
    if args.action == "export":
        text = store.export_csv() if path.suffix.lower() == ".csv" else json.dumps(store.export_json(), indent=1, sort_keys=True)
        write_text_whole(path, text)
        print(f"Exported {len(store.list_comparisons())} comparisons to {path}.")
        return EXIT_OK
    from core.store.export_format import load_export

    imported, skipped = store.import_json(load_export(path))
    print(f"Imported {imported} comparisons" + (f"; {skipped} were already present." if skipped else "."))
    return EXIT_OK
