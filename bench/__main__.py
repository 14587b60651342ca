"""`python -m bench [--quick] [recorder] [sse] [live] [reader] [analyzer] [workers]`: runs the
benchmarks
and prints each table with the command that reproduces it."""

from __future__ import annotations

import argparse
import os
import platform
import sys

BENCHMARKS = ["recorder", "sse", "live", "reader", "analyzer", "workers"]


def machine() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            names = (line.split(":", 1)[1] for line in cpuinfo if line.startswith("model name"))
            model = next(names, model).strip()
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="wstape benchmarks: ratios against peers measured side by side in one run.",
        epilog="example: python -m bench --quick reader",
    )
    parser.add_argument("which", nargs="*", help=", ".join(BENCHMARKS) + " (default: all)")
    parser.add_argument("--quick", action="store_true", help="fewer frames and rounds")
    args = parser.parse_args(argv)
    unknown = set(args.which) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark {', '.join(sorted(unknown))}: choose from {BENCHMARKS}")
    which = args.which or BENCHMARKS
    command = " ".join(["python -m bench", *(["--quick"] if args.quick else []), *args.which])
    print(f"# {command}   on {machine()}\n")
    if "recorder" in which:
        from bench import recorder

        recorder.run(recorder.QUICK if args.quick else recorder.FULL)
    if "sse" in which:
        from bench import sse

        sse.run(sse.QUICK if args.quick else sse.FULL)
    if "live" in which:
        from bench import live

        live.run(live.QUICK if args.quick else live.FULL)
    if "reader" in which:
        from bench import reader

        reader.run(reader.QUICK if args.quick else reader.FULL)
    if "analyzer" in which:
        from bench import analyzer

        analyzer.run(analyzer.QUICK if args.quick else analyzer.FULL)
    if "workers" in which:
        from bench import workers

        workers.run(workers.QUICK if args.quick else workers.FULL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
