"""Transaction cost arithmetic (pure). Basis points; positive = cost unless a name says
otherwise; ``side.sign`` is +1 for a buy and -1 for a sell."""

from __future__ import annotations

from decimal import Decimal

from sor_daemon.core.domain import Side

BPS = Decimal(10_000)


def slippage_bps(side: Side, avg_px: Decimal, benchmark: Decimal) -> float:
    """What was paid against a benchmark (e.g. the arrival mid): >0 means worse."""
    return float(side.sign * (avg_px - benchmark) / benchmark * BPS)


def shortfall_bps(side: Side, qty: int, filled: int, notional: Decimal, fees: Decimal,
                  arrival: Decimal, final_mid: Decimal | None) -> float:
    """Implementation shortfall against the paper portfolio (``qty`` at ``arrival``):

        IS = [sign * (notional - filled * arrival) + fees
              + sign * (final_mid - arrival) * (qty - filled)] / (qty * arrival)

    the execution cost of what filled (fees included, rebates negative), plus the
    opportunity cost of what did not, valued at the move to ``final_mid`` (none when
    it is unknown)."""
    executed = side.sign * (notional - filled * arrival) + fees
    missed = (side.sign * (final_mid - arrival) * (qty - filled)
              if final_mid is not None else Decimal(0))
    return float((executed + missed) / (qty * arrival) * BPS)


def effective_spread_bps(side: Side, price: Decimal, mid: Decimal) -> float:
    """Twice the distance from the mid at the fill: the round-trip cost the fill implies."""
    return float(2 * side.sign * (price - mid) / mid * BPS)


def price_improvement_bps(side: Side, price: Decimal, bid: Decimal, ask: Decimal) -> float:
    """How much better than the NBBO far touch (the ask for a buy, the bid for a sell):
    >0 means improved."""
    touch = ask if side is Side.BUY else bid
    return float(side.sign * (touch - price) / touch * BPS)


def markout_bps(side: Side, price: Decimal, later_mid: Decimal) -> float:
    """The mid some time after a fill against its price: >0 means the market moved the
    fill's way; <0 is adverse selection (the counterparty knew better)."""
    return float(side.sign * (later_mid - price) / price * BPS)
