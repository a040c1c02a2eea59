"""One lab world: the simulated market, the real `Engine` and each lit venue's feed, on a
simulated clock (a heap of timed events). No sockets, no quickfix sessions.

Everything between the engine and the market goes through the code the live processes
run: the engine's actions are encoded to FIX fields (`codec`), decoded and handed to the
simulated venues' and brokers' own handlers (`SimVenue.on_message`, `SimBroker.on_message`);
what they send back is encoded as the live acceptor encodes it (`sor_sim.venue.encode`)
and decoded as the live connector decodes it: reports by `codec`, market data through
`VenueFeed` (snapshot + increments -> the engine's venue books). Only the transport is
replaced by the heap, with a latency per route and direction (`RouteLatency`).

A world holds no reference to anything outside it, so `copy.deepcopy` of a world is an
independent copy with the same random streams: the lab runs every strategy on its own
copy taken at a parent's arrival (paired by construction).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sor_daemon.config import SorConfig
from sor_daemon.core.actions import Action, CancelChild, QueryChild, SendChild
from sor_daemon.core.domain import ExecType, Side
from sor_daemon.core.engine import Engine, IdSource
from sor_daemon.core.messages import CancelFields, CancelReject, ExecutionReport, NewOrderFields
from sor_daemon.core.orders import ParentOrder
from sor_daemon.core.routing.routes import Broker
from sor_daemon.core.routing.strategy import VenueState
from sor_daemon.fix import codec
from sor_daemon.fix.codec import FixMessage, Pairs
from sor_daemon.fix.endpoint import SessionSpec
from sor_daemon.fix.market_data import VenueFeed
from sor_sim.broker import SimBroker
from sor_sim.config import MarketConfig
from sor_sim.exchange import Outbound
from sor_sim.market import SimMarket
from sor_sim.venue import SimVenue, encode

MS = 1_000_000
S = 1_000_000_000
TICK_NS = 100 * MS
"""How often the engine's timers run (as the daemon's ticker does)."""
SESSION = "SOR"
"""Our session at every simulated venue and broker."""
OMS = "OMS"
"""The OMS session the lab's parents come from."""


@dataclass(frozen=True, slots=True)
class RouteLatency:
    """One-way delays on one route (a venue, or a broker), in nanoseconds."""

    entry_ns: int
    """Router -> venue or broker: a new order, cancel or status request."""
    ack_ns: int
    """Venue or broker -> router: execution reports and cancel rejects."""
    md_ns: int
    """Venue -> router: market data (lit venues)."""


def default_latencies(config: SorConfig, market: MarketConfig) -> dict[str, RouteLatency]:
    """Per route: half the configured ``expected_latency_ms`` each way on the wire, plus,
    on the way back, the simulated venue's own acknowledgement latency (a broker's is its
    ``expected_latency_ms``, as the simulated broker delays its reports)."""
    out: dict[str, RouteLatency] = {}
    for venue in config.venues:
        wire = int(venue.expected_latency_ms * MS / 2)
        profile = market.dark.get(venue.name) if venue.kind == "dark" else market.venues.get(
            venue.name)
        own = int((profile.ack_latency_ms if profile is not None else 0.0) * MS)
        out[venue.name] = RouteLatency(wire, wire + own, wire + own)
    for broker in config.brokers:
        wire = int(broker.expected_latency_ms * MS / 2)
        out[broker.name] = RouteLatency(wire, wire + int(broker.expected_latency_ms * MS), 0)
    return out


def build_engine(config: SorConfig, symbols: Sequence[str]) -> Engine:
    """The daemon's engine as `sor-daemon run` configures it, without risk limits or
    breakers (the lab measures routing, not controls) and without a journal."""
    return Engine(
        ticks={s: config.symbols[s].tick_size for s in symbols},
        venues=[VenueState(v.name, v.kind, False, v.taker_fee, v.maker_rebate,
                           v.expected_latency_ms, v.max_quote_age_ms * MS, v.min_qty)
                for v in config.venues],
        default_strategy=config.routing.default_strategy,
        ids=IdSource("L"),
        brokers=[Broker(b.name, b.commission_per_share, b.expected_latency_ms,
                        frozenset(b.venues)) for b in config.brokers],
        passive_ttl_ns=config.routing.passive_child_ttl_ms * MS,
        completed_orders_kept=100,
        cancel_on_disconnect=frozenset(
            s.name for s in [*config.venues, *config.brokers] if s.cancel_on_disconnect),
        miss_hold_ns=config.routing.miss_hold_ms * MS,
    )


@dataclass(frozen=True, slots=True)
class Fill:
    """One fill of ours as the venue made it, with the market it was made in."""

    at_ns: int
    route: str
    venue: str
    cl_ord_id: str
    qty: int
    price: Decimal
    commission: Decimal
    liquidity: str | None
    bid: Decimal | None
    ask: Decimal | None
    """The consolidated NBBO (every lit venue's true book) just before the event."""
    better_elsewhere: Decimal | None
    """The best price another lit venue displayed on the side the fill took, if better
    than the fill's (a trade-through), else None."""


class _LabSide:
    """What a simulated venue or broker sends goes into the world's heap, not a socket."""

    world: World
    name: str

    def _deliver(self, item: Outbound) -> None:
        self.world._from_venue(self.name, item)


class LabVenue(_LabSide, SimVenue):
    pass


class LabBroker(_LabSide, SimBroker):
    pass


def _detach(side: SimVenue, world: World) -> None:
    """No FIX endpoint, no latency of its own (the world's heap delays what it sends)."""
    side.endpoint = None  # type: ignore[assignment]
    side._latency = 0
    side.world = world  # type: ignore[attr-defined]


@dataclass(slots=True)
class _Samples:
    """Mids to take at given times (markouts, the horizon), filled in as time passes."""

    due: dict[int, list[tuple[str, int]]] = field(default_factory=dict)
    taken: dict[tuple[str, int], Decimal | None] = field(default_factory=dict)


class World:
    def __init__(self, config: SorConfig, market: MarketConfig, symbols: Sequence[str],
                 latencies: Mapping[str, RouteLatency] | None = None,
                 start_ns: int = 0) -> None:
        self.symbols = list(symbols)
        ticks = {s: config.symbols[s].tick_size for s in self.symbols}
        self.ticks = ticks
        self.sim = SimMarket(market, [(v.name, v.kind) for v in config.venues], ticks,
                             start_ns)
        self.latency = dict(latencies or default_latencies(config, market))
        self.engine = build_engine(config, self.symbols)
        self.now = start_ns
        self._heap: list[tuple[int, int, str, tuple]] = []
        self._seq = itertools.count()
        self.lit = [v.name for v in config.venues if v.kind == "lit"]
        self.dark = {v.name for v in config.venues if v.kind == "dark"}
        self.depth = {v.name: v.market_depth for v in config.venues}
        self.feeds = {name: VenueFeed(name) for name in self.lit}
        self.sides: dict[str, SimVenue] = {}
        for venue in config.venues:
            spec = SessionSpec(sender_comp_id=venue.target_comp_id, target_comp_id=SESSION,
                               port=venue.port)
            side: SimVenue = LabVenue(venue.name, self.sim, [spec])
            _detach(side, self)
            self.sides[venue.name] = side
        for broker in config.brokers:
            spec = SessionSpec(sender_comp_id=broker.target_comp_id, target_comp_id=SESSION,
                               port=broker.port)
            side = LabBroker(broker.name, self.sim, [spec], frozenset(broker.venues),
                             broker.commission_per_share, broker.expected_latency_ms)
            _detach(side, self)
            self.sides[broker.name] = side
        for side in self.sides.values():
            side.peers = self.sides
        self.down: set[str] = set()
        self.fills: list[Fill] = []
        self._idle = False
        self._before: dict[str, tuple[dict[str, int | None], dict[str, int | None]]] = {}
        self._samples = _Samples()
        self._md_ids = itertools.count(1)
        self._push(start_ns + self.sim.step_ns, "step")
        self._push(start_ns + TICK_NS, "tick")
        for name in self.sides:
            self._session_up(name)

    @property
    def idle(self) -> bool:
        """Nothing of ours is working any more and nothing will be: market data stops
        (the subscriptions are dropped) and the engine's timers stop. Only for a copy
        whose parent is done and which runs on for its markouts."""
        return self._idle

    def retire(self) -> None:
        if self._idle:
            return
        self._idle = True
        for name in self.feeds:
            self.sim.drop_session(name, SESSION)

    # ------------------------------------------------------------------ the clock

    def _push(self, at: int, kind: str, *payload: object) -> None:
        heapq.heappush(self._heap, (at, next(self._seq), kind, payload))

    def advance(self, until_ns: int) -> None:
        """Process every event due by ``until_ns``."""
        heap = self._heap
        while heap and heap[0][0] <= until_ns:
            self._pop()
        self.now = max(self.now, until_ns)

    def _pop(self) -> None:
        at, _, kind, payload = heapq.heappop(self._heap)
        self.now = at
        if kind == "step":
            self._step(at)
        elif kind == "deliver":
            self._deliver(*payload)
        elif kind == "order":
            self._order(*payload)
        elif kind == "tick":
            if not self._idle:
                self._execute(self.engine.tick(at))
                self._push(at + TICK_NS, "tick")
        elif kind == "sample":
            for key in self._samples.due.pop(at, []):
                self._samples.taken[key] = self.mid(key[0])

    def _step(self, at: int) -> None:
        self._before = {s: self._touches(s) for s in self.symbols}
        out = self.sim.step(at)
        for venue, outbound in out:
            self.sides[venue].route(venue, [outbound])
        for name in self.sides:
            down = self.sim.is_down(name, at)
            if down != (name in self.down):
                self._outage(name, down)
        self._push(at + self.sim.step_ns, "step")

    # ------------------------------------------------------------------ market truth

    def _touches(self, symbol: str) -> tuple[dict[str, int | None], dict[str, int | None]]:
        bids, asks = {}, {}
        for name, exchange in self.sim.lit.items():
            bids[name], asks[name] = exchange.best_ticks(symbol)
        return bids, asks

    def nbbo(self, symbol: str) -> tuple[Decimal | None, Decimal | None]:
        """The true NBBO (every lit venue's book now), in prices."""
        bbo = self.sim.nbbo(symbol)
        tick = self.ticks[symbol]
        if bbo is None:
            return None, None
        return bbo[0] * tick, bbo[1] * tick

    def mid(self, symbol: str) -> Decimal | None:
        bid, ask = self.nbbo(symbol)
        if bid is None or ask is None:
            return self.sim.model.fundamental(symbol)
        return (bid + ask) / 2

    def sample_mid(self, symbol: str, at_ns: int) -> None:
        """Take ``symbol``'s mid at ``at_ns`` (read it back with `sampled`)."""
        if at_ns <= self.now:
            self._samples.taken[(symbol, at_ns)] = self.mid(symbol)
            return
        due = self._samples.due.setdefault(at_ns, [])
        if not due:
            self._push(at_ns, "sample")
        due.append((symbol, at_ns))

    def sampled(self, symbol: str, at_ns: int) -> Decimal | None:
        return self._samples.taken.get((symbol, at_ns))

    @property
    def samples_pending(self) -> bool:
        return bool(self._samples.due)

    # ------------------------------------------------------------------ sessions

    def _session_up(self, name: str) -> None:
        self._execute(self.engine.venue_session(name, True, self.now))
        if name in self.feeds:
            pairs = codec.encode_market_data_request(
                f"{name}-MD{next(self._md_ids)}", self.symbols, self.depth[name])
            self.sides[name].on_message(SESSION, _message("V", pairs))

    def _outage(self, name: str, down: bool) -> None:
        """A venue's sessions drop (or come back), as `sor-daemon sim` runs an outage."""
        if down:
            self.down.add(name)
            self.sides[name].on_logout(SESSION)
            if name in self.feeds:
                self.feeds[name].clear()
            self._execute(self.engine.venue_session(name, False, self.now))
            self._execute(self.engine.venue_error(name, "session down", self.now))
        else:
            self.down.discard(name)
            self._session_up(name)

    # ------------------------------------------------------------------ router -> venue

    def execute(self, actions: list[Action]) -> None:
        self._execute(actions)

    def _execute(self, actions: list[Action]) -> None:
        for action in actions:
            match action:
                case SendChild(venue=route, order=order):
                    if route in self.down:
                        self._execute(self.engine.child_not_sent(
                            order.cl_ord_id, "venue session is down", self.now))
                        continue
                    self._send(route, "D", codec.encode_new_order(order))
                case CancelChild(venue=route, request=request):
                    if route not in self.down:
                        self._send(route, "F", codec.encode_cancel(request))
                case QueryChild(venue=route, child=child):
                    if route not in self.down:
                        self._send(route, "H", codec.encode_status_request(
                            child.cl_ord_id, child.symbol, child.side,
                            f"{route}-S{child.cl_ord_id}"))

    def _send(self, route: str, msg_type: str, pairs: Pairs) -> None:
        self._push(self.now + self.latency[route].entry_ns, "order", route, msg_type, pairs)

    def _order(self, route: str, msg_type: str, pairs: Pairs) -> None:
        if route in self.down:
            return  # lost with the session (the engine learns of it from the drop)
        message = _message(msg_type, pairs)
        symbol = message.get(55)
        if symbol in self.ticks:
            self._before = {symbol: self._touches(symbol)}
        self.sides[route].on_message(SESSION, message)

    # ------------------------------------------------------------------ venue -> router

    def _from_venue(self, owner: str, item: Outbound) -> None:
        """What a venue or broker sends us, at the time it sends it."""
        message = item.message
        if isinstance(message, ExecutionReport) and message.exec_type is ExecType.TRADE:
            self._record_fill(owner, message)
        latency = self.latency[owner]
        delay = (latency.ack_ns if isinstance(message, ExecutionReport | CancelReject)
                 else latency.md_ns)
        self._push(self.now + delay, "deliver", owner, item.session, message)

    def _record_fill(self, owner: str, report: ExecutionReport) -> None:
        venue = report.last_mkt or owner
        price = report.last_px or Decimal(0)
        tick = self.ticks[report.symbol]
        touches = self._before.get(report.symbol) or self._touches(report.symbol)
        bids = [p for p in touches[0].values() if p is not None]
        asks = [p for p in touches[1].values() if p is not None]
        better = None
        if venue in self.sim.lit and report.liquidity is not None and \
                report.liquidity.value == "2":
            others = [p for name, p in (touches[1] if report.side is Side.BUY
                                        else touches[0]).items()
                      if name != venue and p is not None]
            if others:
                best = (min(others) if report.side is Side.BUY else max(others)) * tick
                if (price > best) if report.side is Side.BUY else (price < best):
                    better = best
        self.fills.append(Fill(
            self.now, owner, venue, report.cl_ord_id, report.last_qty, price,
            report.commission or Decimal(0),
            report.liquidity.value if report.liquidity is not None else None,
            max(bids) * tick if bids else None, min(asks) * tick if asks else None, better))

    def _deliver(self, owner: str, session: str, message: object) -> None:
        """As the live connector (`FixVenueConnector.on_message`) and daemon handle it."""
        msg_type, pairs = encode(message)
        if msg_type in ("W", "X") and self._idle:
            return
        if owner in self.down:
            return
        fix = _message(msg_type, pairs)
        engine, now = self.engine, self.now
        match msg_type:
            case "8":
                self._execute(engine.venue_execution(owner, codec.decode_execution_report(fix),
                                                     now))
            case "9":
                self._execute(engine.venue_cancel_reject(owner, codec.decode_cancel_reject(fix),
                                                         now))
            case "W":
                self._execute(engine.venue_book(self.feeds[owner].snapshot(fix, now), now))
            case "X":
                update = self.feeds[owner].increment(fix, now)
                for symbol, qty in update.trades.items():
                    engine.context.observe_traded(owner, symbol, qty, now)
                for book in update.books:
                    self._execute(engine.venue_book(book, now))

    # ------------------------------------------------------------------ OMS side

    def new_parent(self, fields: NewOrderFields) -> ParentOrder | None:
        self._execute(self.engine.new_order(OMS, fields, self.now))
        return self.engine.parent(OMS, fields.cl_ord_id)

    def cancel_parent(self, parent: ParentOrder, cl_ord_id: str) -> None:
        self._execute(self.engine.cancel_order(OMS, CancelFields(
            cl_ord_id, parent.cl_ord_id, parent.symbol, parent.side.value), self.now))

    @property
    def next_ns(self) -> int:
        """When the next event is due (the market steps forever)."""
        return self._heap[0][0]

    def step_once(self) -> None:
        """Process the next event."""
        self._pop()


def _message(msg_type: str, pairs: Pairs) -> FixMessage:
    fields: dict[int, str] = {}
    for tag, value in pairs:
        fields.setdefault(tag, value)
    return FixMessage(msg_type, fields, pairs)

