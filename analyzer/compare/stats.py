"""The statistics behind `wstape compare`: summaries of a metric's values and the tests that say
whether a difference between two releases is more than chance. Pure functions over numbers;
scipy does the tests, so no rank test or exact p-value is hand-written here."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True, slots=True)
class Summary:
    """A metric's values in one release: how many, median, 95th percentile, maximum, mean."""

    n: int
    p50: float | None
    p95: float | None
    max: float | None
    mean: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        if not values:
            return cls(0, None, None, None, None)
        array = np.asarray(values, dtype=float)
        # Linear interpolation (numpy's default), as pandas' quantile gives it.
        p50, p95 = np.percentile(array, [50, 95])
        return cls(len(array), float(p50), float(p95), float(array.max()), float(array.mean()))


@dataclass(frozen=True, slots=True)
class Shift:
    """One-sided p-values that the candidate's values tend to be larger, or smaller."""

    p_greater: float
    p_less: float


def shift_test(baseline: Sequence[float], candidate: Sequence[float]) -> Shift:
    """Mann-Whitney U test, one-sided each way: does the candidate tend to be larger (smaller)?

    Rank-based, so one outlier (a GC pause, a loaded CI runner) moves it little, and it makes no
    normality assumption about latencies. scipy picks the exact distribution for small samples
    without ties and the normal approximation with tie correction otherwise. Identical samples
    (every value tied) give p = 1 both ways.
    """
    if not baseline or not candidate:
        return Shift(1.0, 1.0)
    if len(set(baseline) | set(candidate)) == 1:
        return Shift(1.0, 1.0)  # scipy would divide by a zero variance
    greater = stats.mannwhitneyu(candidate, baseline, alternative="greater").pvalue
    less = stats.mannwhitneyu(candidate, baseline, alternative="less").pvalue
    return Shift(_p(greater), _p(less))


def rate_test(base_hits: int, base_n: int, cand_hits: int, cand_n: int) -> Shift:
    """Fisher's exact test on the 2×2 table of hits and misses, one-sided each way: is the
    candidate's rate higher (lower)? Exact at any sample size, which matters at 5 runs vs 5."""
    if not base_n or not cand_n:
        return Shift(1.0, 1.0)
    table = [[cand_hits, cand_n - cand_hits], [base_hits, base_n - base_hits]]
    greater = stats.fisher_exact(table, alternative="greater").pvalue
    less = stats.fisher_exact(table, alternative="less").pvalue
    return Shift(_p(greater), _p(less))


def _p(value: float) -> float:
    value = float(value)
    return 1.0 if math.isnan(value) else min(max(value, 0.0), 1.0)
