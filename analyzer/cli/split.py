"""`--workers` and `--dask`: the options with which `wstape analyze` and `wstape compare` split
reading over local processes or a Dask cluster (analyzer/parallel.py does the work)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import click

from wstape.analyzer.parallel import default_workers


@dataclass(frozen=True, slots=True)
class Split:
    workers: int
    dask: str | None

    @property
    def split(self) -> bool:
        return self.dask is not None or self.workers > 1


def _split(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    workers = ctx.params.get("workers")
    if value is not None and workers is not None:
        raise click.UsageError("--workers and --dask exclude each other: the cluster has its own")
    return value


def split_options(command: Callable) -> Callable:
    """Adds --workers N and --dask ADDRESS; the command gets them as `workers` and `dask`."""
    command = click.option(
        "--dask", metavar="ADDRESS", callback=_split,
        help="Decode on the Dask cluster whose scheduler is at ADDRESS "
        "(tcp://host:8786; needs wstape[dask]; workers must see the same paths).",
    )(command)  # fmt: skip
    return click.option(
        "--workers", type=click.IntRange(min=1), metavar="N", is_eager=True,
        help="Decode captures on N local processes (default: one per CPU but one, which "
        "judges the runs; so 1 on two CPUs); 1 reads everything in this process. "
        "The report is the same either way.",
    )(command)  # fmt: skip


def resolve(workers: int | None, dask: str | None) -> Split:
    return Split(workers or default_workers(), dask)
