"""The benchmark's arithmetic: quantiles, Prometheus histogram quantiles, process memory."""

from __future__ import annotations

import math
import resource
from collections.abc import Iterable, Sequence
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

QUANTILES = (50.0, 99.0, 99.9)


def quantile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``th percentile of sorted ``values`` (nan when empty)."""
    if not values:
        return math.nan
    rank = math.ceil(q / 100 * len(values))
    return values[min(max(rank, 1), len(values)) - 1]


def summary_us(values_ns: Iterable[int]) -> dict[str, float]:
    """p50/p99/p99.9 and the count of nanosecond samples, in microseconds."""
    ordered = sorted(values_ns)
    result = {f"p{q:g}": quantile(ordered, q) / 1e3 for q in QUANTILES}
    result["count"] = len(ordered)
    return result


Buckets = dict[float, float]
"""A histogram's cumulative bucket counts by upper bound (``inf`` included)."""


def histogram_buckets(exposition: str, name: str) -> Buckets:
    """Cumulative bucket counts of histogram ``name`` from Prometheus text, summed over
    its labels."""
    buckets: Buckets = {}
    for family in text_string_to_metric_families(exposition):
        if family.name != name:
            continue
        for sample in family.samples:
            if sample.name == f"{name}_bucket":
                bound = float(sample.labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
    return buckets


def histogram_quantile(q: float, buckets: Buckets) -> float:
    """Prometheus's ``histogram_quantile``: linear within the bucket holding the rank;
    nan without observations, the last finite bound if the rank falls past it."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0.0
    if total <= 0:
        return math.nan
    rank = q / 100 * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - below) / max(count - below, 1e-12)
        lower, below = bound, count
    return lower


def subtract(after: Buckets, before: Buckets) -> Buckets:
    """The observations between two scrapes."""
    return {bound: count - before.get(bound, 0.0) for bound, count in after.items()}


def add(one: Buckets, other: Buckets) -> Buckets:
    """The observations of both."""
    return {bound: one.get(bound, 0.0) + other.get(bound, 0.0) for bound in {*one, *other}}


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise KeyError(key)


def rss_mb(pid: int) -> float:
    """A process's resident memory now (Linux /proc), MB."""
    return _status_kb(pid, "VmRSS") / 1024


def peak_rss_mb(pid: int | None = None) -> float:
    """A process's peak resident memory (VmHWM), MB; this process's without ``pid``."""
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return _status_kb(pid, "VmHWM") / 1024
