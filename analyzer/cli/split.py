"""`--workers` and `--dask`: the options with which `wstape analyze` and `wstape compare` split
the judging over local processes or a Dask cluster (analyzer/parallel does the work)."""

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
        help="Judge on the Dask cluster whose scheduler is at ADDRESS "
        "(tcp://host:8786; needs wstape[dask]; workers must see the same paths).",
    )(command)  # fmt: skip
    return click.option(
        "--workers", type=click.IntRange(min=1), metavar="N", is_eager=True,
        help="Judge each capture on N local processes, this one included, split by connection "
        "(default: one per CPU; 1 while run reports print as each run ends, which only one "
        "process can do). The report is the same either way.",
    )(command)  # fmt: skip


def resolve(workers: int | None, dask: str | None, streaming: bool = False) -> Split:
    """The split asked for; by default one process per CPU, or one when run reports stream."""
    return Split(workers or (1 if streaming else default_workers()), dask)
