"""The routing engine: owns every parent and child order. Pure: events in, actions out.

Each public method takes one event (an OMS request, a venue report, a session change)
with the time, and returns the actions the adapters must carry out, in order. Nothing
here touches a socket, a clock or quickfix, so the same engine runs live and in tests.

Memory stays flat however many orders go through: a parent is *retired* once it is
terminal with nothing pending and every child terminal. The last ``completed_orders_kept``
retired parents are still known (duplicate ClOrdIDs are refused, status requests answered,
late or duplicate venue reports for their children recognised and never applied); older
ones are forgotten entirely. So duplicate ClOrdID detection covers working orders plus the
last N completed ones.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from sor_daemon.core.actions import (
    Action,
    Anomaly,
    CancelChild,
    Candidate,
    ChildAcked,
    ChildEnded,
    ChildFilled,
    Decision,
    Halted,
    ParentAccepted,
    ParentEnded,
    QueryChild,
    Resumed,
    SendChild,
    ToOms,
)
from sor_daemon.core.domain import (
    CxlRejReason,
    CxlRejResponseTo,
    ExecType,
    OrdRejReason,
    OrdStatus,
    OrdType,
    Side,
    TimeInForce,
)
from sor_daemon.core.intake import Rejection, ReplaceTerms, validate_new_order, validate_replace
from sor_daemon.core.market import ConsolidatedBook, VenueBook, improves
from sor_daemon.core.messages import (
    NO_ORDER_ID,
    STATUS_EXEC_ID,
    BusinessReject,
    CancelFields,
    CancelOrder,
    CancelReject,
    ExecutionReport,
    NewOrder,
    NewOrderFields,
    ReplaceFields,
    StatusFields,
    refusal_report,
)
from sor_daemon.core.orders import ChildOrder, IllegalTransition, ParentOrder, PendingRequest
from sor_daemon.core.risk import ALL, Halt, KillSwitch, RiskChecks, SessionRules
from sor_daemon.core.routing.context import RoutingContext
from sor_daemon.core.routing.registry import STRATEGIES, STRATEGIES_BY_CODE
from sor_daemon.core.routing.routes import Broker
from sor_daemon.core.routing.strategy import ChildPlan, RouteRequest, VenueState, routable_books


def says_unknown_order(text: str | None) -> bool:
    """A venue's Text says it does not know the order (some say so only there, with no
    or another reason code)."""
    return "unknown order" in (text or "").lower()


class IdSource:
    """OrderIDs, ExecIDs and child ClOrdIDs: ``prefix`` keeps them unique across restarts."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._counter = itertools.count(1)

    def next(self, kind: str) -> str:
        return f"{self._prefix}{kind}{next(self._counter)}"


class Engine:
    def __init__(
        self,
        ticks: Mapping[str, Decimal],
        venues: Sequence[VenueState],
        default_strategy: str,
        ids: IdSource,
        send_pending_new: bool = False,
        brokers: Sequence[Broker] = (),
        passive_ttl_ns: int = 0,
        risk: RiskChecks | None = None,
        kill_switch: KillSwitch | None = None,
        cancel_children_on_halt: bool = True,
        completed_orders_kept: int = 10_000,
        cancel_on_disconnect: frozenset[str] = frozenset(),
        track_changes: bool = False,
        miss_hold_ns: int = 1_000_000_000,
    ) -> None:
        """``venues``: their state (fees, latency, staleness);
        ``brokers``: other routes to them; ``passive_ttl_ns``: how long a child posted at
        the touch rests before it is withdrawn and routed again (0: until the market
        moves away from it); ``risk``: pre-trade checks (None: no limits);
        ``kill_switch``: halts and the breakers that engage them;
        ``completed_orders_kept``: how many retired parents are still known (see the
        module docstring); ``cancel_on_disconnect``: the sessions (venues, brokers) whose
        counterparty cancels our working orders when the session drops;
        ``track_changes``: collect the parents each event changes, for `take_touched`
        (a journal); off, nothing is collected (nothing would ever empty it);
        ``miss_hold_ns``: how long at most a venue where a parent's child missed is left
        out of that parent's routing (it is back sooner once it publishes another book);
        0: until it publishes."""
        self.market = ConsolidatedBook()
        self._ticks = dict(ticks)
        self._venues = {v.name: replace(v, up=False) for v in venues}
        self.context = RoutingContext((v.name for v in venues if v.kind == "dark"),
                                      brokers=brokers)
        for name in self._venues:
            self.context.routes.direct_up[name] = False
        self._passive_ttl_ns = passive_ttl_ns
        self._default_strategy = default_strategy
        self._strategy_codes = {code: s.name for code, s in STRATEGIES_BY_CODE.items()}
        self._ids = ids
        self._send_pending_new = send_pending_new
        self._parents: dict[tuple[str, str], ParentOrder] = {}
        """Working and retained parents by (session, each of their ClOrdIDs)."""
        self._orders: dict[str, ParentOrder] = {}
        """The same parents by OrderID (37)."""
        self._children: dict[str, ChildOrder] = {}
        """Their children by ClOrdID and by the ClOrdID of each cancel sent for them."""
        self._retired: deque[ParentOrder] = deque()
        """Retired parents still known, oldest first (at most ``completed_orders_kept``)."""
        self._kept = completed_orders_kept
        self._passive: dict[str, set[ChildOrder]] = {}
        """Resting (Day) children by symbol, watched against the consolidated book
        (`venue_book`, `tick`)."""
        self.risk = risk or RiskChecks({}, SessionRules())
        self.kill_switch = kill_switch or KillSwitch()
        self._cancel_children_on_halt = cancel_children_on_halt
        self._open: dict[str, int] = {}
        """Working parents per OMS session (max_open_orders)."""
        self._quoted: set[str] = set()
        """Symbols some lit venue has published a book for (market-data-loss breaker)."""
        self._cancel_on_disconnect = cancel_on_disconnect
        self._track_changes = track_changes
        self._miss_hold_ns = miss_hold_ns
        self._published: dict[tuple[str, str], int] = {}
        """Books each venue has published per symbol (venue, symbol): a venue where a
        child missed is routed to again once it has published another."""
        self.touched: dict[str, ParentOrder] = {}
        """Parents changed since `take_touched` last emptied it (what the journal writes);
        only with ``track_changes``."""
        self.intake_closed: str | None = None
        """While set, new orders and replaces are refused with this text (shutdown)."""

    def take_touched(self) -> list[ParentOrder]:
        touched = list(self.touched.values())
        self.touched.clear()
        return touched

    def restore(self, parents: Sequence[ParentOrder]) -> list[ParentAccepted]:
        """Take back the parents a journal kept (working ones, then recently completed
        ones, oldest first), after a restart. Every child still working when the daemon
        stopped has an unknown outcome until its venue says (`venue_session` asks)."""
        for parent in parents:
            self._orders[parent.order_id] = parent
            for cl_ord_id in parent.cl_ord_ids:
                self._parents[(parent.session, cl_ord_id)] = parent
            for child in parent.children.values():
                self._children[child.cl_ord_id] = child
                for cancel_id in child.cancel_ids:
                    self._children[cancel_id] = child
                if not child.is_terminal:
                    child.unknown = True
                    if child.tif is TimeInForce.DAY:
                        self._passive.setdefault(parent.symbol, set()).add(child)
            if parent.is_done:
                self._retire(parent)
            elif not parent.is_terminal:
                self._open[parent.session] = self._open.get(parent.session, 0) + 1
        return [ParentAccepted(p) for p in parents if not p.is_terminal]

    # ------------------------------------------------------------------ queries

    @property
    def venues(self) -> Mapping[str, VenueState]:
        return self._venues

    def parent(self, session: str, cl_ord_id: str) -> ParentOrder | None:
        """A working or recently completed parent by any of its ClOrdIDs."""
        return self._parents.get((session, cl_ord_id))

    def open_parents(self) -> list[ParentOrder]:
        return [p for p in self._orders.values() if not p.is_terminal]

    # ------------------------------------------------- what the service asks of it

    def close_intake(self, reason: str) -> None:
        """Refuse new orders and replaces from now on, with ``reason`` as their Text."""
        self.intake_closed = reason

    def learned(self) -> dict[str, Any]:
        """What routing has learned, JSON-safe (kept across restarts)."""
        return self.context.state()

    def load_learned(self, state: dict[str, Any]) -> None:
        self.context.load_state(state)

    @property
    def halts(self) -> Mapping[str, Halt]:
        return self.kill_switch.halts

    def restore_halts(self, halts: Iterable[Halt]) -> None:
        """Halts kept across a restart: a restart does not lift them."""
        for halt in halts:
            self.kill_switch.engage(halt.scope, halt.reason, halt.by, halt.since_ns)

    def observe_traded(self, venue: str, symbol: str, qty: int, now_ns: int) -> None:
        """Shares a venue's market data says traded (what routing learns dark liquidity by)."""
        self.context.observe_traded(venue, symbol, qty, now_ns)

    def mid(self, symbol: str) -> Decimal | None:
        """The NBBO midpoint of ``symbol`` now, if both sides are quoted."""
        return self.market.nbbo(symbol).mid

    def is_broker(self, name: str) -> bool:
        return name in self.context.routes.brokers

    # ---------------------------------------------------------------- OMS side

    def new_order(self, session: str, fields: NewOrderFields, now_ns: int,
                  received_ns: int | None = None) -> list[Action]:
        """``received_ns``: when the message reached the router, the throttle's clock
        (default ``now_ns``); so for `cancel_order`, `replace_order`, `order_status`."""
        if self.intake_closed is not None:
            return [self._reject_new(session, fields, Rejection(
                OrdRejReason.EXCHANGE_CLOSED, self.intake_closed))]
        throttled = self.risk.admit(session, received_ns or now_ns)
        if throttled is not None:
            return [self._reject_new(session, fields, throttled)]
        if (session, fields.cl_ord_id) in self._parents:
            return [self._reject_new(session, fields, Rejection(
                OrdRejReason.DUPLICATE_ORDER,
                f"duplicate ClOrdID (11) {fields.cl_ord_id!r}: already used in this session",
            ))]
        order = validate_new_order(fields, self._ticks, self._venues, self._strategy_codes)
        if isinstance(order, Rejection):
            return [self._reject_new(session, fields, order)]
        refused = self._controls(session, order.symbol, order.side, order.ord_type, order.qty,
                                 order.price, self._open.get(session, 0))
        if refused is not None:
            return [self._reject_new(session, fields, refused)]
        unavailable = self._unavailable(order.ex_destination)
        if unavailable:
            return [self._reject_new(session, fields,
                                     Rejection(OrdRejReason.EXCHANGE_CLOSED, unavailable))]
        strategy = (
            STRATEGIES_BY_CODE[order.target_strategy].name
            if order.target_strategy is not None
            else self._default_strategy
        )
        parent = ParentOrder(
            session=session,
            cl_ord_id=order.cl_ord_id,
            order_id=self._ids.next("O"),
            symbol=order.symbol,
            side=order.side,
            ord_type=order.ord_type,
            price=order.price,
            tif=order.tif,
            qty=order.qty,
            strategy=strategy,
            pinned_venue=order.ex_destination,
            created_ns=now_ns,
            arrival_mid=self.market.nbbo(order.symbol).mid,
        )
        self._orders[parent.order_id] = parent
        self._index(parent, parent.cl_ord_id)
        self._open[session] = self._open.get(session, 0) + 1
        actions: list[Action] = [ParentAccepted(parent)]
        if self._send_pending_new:
            actions.append(self._report(parent, ExecType.PENDING_NEW))
        actions += self._route(parent, now_ns)
        return actions

    def cancel_order(self, session: str, fields: CancelFields, now_ns: int,
                     received_ns: int | None = None) -> list[Action]:
        throttled = self.risk.admit(session, received_ns or now_ns, cancel=True)
        parent, refusal = self._amendable(session, fields.cl_ord_id, fields.orig_cl_ord_id,
                                          CxlRejResponseTo.CANCEL)
        if throttled is not None and (parent is None or parent.is_terminal):
            return [ToOms(session, CancelReject(
                parent.order_id if parent is not None else NO_ORDER_ID, fields.cl_ord_id,
                fields.orig_cl_ord_id,
                parent.status if parent is not None else OrdStatus.REJECTED,
                CxlRejResponseTo.CANCEL, CxlRejReason.OTHER, throttled.text))]
        if refusal is not None:
            return [refusal]
        assert parent is not None
        return self._begin_pending(parent, PendingRequest(
            is_replace=False, cl_ord_id=fields.cl_ord_id, orig_cl_ord_id=fields.orig_cl_ord_id,
        ), now_ns)

    def replace_order(self, session: str, fields: ReplaceFields, now_ns: int,
                      received_ns: int | None = None) -> list[Action]:
        parent, refusal = self._amendable(session, fields.cl_ord_id, fields.orig_cl_ord_id,
                                          CxlRejResponseTo.REPLACE)
        if refusal is not None:
            return [refusal]
        assert parent is not None
        terms = validate_replace(fields, self._as_order(parent), parent.cum_qty,
                                 self._ticks[parent.symbol])
        if not isinstance(terms, Rejection):
            terms = self._replace_refusal(session, parent, terms,
                                          received_ns or now_ns) or terms
        if isinstance(terms, Rejection):
            return [self._cancel_reject(parent, fields.cl_ord_id, fields.orig_cl_ord_id,
                                        CxlRejResponseTo.REPLACE, CxlRejReason.OTHER, terms.text)]
        return self._begin_pending(parent, PendingRequest(
            is_replace=True, cl_ord_id=fields.cl_ord_id, orig_cl_ord_id=fields.orig_cl_ord_id,
            qty=terms.qty, price=terms.price,
        ), now_ns)

    def _replace_refusal(self, session: str, parent: ParentOrder, terms: ReplaceTerms,
                         received_ns: int) -> Rejection | None:
        """The throttle, the kill switch and the limits, on a replace's new terms."""
        if self.intake_closed is not None:
            return Rejection(OrdRejReason.EXCHANGE_CLOSED, self.intake_closed)
        return self.risk.admit(session, received_ns) or self._controls(
            session, parent.symbol, parent.side, parent.ord_type, terms.qty, terms.price)

    def _controls(self, session: str, symbol: str, side: Side, ord_type: OrdType, qty: int,
                  price: Decimal | None, open_orders: int | None = None) -> Rejection | None:
        """The kill switch, then the pre-trade limits (``open_orders``: for a new order)."""
        halted = self.kill_switch.refusal(symbol)
        if halted is not None:
            return Rejection(OrdRejReason.BROKER_OPTION, halted)
        return self.risk.check_order(session, symbol, side, ord_type, qty, price,
                                     self.market.nbbo(symbol), open_orders)

    def order_status(self, session: str, fields: StatusFields, now_ns: int,
                     received_ns: int | None = None) -> list[Action]:
        throttled = self.risk.admit(session, received_ns or now_ns, cancel=True)
        if throttled is not None:
            return [ToOms(session, BusinessReject(fields.seq_num, "H", 0, throttled.text))]
        parent = self._parents.get((session, fields.cl_ord_id or ""))
        if parent is None and fields.order_id:
            parent = self._orders.get(fields.order_id)
            if parent is not None and parent.session != session:
                parent = None
        if parent is None:
            asked = f"ClOrdID (11) {fields.cl_ord_id!r}" + (
                f", OrderID (37) {fields.order_id!r}" if fields.order_id else "")
            return [ToOms(session, refusal_report(
                STATUS_EXEC_ID, fields.cl_ord_id, OrdRejReason.UNKNOWN_ORDER,
                f"unknown order: {asked}", request=fields,
                order_id=fields.order_id, exec_type=ExecType.ORDER_STATUS,
                status_req_id=fields.ord_status_req_id))]
        return [self._report(parent, ExecType.ORDER_STATUS,
                             status_req_id=fields.ord_status_req_id, text=parent.text or None)]

    # -------------------------------------------------------------- venue side

    def venue_session(self, venue: str, up: bool, now_ns: int) -> list[Action]:
        """A venue's or a broker's session came up or went down. A venue is routable
        while its own session or a broker reaching it is up (its book comes only from its
        own session)."""
        routes = self.context.routes
        if venue not in self._venues and venue not in routes.brokers:
            return [Anomaly("unknown_venue", f"session event for unknown venue {venue!r}")]
        if not routes.set_up(venue, up) and not up:
            self.market.drop_venue(venue)
        for name, state in self._venues.items():
            self._venues[name] = replace(state, up=routes.reachable(name))
        actions: list[Action] = []
        if up:  # what became of those we lost sight of (or took as cancelled) there?
            actions += [QueryChild(venue, child) for parent in self._orders.values()
                        for child in parent.children.values()
                        if child.unknown and child.session == venue]
            for parent in self.open_parents():  # Day limits waiting for a venue
                if not parent.live_children():
                    actions += self._route(parent, now_ns)
            return actions
        working = [child for parent in self._orders.values() if not parent.is_done
                   for child in parent.live_children() if child.session == venue]
        for child in working:
            self._touch(child.parent)
            child.unknown = True
            if venue in self._cancel_on_disconnect:
                # The venue cancels it: what it had not filled is routed elsewhere now.
                # Still `unknown` until the venue confirms (its report is then expected).
                self._move(child, OrdStatus.CANCELED, actions)
                child.parent.text = f"{child.route}: canceled on disconnect"
                actions.append(ChildEnded(child))
                actions += self._after_child(child.parent, now_ns)
        return actions

    def tick(self, now_ns: int) -> list[Action]:
        """Time passed: passive children past their time to live are withdrawn, and so
        are resting children crossed by a venue that is usable again (its miss hold is
        over); once the cancel is confirmed their quantity is routed again with fresh
        market data."""
        actions: list[Action] = []
        for symbol, passive in self._passive.items():
            crossed = self._crossed(symbol, now_ns)
            self._withdraw(passive, lambda child, crossed=crossed: (
                child.expires_ns is not None and child.expires_ns <= now_ns
                and child.status is not OrdStatus.PENDING_NEW) or crossed(child), actions)
        if self.kill_switch.market_data_loss:
            for symbol in [s for s in self._quoted if not self.market.venue_books(s)]:
                self._quoted.discard(symbol)
                actions += self.halt(symbol, f"no market data: no lit venue publishes {symbol}",
                                     "market data breaker", now_ns)
        return actions

    # ------------------------------------------------------------- controls

    def halt(self, scope: str, reason: str, by: str, now_ns: int) -> list[Action]:
        """Engage the kill switch for everything (`ALL`) or one symbol: new orders are
        refused and, if so configured, every working child there is cancelled (parents
        stay open, routed again on `resume`)."""
        halt = self.kill_switch.engage(scope, reason, by, now_ns)
        if halt is None:
            return []
        actions: list[Action] = [Halted(halt)]
        if self._cancel_children_on_halt:
            for parent in self.open_parents():
                if scope == ALL or parent.symbol == scope:
                    for child in parent.live_children():
                        if child.status is not OrdStatus.PENDING_CANCEL:
                            self._cancel_child(child, actions)
        return actions

    def resume(self, now_ns: int) -> list[Action]:
        """An operator lifts every halt: open parents are routed again."""
        lifted = self.kill_switch.resume()
        if not lifted:
            return []
        actions: list[Action] = [Resumed(tuple(lifted))]
        for parent in self.open_parents():
            actions += self._route(parent, now_ns)
        return actions

    def cancel_all(self, text: str, now_ns: int, session: str | None = None) -> list[Action]:
        """Cancel every open parent (of one OMS ``session``, or all): unsolicited, each
        ends Canceled with ``text``. A pending replace is refused first; a pending cancel
        just goes on."""
        actions: list[Action] = []
        for parent in self.open_parents():
            if session is not None and parent.session != session:
                continue
            pending = parent.pending
            if pending is not None and not pending.is_replace:
                continue
            if pending is not None:
                actions.append(self._cancel_reject(
                    parent, pending.cl_ord_id, pending.orig_cl_ord_id or parent.cl_ord_id,
                    CxlRejResponseTo.REPLACE, CxlRejReason.BROKER_OPTION,
                    f"order canceled meanwhile: {text}"))
                parent.pending = None
                self._move(parent, parent.working_status, actions)
            actions += self._begin_pending(parent, PendingRequest(
                is_replace=False, cl_ord_id=parent.cl_ord_id, orig_cl_ord_id=None,
                text=text), now_ns)
        return actions

    def venue_error(self, venue: str, what: str, now_ns: int) -> list[Action]:
        """A venue session dropped or sent something unusable: a burst engages the kill
        switch."""
        burst = self.kill_switch.venue_error(now_ns)
        if burst is None:
            return []
        return self.halt(ALL, f"{burst} (last: {venue} {what})", "venue error breaker", now_ns)

    def venue_book(self, book: VenueBook, now_ns: int = 0) -> list[Action]:
        """A venue's new book. A child posted at the touch there that the market has moved
        away from (its venue now shows a better price on its side) is cancelled, and so
        is any resting child a better price displayed elsewhere crosses (`_crossed`);
        once the cancel is confirmed its residual is routed again with the fresh book."""
        if book.venue not in self._venues:
            return []
        self.market.update(book)
        key = (book.venue, book.symbol)
        self._published[key] = self._published.get(key, 0) + 1
        self._quoted.add(book.symbol)
        passive = self._passive.get(book.symbol)
        if not passive:
            return []
        crossed = self._crossed(book.symbol, now_ns)

        def due(child: ChildOrder) -> bool:
            levels = (book.own_levels(child.side)
                      if child.venue == book.venue and child.price != child.parent.price
                      else ())
            return ((bool(levels) and improves(child.side.opposite, levels[0].price,
                                               child.price))
                    or crossed(child))

        actions: list[Action] = []
        self._withdraw(passive, due, actions)
        return actions

    def _crossed(self, symbol: str, now_ns: int) -> Callable[[ChildOrder], bool]:
        """Whether a resting child on ``symbol`` is crossed: a venue other than its own,
        one its parent may take from now, displays a better price on the side the child
        would trade against (taking it beats resting). Not while the parent's IOCs are
        out (they may be taking that very price), nor while nothing new may be sent."""
        if self.intake_closed is not None or self.kill_switch.refusal(symbol) is not None:
            return lambda child: False
        nbbo = self.market.nbbo(symbol)

        def crossed(child: ChildOrder) -> bool:
            best = nbbo.ask if child.side is Side.BUY else nbbo.bid
            if best is None or child.price is None or not improves(
                    child.side, best.price, child.price):
                return False  # nothing anywhere beats it (the common case: no more work)
            parent = child.parent
            if any(c.tif is not TimeInForce.DAY for c in parent.live_children()):
                return False
            books = routable_books(self._request(parent, 0, now_ns), self.market,
                                   self._venues, now_ns)
            return any(name != child.venue and book.levels(child.side)
                       and improves(child.side, book.levels(child.side)[0].price,
                                    child.price)
                       for name, book in books.items())

        return crossed

    def _withdraw(self, passive: set[ChildOrder], due: Callable[[ChildOrder], bool],
                  actions: list[Action]) -> None:
        """Cancel the passive children ``due`` says must go (their residual is routed
        again once the cancel is confirmed); forget those already ending."""
        for child in list(passive):
            if child.is_terminal or child.cancel_ids or child.parent.pending is not None:
                passive.discard(child)
            elif due(child):
                passive.discard(child)
                self._cancel_child(child, actions)

    def venue_execution(self, venue: str, report: ExecutionReport, now_ns: int) -> list[Action]:
        child = self._children.get(report.cl_ord_id)
        if child is None and report.orig_cl_ord_id:
            child = self._children.get(report.orig_cl_ord_id)
        if child is None or child.session != venue:
            return [Anomaly("unknown_child",
                            f"{venue} report for unknown order {report.cl_ord_id!r}")]
        self._touch(child.parent)
        if child.unknown and child.is_terminal:
            return self._after_assumed_end(child, report)
        if report.exec_type is ExecType.TRADE:
            if report.exec_id in child.exec_ids:
                return [Anomaly("duplicate_exec", f"{venue} ExecID {report.exec_id} again")]
            child.exec_ids.add(report.exec_id)
            if child.status_filled and report.cum_qty <= child.cum_qty:
                child.status_filled = max(0, child.status_filled - report.last_qty)
                return [Anomaly("fill_already_reconciled",
                                f"{venue} ExecID {report.exec_id}: {report.last_qty} on "
                                f"{child.cl_ord_id} already applied from its status")]
        was_terminal = child.is_terminal
        if report.order_id:
            child.venue_order_id = report.order_id
        actions: list[Action] = []
        match report.exec_type:
            case ExecType.NEW:
                if child.status is OrdStatus.PENDING_NEW:
                    self._move(child, OrdStatus.NEW, actions)
                    latency = child.ack_latency_ns = now_ns - child.sent_ns
                    self.context.child_acked(child.route, latency / 1e6)
                    actions.append(ChildAcked(child.route, latency))
                self._acknowledge(child.parent, actions)
                if child.tif is TimeInForce.DAY:
                    # A resting child no longer blocks routing what nothing works.
                    actions += self._route(child.parent, now_ns)
            case ExecType.TRADE:
                self._apply_fill(child, report, actions)
            case ExecType.CANCELED | ExecType.EXPIRED:
                target = (OrdStatus.CANCELED if report.exec_type is ExecType.CANCELED
                          else OrdStatus.EXPIRED)
                unsolicited = not child.cancel_ids
                self._move(child, target, actions)
                if unsolicited and child.cum_qty < child.qty:
                    if child.tif is TimeInForce.DAY:
                        # The venue pulled a resting child (its day is over, or its own
                        # controls): the residual goes elsewhere.
                        child.parent.exhausted_venues.add(child.venue)
                    else:
                        # An IOC miss: look elsewhere for the residual until the venue
                        # shows another book (most misses are a quote that moved) or for
                        # `miss_hold_ns` at most.
                        child.parent.missed[child.venue] = (
                            child.book_seq,
                            now_ns + self._miss_hold_ns if self._miss_hold_ns else None)
                    if report.text:
                        child.parent.text = f"{child.route}: {report.text}"
            case ExecType.REJECTED if self._not_known_there(child, report):
                self._forgotten(child, actions)
            case ExecType.REJECTED:
                self._move(child, OrdStatus.REJECTED, actions)
                child.parent.exhausted_venues.add(child.venue)
                child.parent.text = (f"{child.route} rejected: "
                                     f"{report.text or 'no reason given'}")
            case ExecType.ORDER_STATUS:
                self._reconcile(child, report, actions)
            case ExecType.PENDING_CANCEL | ExecType.PENDING_NEW:
                pass
            case _:
                actions.append(Anomaly("unexpected_exec_type",
                                       f"{venue} ExecType {report.exec_type.name} for "
                                       f"{child.cl_ord_id}"))
        if child.is_terminal and not was_terminal:  # a late report ends nothing again
            self._learn(child, actions, now_ns)
            actions += self._after_child(child.parent, now_ns)
        return actions

    def _reconcile(self, child: ChildOrder, report: ExecutionReport,
                   actions: list[Action]) -> None:
        """The venue's answer to an OrderStatusRequest: settle what we did not know.

        Fills come only as fills (resent by the venue if we missed them), so a status
        only ends a child whose fills we all have, or one the venue does not know."""
        child.unknown = False
        status = report.ord_status
        if self._not_known_there(child, report):
            self._forgotten(child, actions)
        elif report.cum_qty > child.cum_qty and report.avg_px > 0:
            # Filled while we were away, and not resent (the status comes after any
            # resend on the session): the session was reset, e.g. at its day boundary.
            self._fill_from_status(child, report, actions)
        elif report.cum_qty != child.cum_qty:
            actions.append(Anomaly(
                "status_mismatch", f"{child.venue} says {child.cl_ord_id} has "
                                   f"{report.cum_qty} filled and is {status.name}; "
                                   f"{child.cum_qty} applied"))
        elif status in (OrdStatus.CANCELED, OrdStatus.EXPIRED, OrdStatus.REJECTED):
            self._move(child, status, actions)
            if status is OrdStatus.REJECTED or not child.cancel_ids:
                child.parent.exhausted_venues.add(child.venue)
            child.parent.text = f"{child.route}: {status.name.lower()} while unattended"
        elif child.status is OrdStatus.PENDING_NEW:
            self._move(child, OrdStatus.NEW, actions)
            self._acknowledge(child.parent, actions)
        elif child.status is OrdStatus.PENDING_CANCEL and not status.is_terminal:
            self._cancel_child(child, actions)  # the cancel never got there: again

    @staticmethod
    def _not_known_there(child: ChildOrder, report: ExecutionReport) -> bool:
        """Whether a status answer (ExecType I) or a reject (8) says the venue does not
        have the order, in any of the forms venues and brokers use: OrdRejReason 5, or
        OrdStatus Rejected with a Text saying "unknown order", or OrdStatus Rejected for
        a child it had acknowledged (it cannot reject an order it took)."""
        if report.exec_type not in (ExecType.ORDER_STATUS, ExecType.REJECTED):
            return False
        return report.ord_rej_reason is OrdRejReason.UNKNOWN_ORDER or (
            report.ord_status is OrdStatus.REJECTED
            and (child.status is not OrdStatus.PENDING_NEW or says_unknown_order(report.text)))

    def _forgotten(self, child: ChildOrder, actions: list[Action]) -> None:
        """The venue does not know the child: it never got there, or the venue lost it
        (restarted). Nothing works there, so it ends and its quantity is free to route."""
        child.unknown = False
        if child.is_terminal:
            return  # a late or repeated answer: it has ended already
        self._move(child, OrdStatus.CANCELED, actions)
        child.parent.text = f"{child.route}: the venue does not know the order"

    def _fill_from_status(self, child: ChildOrder, report: ExecutionReport,
                          actions: list[Action]) -> None:
        """Apply what a status says was filled beyond what we have, as one fill at the
        venue's average price (exact when we had none of the child's fills)."""
        qty = report.cum_qty - child.cum_qty
        actions.append(Anomaly("fill_from_status",
                               f"{child.venue} status: {qty} filled on {child.cl_ord_id} "
                               f"never reported; applied at its AvgPx {report.avg_px}"))
        child.status_filled += qty
        # The fill's key (the journal's): a status reply's ExecID is 0 (FIX 4.4), but the
        # CumQty it brings the child to is never the same twice.
        exec_id = f"{report.exec_id}@{report.cum_qty}"
        child.exec_ids.add(exec_id)
        self._apply_fill(child, replace(report, exec_type=ExecType.TRADE, last_qty=qty,
                                        last_px=report.avg_px, exec_id=exec_id), actions)
        status = report.ord_status
        if not child.is_terminal and status in (OrdStatus.CANCELED, OrdStatus.EXPIRED):
            self._move(child, status, actions)

    def _after_assumed_end(self, child: ChildOrder, report: ExecutionReport) -> list[Action]:
        """A report for a child ended when its session dropped (cancel on disconnect):
        its confirmation, or a fill it got before the venue cancelled it."""
        if report.exec_type is ExecType.TRADE and report.exec_id not in child.exec_ids:
            child.exec_ids.add(report.exec_id)
            return [Anomaly("fill_after_disconnect",
                            f"{child.venue} filled {report.last_qty} on {child.cl_ord_id} "
                            f"(ExecID {report.exec_id}) after it was taken as cancelled on "
                            "disconnect; not applied: reconcile by hand")]
        if report.exec_type in (ExecType.CANCELED, ExecType.EXPIRED) or (
                report.exec_type is ExecType.ORDER_STATUS and report.ord_status.is_terminal
        ) or self._not_known_there(child, report):
            child.unknown = False
        return []

    def _learn(self, child: ChildOrder, actions: list[Action], now_ns: int) -> None:
        """Tell the routing context (and the monitor) how a finished child did; a burst of
        rejects engages the kill switch."""
        actions.append(ChildEnded(child))
        if child.status is OrdStatus.REJECTED:
            burst = self.kill_switch.child_rejected(now_ns)
            if burst is not None:
                actions += self.halt(ALL, burst, "reject breaker", now_ns)
        self.context.child_done(
            child.venue, self._venues[child.venue].kind == "dark", child.qty, child.cum_qty,
            child.status is OrdStatus.REJECTED, child.via)

    def venue_cancel_reject(self, venue: str, reject: CancelReject, now_ns: int) -> list[Action]:
        child = self._children.get(reject.orig_cl_ord_id) or self._children.get(reject.cl_ord_id)
        if child is None:
            return [Anomaly("unknown_child", f"{venue} cancel reject for unknown "
                                             f"{reject.orig_cl_ord_id!r}")]
        if child.is_terminal:
            return []  # too late: the fill or cancel that ended it has been applied
        self._touch(child.parent)
        actions: list[Action] = []
        if reject.reason is CxlRejReason.UNKNOWN_ORDER or says_unknown_order(reject.text):
            # Nothing to cancel there (the venue lost it): it has ended, as a status
            # answer saying so would end it.
            self._forgotten(child, actions)
            self._learn(child, actions, now_ns)
            return actions + self._after_child(child.parent, now_ns)
        self._move(child, OrdStatus.PARTIALLY_FILLED if child.cum_qty else OrdStatus.NEW,
                   actions)
        parent = child.parent
        request = parent.pending
        if request is not None:
            parent.pending = None
            self._move(parent, parent.working_status, actions)
            actions.append(self._cancel_reject(
                parent, request.cl_ord_id, request.orig_cl_ord_id,
                CxlRejResponseTo.REPLACE if request.is_replace else CxlRejResponseTo.CANCEL,
                CxlRejReason.BROKER_OPTION, f"{venue} refused to cancel: {reject.text}"))
        return actions

    def child_not_sent(self, child_id: str, reason: str, now_ns: int) -> list[Action]:
        """A child the connector could not hand to its venue: treated as a venue reject."""
        child = self._children.get(child_id)
        if child is None or child.is_terminal:
            return [Anomaly("unknown_child", f"child {child_id!r} not sent, but not working")]
        actions: list[Action] = []
        self._move(child, OrdStatus.REJECTED, actions)
        child.parent.exhausted_venues.add(child.venue)
        child.parent.text = f"{child.route}: {reason}"
        self._learn(child, actions, now_ns)
        return actions + self._after_child(child.parent, now_ns)

    def not_carried_out(self, actions: Sequence[Action], text: str,
                        now_ns: int) -> list[Action]:
        """``actions`` were not carried out (what they change could not be recorded):
        each child they would have sent never left (Rejected here, and nothing is routed
        in its place), and each parent they accepted is rejected with ``text``. Returns
        what the OMS must still be told: those rejects, and the refusals among
        ``actions`` (about no order of ours: they change nothing)."""
        told: list[Action] = []
        for action in actions:
            match action:
                case SendChild(child=child) if not child.is_terminal:
                    self._move(child, OrdStatus.REJECTED, told)
                    child.parent.text = f"{child.route}: not sent ({text})"
                case ToOms(message=message) if message.order_id == NO_ORDER_ID:
                    told.append(action)
        for action in actions:
            if isinstance(action, ParentAccepted) and not action.parent.is_terminal:
                parent = action.parent
                self._move(parent, OrdStatus.REJECTED, told)
                told.append(self._report(parent, ExecType.REJECTED,
                                         reason=OrdRejReason.OTHER, text=text))
        return told

    # ---------------------------------------------------------------- internals

    def _unavailable(self, pinned: str | None) -> str | None:
        if pinned is not None:
            return None if self._venues[pinned].up else f"venue {pinned} is down"
        if not any(v.up for v in self._venues.values()):
            return "no venue session is up"
        return None

    def _route(self, parent: ParentOrder, now_ns: int) -> list[Action]:
        """Place what nothing is working; when nothing can be placed, end the parent.

        Only once no child is in flight: resting Day children (acknowledged, no cancel
        pending) may stay while the rest is routed, but an IOC wave must come back
        first, or the next plan could allocate the liquidity it is taking."""
        if parent.is_terminal or parent.pending is not None or self.intake_closed is not None:
            return []  # (shutting down: nothing new goes out)
        live = parent.live_children()
        halted = self.kill_switch.refusal(parent.symbol)
        if halted is not None:
            # Nothing new goes out; a resting parent waits for resume, an IOC one ends.
            if live or (parent.tif is not TimeInForce.IOC
                        and parent.ord_type is not OrdType.MARKET):
                return []
            actions: list[Action] = []
            self._move(parent, OrdStatus.CANCELED, actions)
            actions.append(self._report(parent, ExecType.CANCELED, text=halted))
            return actions
        if any(c.tif is not TimeInForce.DAY or c.status is OrdStatus.PENDING_NEW
               or c.cancel_ids for c in live):
            return []
        qty = parent.leaves_qty - parent.working_qty
        if qty <= 0:
            return []
        request = self._request(parent, qty, now_ns)
        plans = STRATEGIES[parent.strategy].plan(request, self.market, self._venues, now_ns,
                                                 self.context)
        if not plans:
            actions = [self._decision(parent, request, plans)]
            if live or self._waits(parent):
                self._acknowledge(parent, actions)  # it works here until a venue can take it
                return actions
            return [*actions, *self._end_unplaceable(parent)]
        actions: list[Action] = []
        routes: list[str] = []
        for plan in plans:
            route = self.context.best_route(plan.venue,
                                            self._venues[plan.venue].expected_latency_ms)
            child = ChildOrder(
                cl_ord_id=self._ids.next("C"), parent=parent, venue=plan.venue,
                symbol=parent.symbol, side=parent.side, ord_type=plan.ord_type,
                price=plan.price, tif=plan.tif, qty=plan.qty, sent_ns=now_ns,
                via=route.via if route is not None else None,
                book_seq=self._published.get((plan.venue, parent.symbol), 0),
            )
            parent.children[child.cl_ord_id] = child
            self._children[child.cl_ord_id] = child
            self._touch(parent)
            routes.append(child.route)
            actions.append(SendChild(child.session, NewOrder(
                child.cl_ord_id, child.symbol, child.side, child.qty, child.ord_type,
                child.price, child.tif, ex_destination=child.venue if child.via else None,
                min_qty=plan.min_qty), child))
            if plan.tif is TimeInForce.DAY:
                # Resting: watched against the book elsewhere (`venue_book`, `tick`). Posted
                # at the touch, not at the limit: it follows the market too and, past its
                # time to live, looks again.
                if self._passive_ttl_ns and plan.price != parent.price:
                    child.expires_ns = now_ns + self._passive_ttl_ns
                self._passive.setdefault(parent.symbol, set()).add(child)
        actions.append(self._decision(parent, request, plans, tuple(routes)))
        return actions

    def _request(self, parent: ParentOrder, qty: int, now_ns: int) -> RouteRequest:
        """What a strategy sees of ``parent`` for ``qty`` shares now."""
        return RouteRequest(
            symbol=parent.symbol, side=parent.side, ord_type=parent.ord_type,
            limit=parent.price, tif=parent.tif, qty=qty, pinned_venue=parent.pinned_venue,
            exhausted=self._excluded(parent, now_ns),
            missed=frozenset(parent.missed.keys() - parent.exhausted_venues),
        )

    def _excluded(self, parent: ParentOrder, now_ns: int) -> frozenset[str]:
        """The venues ``parent`` may not use now: those that rejected its children,
        and those where one missed until they publish another book or their hold ends."""
        for venue, (seq, until) in list(parent.missed.items()):
            if (self._published.get((venue, parent.symbol), 0) != seq
                    or (until is not None and now_ns >= until)):
                del parent.missed[venue]
        if not parent.missed:
            return frozenset(parent.exhausted_venues)
        return frozenset(parent.exhausted_venues.union(parent.missed))

    def _decision(self, parent: ParentOrder, request: RouteRequest,
                  plans: list[ChildPlan], routes: tuple[str, ...] = ()) -> Decision:
        books = self.market.venue_books(parent.symbol)
        candidates = []
        for name, venue in self._venues.items():
            book = books.get(name)
            levels = book.levels(parent.side) if book is not None else ()
            score = self.context.score(name)
            candidates.append(Candidate(
                name, venue.kind, venue.up, name in request.exhausted,
                levels[0].price if levels else None, levels[0].size if levels else 0,
                score.fill_rate, score.ack_latency_ms))
        return Decision(parent, parent.strategy, request.qty, tuple(candidates), tuple(plans),
                        routes)

    @staticmethod
    def _waits(parent: ParentOrder) -> bool:
        """Whether a parent nothing can be placed for stays working: a Day limit does
        (until it fills, the OMS cancels it or the day ends), routed again when a venue
        comes up; unless every venue tried rejected it."""
        return (parent.tif is TimeInForce.DAY and parent.ord_type is not OrdType.MARKET
                and not (parent.children and all(c.status is OrdStatus.REJECTED
                                                  for c in parent.children.values())))

    def _end_unplaceable(self, parent: ParentOrder) -> list[Action]:
        actions: list[Action] = []
        children = parent.children.values()
        if children and all(c.status is OrdStatus.REJECTED for c in children):
            self._move(parent, OrdStatus.REJECTED, actions)
            actions.append(self._report(parent, ExecType.REJECTED, reason=OrdRejReason.OTHER,
                                        text=f"no venue accepted the order ({parent.text})"))
            return actions
        if parent.ord_type is OrdType.MARKET or parent.tif is TimeInForce.IOC:
            why = "no more displayed liquidity within the limit"
        else:
            why = "no venue can take the residual"
        if parent.text:
            why += f" (last: {parent.text})"
        self._move(parent, OrdStatus.CANCELED, actions)
        actions.append(self._report(parent, ExecType.CANCELED, text=why))
        return actions

    def _acknowledge(self, parent: ParentOrder, actions: list[Action]) -> None:
        if parent.acked:
            return
        parent.acked = True
        if parent.status is OrdStatus.PENDING_NEW:
            self._move(parent, OrdStatus.NEW, actions)
            actions.append(self._report(parent, ExecType.NEW))

    def _apply_fill(self, child: ChildOrder, report: ExecutionReport,
                    actions: list[Action]) -> None:
        qty, price = report.last_qty, report.last_px
        if qty <= 0 or price is None:
            actions.append(Anomaly("bad_fill", f"{child.venue} fill {report.exec_id} without "
                                               "a positive LastQty and a LastPx"))
            return
        if qty > child.leaves_qty:
            actions.append(Anomaly("venue_overfill",
                                   f"{child.venue} filled {qty} on {child.cl_ord_id} with only "
                                   f"{child.leaves_qty} working; applying {child.leaves_qty}"))
            qty = child.leaves_qty
            if qty == 0:
                return
        child.apply_fill(qty)
        if child.cum_qty == child.qty:
            self._move(child, OrdStatus.FILLED, actions)
        elif child.status is not OrdStatus.PENDING_CANCEL:
            self._move(child, OrdStatus.PARTIALLY_FILLED, actions)
        nbbo = self.market.nbbo(child.symbol)  # as quoted when the fill happened
        self.market.consume(child.venue, child.symbol, child.side, price, qty)

        parent = child.parent
        self._acknowledge(parent, actions)
        actions.append(ChildFilled(child, qty, price, report.commission,  # before any end
                                   nbbo.bid.price if nbbo.bid else None,
                                   nbbo.ask.price if nbbo.ask else None,
                                   first=child.cum_qty == qty,
                                   liquidity=report.liquidity, exec_id=report.exec_id))
        parent.apply_fill(qty, price)
        request = None
        if parent.cum_qty >= parent.qty:
            request, parent.pending = parent.pending, None  # refused below, too late
            self._move(parent, OrdStatus.FILLED, actions)
        elif parent.pending is None:
            self._move(parent, OrdStatus.PARTIALLY_FILLED, actions)
        actions.append(self._report(parent, ExecType.TRADE, last_qty=qty, last_px=price,
                                    last_mkt=child.venue))
        if request is not None:
            actions.append(self._cancel_reject(
                parent, request.cl_ord_id, request.orig_cl_ord_id,
                CxlRejResponseTo.REPLACE if request.is_replace else CxlRejResponseTo.CANCEL,
                CxlRejReason.TOO_LATE_TO_CANCEL, "order is already filled"))

    def _after_child(self, parent: ParentOrder, now_ns: int) -> list[Action]:
        """A child has ended: finish a pending cancel/replace, or place the residual."""
        if parent.is_terminal:
            return []
        if parent.pending is not None:
            return [] if parent.live_children() else self._resolve_pending(parent, now_ns)
        return self._route(parent, now_ns)

    def _amendable(
        self, session: str, cl_ord_id: str, orig_cl_ord_id: str, response_to: CxlRejResponseTo
    ) -> tuple[ParentOrder | None, ToOms | None]:
        parent = self._parents.get((session, orig_cl_ord_id))
        if parent is None:
            return None, ToOms(session, CancelReject(
                NO_ORDER_ID, cl_ord_id, orig_cl_ord_id, OrdStatus.REJECTED, response_to,
                CxlRejReason.UNKNOWN_ORDER, f"unknown order: OrigClOrdID (41) {orig_cl_ord_id!r}",
            ))
        if (session, cl_ord_id) in self._parents:
            return None, self._cancel_reject(
                parent, cl_ord_id, orig_cl_ord_id, response_to, CxlRejReason.DUPLICATE_CLORDID,
                f"duplicate ClOrdID (11) {cl_ord_id!r}: already used in this session")
        if parent.is_terminal:
            return None, self._cancel_reject(
                parent, cl_ord_id, orig_cl_ord_id, response_to, CxlRejReason.TOO_LATE_TO_CANCEL,
                f"order is already {parent.status.name.lower().replace('_', ' ')}")
        if parent.pending is not None:
            return None, self._cancel_reject(
                parent, cl_ord_id, orig_cl_ord_id, response_to, CxlRejReason.ALREADY_PENDING,
                f"a cancel or replace ({parent.pending.cl_ord_id}) is already pending")
        return parent, None

    def _begin_pending(self, parent: ParentOrder, request: PendingRequest,
                       now_ns: int) -> list[Action]:
        actions: list[Action] = []
        parent.pending = request
        self._index(parent, request.cl_ord_id)
        target = OrdStatus.PENDING_REPLACE if request.is_replace else OrdStatus.PENDING_CANCEL
        self._move(parent, target, actions)
        if request.orig_cl_ord_id is not None:  # the OMS asked: it hears it is pending
            actions.append(self._report(
                parent, ExecType.PENDING_REPLACE if request.is_replace
                else ExecType.PENDING_CANCEL,
                cl_ord_id=request.cl_ord_id, orig_cl_ord_id=request.orig_cl_ord_id))
        live = parent.live_children()
        if not live:
            return actions + self._resolve_pending(parent, now_ns)
        for child in live:
            if child.status is not OrdStatus.PENDING_CANCEL:
                self._cancel_child(child, actions)
        return actions

    def _cancel_child(self, child: ChildOrder, actions: list[Action]) -> None:
        cancel_id = self._ids.next("X")
        self._touch(child.parent)
        child.cancel_ids.append(cancel_id)
        self._children[cancel_id] = child
        self._move(child, OrdStatus.PENDING_CANCEL, actions)
        actions.append(CancelChild(child.session, CancelOrder(
            cancel_id, child.cl_ord_id, child.symbol, child.side, child.qty)))

    def _resolve_pending(self, parent: ParentOrder, now_ns: int) -> list[Action]:
        request = parent.pending
        assert request is not None
        parent.pending = None
        actions: list[Action] = []
        if not request.is_replace:
            parent.apply_amendment(request)
            self._move(parent, OrdStatus.CANCELED, actions)
            actions.append(self._report(parent, ExecType.CANCELED,
                                        orig_cl_ord_id=request.orig_cl_ord_id,
                                        text=request.text))
            return actions
        if parent.cum_qty > request.qty:
            self._move(parent, parent.working_status, actions)
            actions.append(self._cancel_reject(
                parent, request.cl_ord_id, request.orig_cl_ord_id, CxlRejResponseTo.REPLACE,
                CxlRejReason.TOO_LATE_TO_CANCEL,
                f"filled {parent.cum_qty} meanwhile, above the new OrderQty {request.qty}"))
            return actions + self._route(parent, now_ns)
        parent.apply_amendment(request)
        self._move(parent, parent.working_status, actions)
        actions.append(self._report(parent, ExecType.REPLACED,
                                    orig_cl_ord_id=request.orig_cl_ord_id))
        return actions + self._route(parent, now_ns)

    def _touch(self, parent: ParentOrder) -> None:
        if self._track_changes:
            self.touched[parent.order_id] = parent

    def _move(self, order: ParentOrder | ChildOrder, target: OrdStatus,
              actions: list[Action]) -> None:
        self._touch(order if isinstance(order, ParentOrder) else order.parent)
        try:
            order.transition(target)
        except IllegalTransition as exc:
            actions.append(Anomaly("illegal_transition", str(exc)))
            return
        if not order.is_terminal:
            return
        if isinstance(order, ParentOrder):
            self._open[order.session] -= 1
            actions.append(ParentEnded(order))
            parent = order
        else:
            passive = self._passive.get(order.symbol)
            if passive is not None:
                passive.discard(order)
            parent = order.parent
        if parent.is_done:  # its last order just ended: this happens once per parent
            self._retire(parent)

    def _index(self, parent: ParentOrder, cl_ord_id: str) -> None:
        """Find ``parent`` by ``cl_ord_id`` too (until it is forgotten)."""
        key = (parent.session, cl_ord_id)
        self._touch(parent)
        if self._parents.get(key) is not parent:
            self._parents[key] = parent
            parent.cl_ord_ids.append(cl_ord_id)

    def _retire(self, parent: ParentOrder) -> None:
        """Keep a done parent among the recently completed; forget the oldest beyond
        ``completed_orders_kept``. O(1) amortised per parent."""
        self._retired.append(parent)
        while len(self._retired) > self._kept:
            self._forget(self._retired.popleft())

    def _forget(self, parent: ParentOrder) -> None:
        """Drop every key of a retired parent and of its children: reports for them are
        unknown from now on, and its ClOrdIDs may be used again."""
        for cl_ord_id in parent.cl_ord_ids:
            self._parents.pop((parent.session, cl_ord_id), None)
        self._orders.pop(parent.order_id, None)
        for child in parent.children.values():
            self._children.pop(child.cl_ord_id, None)
            for cancel_id in child.cancel_ids:
                self._children.pop(cancel_id, None)
        # A parent and its children refer to each other: broken, the cycle is freed now
        # by reference counting, not by the next full (slow) garbage collection.
        parent.children.clear()

    @staticmethod
    def _as_order(parent: ParentOrder) -> NewOrder:
        return NewOrder(parent.cl_ord_id, parent.symbol, parent.side, parent.qty,
                        parent.ord_type, parent.price, parent.tif)

    def _report(
        self,
        parent: ParentOrder,
        exec_type: ExecType,
        *,
        cl_ord_id: str | None = None,
        orig_cl_ord_id: str | None = None,
        last_qty: int = 0,
        last_px: Decimal | None = None,
        last_mkt: str | None = None,
        reason: OrdRejReason | None = None,
        text: str | None = None,
        status_req_id: str | None = None,
    ) -> ToOms:
        return ToOms(parent.session, ExecutionReport(
            order_id=parent.order_id,
            cl_ord_id=cl_ord_id or parent.cl_ord_id,
            exec_id=(STATUS_EXEC_ID if exec_type is ExecType.ORDER_STATUS
                     else self._ids.next("E")),
            exec_type=exec_type,
            ord_status=parent.status,
            symbol=parent.symbol,
            side=parent.side,
            order_qty=parent.qty,
            leaves_qty=parent.leaves_qty,
            cum_qty=parent.cum_qty,
            avg_px=parent.avg_px,
            ord_type=parent.ord_type,
            price=parent.price,
            tif=parent.tif,
            orig_cl_ord_id=orig_cl_ord_id,
            last_qty=last_qty,
            last_px=last_px,
            last_mkt=last_mkt,
            ord_rej_reason=reason,
            text=text,
            benchmark_price=parent.arrival_mid,
            ord_status_req_id=status_req_id,
        ))

    def _reject_new(self, session: str, fields: NewOrderFields, rejection: Rejection) -> ToOms:
        return ToOms(session, refusal_report(
            self._ids.next("E"), fields.cl_ord_id, rejection.reason, rejection.text,
            request=fields))

    def _cancel_reject(self, parent: ParentOrder, cl_ord_id: str, orig_cl_ord_id: str,
                       response_to: CxlRejResponseTo, reason: CxlRejReason,
                       text: str) -> ToOms:
        return ToOms(parent.session, CancelReject(
            parent.order_id, cl_ord_id, orig_cl_ord_id, parent.status, response_to, reason, text))
