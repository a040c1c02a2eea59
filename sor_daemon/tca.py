"""Transaction cost arithmetic (pure). Positive = cost, in basis points, signed by side."""

from __future__ import annotations

from decimal import Decimal

from sor_daemon.domain import Side

BPS = Decimal(10_000)


def slippage_bps(side: Side, avg_px: Decimal, benchmark: Decimal) -> Decimal:
    """What was paid against a benchmark (e.g. the arrival mid): >0 means worse."""
    return side.sign * (avg_px - benchmark) / benchmark * BPS
