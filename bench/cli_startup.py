"""Start-up time of the `pose2rig` command (issue 15: `pose2rig --help` under 0.5 s).

Runs each command line in a fresh process, several times, and reports medians of the wall time;
also the import time of `pose2rig.cli` alone (`python -X importtime`, the cumulative figure).

Usage:
    .venv/bin/python bench/cli_startup.py [--repeats 5]

Prints a Markdown table for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = (["--help"], ["retarget", "--help"], ["convert", "--help"], ["eval", "--help"])


def _pose2rig() -> list[str]:
    script = Path(sys.executable).with_name("pose2rig")
    return [str(script)] if script.exists() else [sys.executable, "-m", "pose2rig.cli"]


def wall_time(argv: list[str], repeats: int) -> float:
    """Median wall time (s) of ``argv`` run ``repeats`` times, each in a fresh process."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def import_time(module: str, repeats: int) -> float:
    """Median cumulative import time (s) of ``module`` in a fresh interpreter."""
    times = []
    for _ in range(repeats):
        err = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"], check=True,
                             capture_output=True, text=True).stderr
        line = next(ln for ln in reversed(err.splitlines()) if ln.rstrip().endswith(f"| {module}"))
        times.append(int(line.split("|")[1]) / 1e6)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"median of {args.repeats} runs")
    print()
    print("| what | median (s) |")
    print("|---|---:|")
    print(f"| `import pose2rig.cli` (-X importtime, cumulative) | {import_time('pose2rig.cli', args.repeats):.3f} |")
    print(f"| `python -c pass` (the interpreter alone) | {wall_time([sys.executable, '-c', 'pass'], args.repeats):.3f} |")
    for argv in COMMANDS:
        print(f"| `pose2rig {' '.join(argv)}` | {wall_time(_pose2rig() + argv, args.repeats):.3f} |")


if __name__ == "__main__":
    main()
