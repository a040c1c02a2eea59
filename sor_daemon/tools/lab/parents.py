"""The lab's order flow, and one parent run to its end on a world of its own.

A parent's outcome is measured against the true market (every simulated venue's book),
not the engine's delayed view of it: arrival mid, the NBBO at each fill, the mid at the
markout times and at the horizon.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from decimal import Decimal

from sor_daemon.core.analytics import tca
from sor_daemon.core.domain import Side
from sor_daemon.core.messages import NewOrderFields
from sor_daemon.core.routing.registry import STRATEGIES
from sor_daemon.tools.lab.world import S, World

KINDS = ("market", "ioc", "day-at", "day-inside", "day-outside")
KIND_WEIGHTS = (0.2, 0.3, 0.2, 0.15, 0.15)
MARKOUTS_S = (1, 10)
OVERTIME_S = 30
"""How long past its horizon a parent may take to end before it counts as unfinished."""


@dataclass(frozen=True, slots=True)
class ParentSpec:
    """One parent order of the flow: what the OMS sends."""

    symbol: str
    kind: str
    side: Side
    qty: int
    price: Decimal | None

    @property
    def day(self) -> bool:
        return self.kind.startswith("day")


def draw_parent(rng: random.Random, world: World, symbol: str, lot: int) -> ParentSpec:
    """A market order, a marketable IOC limit (0-3 ticks through the far touch) or a Day
    limit at, inside or 1-3 ticks outside the touch; 200-5,000 shares; either side."""
    kind = rng.choices(KINDS, KIND_WEIGHTS)[0]
    side = Side.BUY if rng.random() < 0.5 else Side.SELL
    qty = max(lot, (rng.randrange(200, 5001, 100) // lot) * lot)
    tick = world.ticks[symbol]
    bid, ask = world.nbbo(symbol)
    sign = side.sign
    near, far = (bid, ask) if side is Side.BUY else (ask, bid)
    price: Decimal | None = None
    if kind == "ioc":
        price = far + sign * rng.randrange(0, 4) * tick if far is not None else None
    elif kind == "day-inside" and near is not None and far is not None:
        price = near + sign * tick if abs(far - near) >= 2 * tick else near
        if price == near:
            kind = "day-at"
    elif kind == "day-at":
        price = near
    elif kind == "day-outside" and near is not None:
        price = near - sign * rng.randrange(1, 4) * tick
    if kind != "market" and (price is None or price <= 0):
        kind, price = "market", None
    return ParentSpec(symbol, kind, side, qty, price)


def _fields(spec: ParentSpec, cl_ord_id: str, strategy: str) -> NewOrderFields:
    return NewOrderFields(
        cl_ord_id=cl_ord_id, symbol=spec.symbol, side=spec.side.value, order_qty=str(spec.qty),
        ord_type="1" if spec.price is None else "2",
        price=None if spec.price is None else str(spec.price),
        tif="0" if spec.day else "3", target_strategy=str(STRATEGIES[strategy].code))


def run_parent(world: World, spec: ParentSpec, strategy: str, horizon_s: float,
               cl_ord_id: str) -> dict[str, object]:
    """Send ``spec`` with ``strategy`` into ``world`` now and run until it has ended, its
    horizon has passed and its fills' markouts are taken; a Day parent is cancelled at
    its horizon. Returns its outcome (see `outcome`)."""
    t0 = world.now
    horizon = t0 + int(horizon_s * S)
    symbol = spec.symbol
    arrival = world.mid(symbol)
    bid, ask = world.nbbo(symbol)
    world.sample_mid(symbol, horizon)
    first_fill = len(world.fills)
    parent = world.new_parent(_fields(spec, cl_ord_id, strategy))
    if parent is None:
        return {"strategy": strategy, "error": "not accepted"}
    cancelled = not spec.day
    seen = first_fill
    unfinished = False
    deadline = horizon + OVERTIME_S * S
    while True:
        for fill in world.fills[seen:]:
            for markout in MARKOUTS_S:
                world.sample_mid(symbol, fill.at_ns + markout * S)
        seen = len(world.fills)
        done = parent.is_done
        if done:
            world.retire()
        if done and world.now >= horizon and not world.samples_pending:
            break
        if world.now >= deadline:
            unfinished = True
            break
        if not cancelled and world.next_ns >= horizon:
            world.advance(horizon)
            world.cancel_parent(parent, f"{cl_ord_id}-X")
            cancelled = True
            continue
        world.step_once()
    fills = world.fills[first_fill:]
    return outcome(spec, strategy, parent, fills, world, t0, horizon, arrival, bid, ask,
                   unfinished)


def outcome(spec: ParentSpec, strategy: str, parent, fills, world: World, t0: int,
            horizon: int, arrival: Decimal, bid: Decimal | None, ask: Decimal | None,
            unfinished: bool) -> dict[str, object]:
    """Per parent: implementation shortfall (fees in, unfilled shares at the horizon mid),
    arrival slippage, fill rate, fees, price improvement, markouts, dark share,
    trade-throughs and time to fill, in bps unless named otherwise."""
    side, qty, symbol = spec.side, spec.qty, spec.symbol
    filled = sum(f.qty for f in fills)
    notional = sum((f.price * f.qty for f in fills), Decimal(0))
    fees = sum((f.commission for f in fills), Decimal(0))
    final = world.sampled(symbol, horizon)
    bps = Decimal(10_000)
    row: dict[str, object] = {
        "strategy": strategy, "kind": spec.kind, "side": side.name.lower(), "qty": qty,
        "symbol": symbol, "arrival_ns": t0, "arrival_mid": float(arrival),
        "filled": filled, "fill_rate": filled / qty,
        "is_bps": tca.shortfall_bps(side, qty, filled, notional, fees, arrival, final),
        "fees_bps": float(fees / (qty * arrival) * bps),
        "children": len(parent.children),
        "engine_filled": parent.cum_qty,
        "unfinished": unfinished,
        "slippage_bps": None, "price_improvement_bps": None, "markout_1s_bps": None,
        "markout_10s_bps": None, "dark_share": None, "trade_through_share": None,
        "time_to_fill_s": None,
    }
    if filled:
        avg = notional / filled
        row["slippage_bps"] = tca.slippage_bps(side, avg, arrival)
        improved = [(f.qty, tca.price_improvement_bps(side, f.price, f.bid, f.ask))
                    for f in fills if f.bid is not None and f.ask is not None]
        if improved:
            row["price_improvement_bps"] = (sum(q * v for q, v in improved)
                                            / sum(q for q, _ in improved))
        for markout in MARKOUTS_S:
            marks = [(f.qty, tca.markout_bps(side, f.price, mid)) for f in fills
                     if (mid := world.sampled(symbol, f.at_ns + markout * S)) is not None]
            if marks:
                row[f"markout_{markout}s_bps"] = (sum(q * v for q, v in marks)
                                                   / sum(q for q, _ in marks))
        row["dark_share"] = sum(f.qty for f in fills if f.venue in world.dark) / filled
        row["trade_through_share"] = sum(f.qty for f in fills
                                         if f.better_elsewhere is not None) / filled
        row["time_to_fill_s"] = (max(f.at_ns for f in fills) - t0) / S
    row["venues"] = sorted({f.venue for f in fills})
    row["spec"] = {k: str(v) for k, v in asdict(spec).items()}
    return row
