"""The whole simulated market on one clock: a shared price model, lit exchanges, dark
pools, background flow and scripted outages.

Pure: the caller passes the time. `sor_sim.runner` drives it from the event loop
and serves each venue over FIX; a backtest can drive it with a simulated clock and get
the same fills for the same seed and the same orders.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from sor_daemon.core.domain import CxlRejReason, CxlRejResponseTo, OrdStatus, Side
from sor_daemon.core.messages import (
    NO_ORDER_ID,
    CancelFields,
    CancelReject,
    NewOrderFields,
    ReplaceFields,
    StatusFields,
)
from sor_daemon.fix.order_entry import OrderRequest
from sor_sim.config import DarkPoolConfig, MarketConfig, SimVenueConfig
from sor_sim.dark import DarkPool, DarkPoolSpec, HiddenLiquidity, Impulse
from sor_sim.dark_venue import DarkVenue, Nbbo
from sor_sim.exchange import Outbound, SimExchange, SimSymbol
from sor_sim.flow import BackgroundFlow, FlowSpec
from sor_sim.market_model import Impact, MarketModel, PriceProcess, Shock

NS = 1_000_000_000


def _seed(base: int, *parts: str) -> int:
    """A stable per-component seed (Python's hash() is salted per process)."""
    value = base
    for part in parts:
        for char in part:
            value = (value * 1_000_003 + ord(char)) % (2**61 - 1)
    return value


class SimMarket:
    def __init__(self, market: MarketConfig, venues: Sequence[tuple[str, str]],
                 ticks: Mapping[str, Decimal], start_ns: int = 0) -> None:
        """``venues``: (name, kind) pairs, kind "lit" or "dark"; ``ticks`` per symbol."""
        symbols = {
            name: SimSymbol(ticks[name], spec.reference_price, spec.lot_size)
            for name, spec in market.symbols.items() if name in ticks
        }
        self.model = MarketModel(
            {name: PriceProcess(s.reference_price, ticks[name], s.volatility_bps, s.jump_rate,
                                s.jump_bps) for name, s in market.symbols.items() if name in ticks},
            seed=market.seed, start_ns=start_ns, step_ns=market.step_ms * 1_000_000,
            shocks=[Shock(s.symbol, s.start_s, s.move_bps, s.move_s, s.recover_s)
                    for s in market.shocks],
            impact=None if market.impact is None else Impact(**market.impact.model_dump()),
        )
        self.step_ns = market.step_ms * 1_000_000
        self.lit: dict[str, SimExchange] = {}
        self.dark: dict[str, DarkVenue] = {}
        self.flows: dict[tuple[str, str], BackgroundFlow] = {}
        self.latency_ns: dict[str, int] = {}
        for name, kind in venues:
            if kind == "lit":
                profile = market.venues.get(name, SimVenueConfig())
                self.lit[name] = SimExchange(name, symbols, profile,
                                             seed=_seed(market.seed, name, "refill"))
                self.latency_ns[name] = int(profile.ack_latency_ms * 1_000_000)
                if profile.flow is not None:
                    f = profile.flow
                    for symbol, spec in symbols.items():
                        self.flows[(name, symbol)] = BackgroundFlow(
                            FlowSpec(f.limit_rate, f.market_rate, f.cancel_rate, f.depth_ticks,
                                     f.half_spread_ticks, f.mean_size, spec.lot_size),
                            f"{name}-{symbol}-F", _seed(market.seed, name, symbol))
            else:
                pool = market.dark.get(name, DarkPoolConfig())
                self.dark[name] = DarkVenue(name, DarkPool(name, DarkPoolSpec(
                    min_qty=pool.min_qty, fee_per_share=pool.fee_per_share,
                    adverse_selection_bps=pool.adverse_selection_bps,
                    arrival_rate=pool.arrival_rate, crossing_interval_s=pool.crossing_interval_s,
                    liquidity=HiddenLiquidity(pool.zero_probability, pool.liquidity_scale,
                                              pool.liquidity_alpha),
                ), _seed(market.seed, name), start_ns), ticks,
                    {s: spec.lot_size for s, spec in symbols.items()})
                self.latency_ns[name] = int(pool.ack_latency_ms * 1_000_000)
        self.outages = [(o.venue, start_ns + int(o.start_s * NS),
                         start_ns + int((o.start_s + o.duration_s) * NS))
                        for o in market.outages]
        self.symbols = list(symbols)
        self._now = start_ns
        self._fades: list[tuple[int, str, str, Side]] = []
        """Quote fades due: (when, venue, symbol, side), after a client's trade elsewhere."""

    @property
    def now_ns(self) -> int:
        return self._now

    def nbbo(self, symbol: str) -> Nbbo:
        """The best bid and offer across the lit venues, in ticks."""
        bids, asks = [], []
        for exchange in self.lit.values():
            bid, ask = exchange.best_ticks(symbol)
            if bid is not None:
                bids.append(bid)
            if ask is not None:
                asks.append(ask)
        if not bids or not asks:
            return None
        return max(bids), min(asks)

    def is_down(self, venue: str, now_ns: int) -> bool:
        return any(v == venue and start <= now_ns < end for v, start, end in self.outages)

    def step(self, now_ns: int) -> list[tuple[str, Outbound]]:
        """Advance to ``now_ns``: prices, house quotes, background flow, dark pools."""
        if now_ns <= self._now:
            return []
        self.model.advance(now_ns)
        dt_s = (now_ns - self._now) / NS
        out: list[tuple[str, Outbound]] = []
        if self._fades:
            due = [f for f in self._fades if f[0] <= now_ns]
            self._fades = [f for f in self._fades if f[0] > now_ns]
            for at, venue, symbol, side in due:
                fade = self.lit[venue].profile.fade
                assert fade is not None
                until = at + int(fade.hold_ms * 1_000_000)
                out += [(venue, o) for o in self.lit[venue].fade(symbol, side, until)]
        for name, exchange in self.lit.items():
            if exchange.profile.fade is not None:
                out += [(name, o) for o in exchange.unfade(now_ns)]
        for name, exchange in self.lit.items():
            for symbol in exchange.symbols:
                fundamental = self.model.fundamental_ticks(symbol)
                out += [(name, o) for o in exchange.recenter(symbol, fundamental)]
                flow = self.flows.get((name, symbol))
                if flow is not None:
                    msgs, done = exchange.apply_flow(
                        symbol, flow.events(self._now, now_ns, fundamental))
                    for order_id in done:
                        flow.done(order_id)
                    out += [(name, o) for o in msgs]
                out += [(name, o) for o in exchange.replenish(symbol, dt_s)]
            self._impact_of(exchange)
        self._now = now_ns
        if self.dark:
            nbbos = {symbol: self.nbbo(symbol) for symbol in self.symbols}
            for name, pool in self.dark.items():
                msgs, impulses = pool.on_time(now_ns, nbbos)
                self._impulse(impulses)
                out += [(name, o) for o in msgs]
        return out

    # ---------------------------------------------------------- order entry

    def request(self, venue: str, session: str, request: OrderRequest) -> list[Outbound]:
        """One order-entry request (D, F, G or H) at a venue."""
        match request:
            case NewOrderFields():
                return self.new_order(venue, session, request)
            case CancelFields():
                return self.cancel(venue, session, request)
            case ReplaceFields():
                return self.replace(venue, session, request)
            case StatusFields():
                return self.status(venue, session, request)

    def new_order(self, venue: str, session: str, fields: NewOrderFields) -> list[Outbound]:
        if venue in self.dark:
            nbbo = self.nbbo(fields.symbol) if fields.symbol in self.symbols else None
            out, impulses = self.dark[venue].new_order(session, fields, nbbo, self._now)
            self._impulse(impulses)
            return out
        out = self.lit[venue].new_order(session, fields)
        self._impact_of(self.lit[venue])
        return out

    def cancel(self, venue: str, session: str, fields: CancelFields) -> list[Outbound]:
        target = self.dark.get(venue) or self.lit[venue]
        return target.cancel(session, fields)

    def replace(self, venue: str, session: str, fields: ReplaceFields) -> list[Outbound]:
        if venue in self.dark:
            return [Outbound(session, CancelReject(
                NO_ORDER_ID, fields.cl_ord_id, fields.orig_cl_ord_id, OrdStatus.REJECTED,
                CxlRejResponseTo.REPLACE, CxlRejReason.BROKER_OPTION,
                f"{venue} is a dark pool: cancel and send a new order instead"))]
        out = self.lit[venue].replace(session, fields)
        self._impact_of(self.lit[venue])
        return out

    def status(self, venue: str, session: str, fields: StatusFields) -> list[Outbound]:
        target = self.dark.get(venue) or self.lit[venue]
        return target.status(session, fields)

    def subscribe(self, venue: str, session: str, req_id: str, depth: int,
                  symbols: tuple[str, ...]) -> list[Outbound]:
        if venue in self.dark:
            return self.dark[venue].subscribe(session, req_id)
        return self.lit[venue].subscribe(session, req_id, depth, symbols)

    def drop_session(self, venue: str, session: str) -> None:
        if venue in self.lit:
            self.lit[venue].drop_session(session)

    def cancel_session(self, venue: str, session: str, text: str) -> list[Outbound]:
        """Cancel every working order of ``session`` at ``venue``: its reports (and a lit
        venue's market data)."""
        target = self.dark.get(venue) or self.lit[venue]
        return target.cancel_session(session, text)

    def filled_shares(self, venue: str) -> int:
        target = self.dark.get(venue) or self.lit[venue]
        return target.filled_shares()

    def _impact_of(self, exchange: SimExchange) -> None:
        """What client orders took at ``exchange`` moves the price (`Impact`); it shows in
        the venues' quotes from the next step, as they follow the fundamental. The other
        venues with a ``fade`` profile reprice the side it took from, ``reaction_ms``
        later (at the first step after)."""
        for symbol, signed in exchange.aggressions:
            self.model.impact(symbol, signed)
            side = Side.SELL if signed > 0 else Side.BUY
            for name, other in self.lit.items():
                if other is not exchange and other.profile.fade is not None:
                    self._fades.append((self._now + int(other.profile.fade.reaction_ms
                                                        * 1_000_000), name, symbol, side))
        exchange.aggressions.clear()

    def _impulse(self, impulses: list[Impulse]) -> None:
        for impulse in impulses:
            self.model.impulse(impulse.symbol, impulse.bps)
