"""The System page's tables (pure functions): this machine's GPUs, the installed versions, the
results database's tables, and what each framework said it sees."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from core.analysis.figures import format_value
from core.frameworks import label


def gpus_frame(gpus: list[dict[str, Any]]) -> pd.DataFrame:
    """NVML's GPUs (core.engine.system.system_report), memory in words."""
    frame = pd.DataFrame(gpus)
    frame["memory"] = frame["memory_total_bytes"].map(lambda b: format_value(b, "bytes"))
    frame["in use"] = frame["memory_used_bytes"].map(lambda b: format_value(b, "bytes"))
    return frame[["index", "name", "memory", "in use"]]


def versions_frame(versions: Mapping[str, str | None]) -> pd.DataFrame:
    return pd.DataFrame([{"package": k, "version": v or "not installed"} for k, v in versions.items()])


def database_line(database: Mapping[str, Any], public: bool) -> str:
    """Which database holds the results; a shared instance's visitors have no business reading the
    server's paths or database host."""
    where = "" if public else f" · {database['path']}"
    return f"{database['backend']}{where} · schema version {database['schema_version']}"


def table_counts_frame(counts: Mapping[str, int | None]) -> pd.DataFrame:
    return pd.DataFrame([{"table": table, "rows": "unreadable" if count is None else f"{count:,}"}
                         for table, count in counts.items()])


def probe_frame(probe: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """What each framework answered when asked in its own process (core.engine.system.probe_frameworks)."""
    rows = []
    for framework, answer in probe.items():
        if "error" in answer:
            rows.append({"framework": label(framework), "version": "", "GPUs it sees": answer["error"]})
        else:
            rows.append({"framework": label(framework), "version": answer["framework_version"],
                         "built with CUDA": answer["built_with_cuda"] or "no",
                         "GPUs it sees": ", ".join(answer["gpus"]) or "none (CPU only)",
                         "CPU threads": answer["threads"]})
    return pd.DataFrame(rows)
