"""Machine description shared by the benchmarks."""

import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where available)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def targets_table(verdicts) -> list[str]:
    """Markdown rows of a targets table from ``(name, met, measured)`` triples."""
    rows = ["| target | met | measured |", "|---|---|---|"]
    return rows + [f"| {name} | {'yes' if ok else 'NO'} | {meas} |" for name, ok, meas in verdicts]
