"""Unit tests for the simulated exchange's price-time priority order book."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.sim.book import OrderBook, SubmitResult, Trade
from sor_daemon.domain import Side, TimeInForce

BUY, SELL = Side.BUY, Side.SELL
DAY, IOC = TimeInForce.DAY, TimeInForce.IOC


def assert_uncrossed(book: OrderBook) -> None:
    bid, ask = book.best_bid(), book.best_ask()
    if bid is not None and ask is not None:
        assert bid[0] < ask[0]


def fills(result: SubmitResult) -> list[tuple[str, int, int]]:
    return [(t.maker_id, t.price, t.qty) for t in result.trades]


def taker_filled(result: SubmitResult) -> int:
    return sum(t.qty for t in result.trades)


@pytest.fixture
def book() -> OrderBook:
    return OrderBook("XYZ")


def test_empty_book(book: OrderBook) -> None:
    assert book.best_bid() is None
    assert book.best_ask() is None
    assert book.depth(5) == ([], [])
    assert len(book) == 0
    assert book.get("nope") is None


def test_price_priority_across_levels(book: OrderBook) -> None:
    book.submit("a1", "m", SELL, 10, 102, DAY)
    book.submit("a2", "m", SELL, 10, 100, DAY)
    book.submit("a3", "m", SELL, 10, 101, DAY)
    res = book.submit("t", "x", BUY, 25, 102, DAY)
    assert fills(res) == [("a2", 100, 10), ("a3", 101, 10), ("a1", 102, 5)]
    assert res.rested is None and res.canceled_qty == 0
    assert book.best_ask() == (102, 5)
    assert book.best_bid() is None


def test_sell_taker_hits_highest_bid_first(book: OrderBook) -> None:
    book.submit("b1", "m", BUY, 5, 98, DAY)
    book.submit("b2", "m", BUY, 5, 99, DAY)
    res = book.submit("t", "x", SELL, 7, 90, IOC)
    assert fills(res) == [("b2", 99, 5), ("b1", 98, 2)]
    assert all(t.taker_side is SELL for t in res.trades)
    assert book.best_bid() == (98, 3)


def test_time_priority_within_level(book: OrderBook) -> None:
    for oid in ("a1", "a2", "a3"):
        book.submit(oid, "m", SELL, 4, 100, DAY)
    res = book.submit("t", "x", BUY, 6, 100, IOC)
    assert fills(res) == [("a1", 100, 4), ("a2", 100, 2)]
    a2 = book.get("a2")
    assert a2 is not None and a2.leaves == 2 and a2.cum == 2
    assert book.get("a1") is None
    assert book.best_ask() == (100, 6)
    assert book.get("a3").seq > a2.seq  # type: ignore[union-attr]


def test_trades_at_maker_price(book: OrderBook) -> None:
    book.submit("a", "m", SELL, 5, 100, DAY)
    res = book.submit("t", "x", BUY, 5, 105, DAY)
    assert [t.price for t in res.trades] == [100]


def test_limit_not_crossed_does_not_trade(book: OrderBook) -> None:
    book.submit("a", "m", SELL, 5, 101, DAY)
    res = book.submit("b", "x", BUY, 5, 100, DAY)
    assert res.trades == ()
    assert res.rested is not None and res.rested.leaves == 5
    assert book.best_bid() == (100, 5)
    assert book.best_ask() == (101, 5)


def test_partial_fill_of_maker(book: OrderBook) -> None:
    book.submit("a", "mm", SELL, 10, 100, DAY)
    res = book.submit("t", "tk", BUY, 3, 100, DAY)
    assert res.trades == (Trade("t", "a", "tk", "mm", BUY, 100, 3, taker_leaves=0, maker_leaves=7),)
    assert res.rested is None and res.canceled_qty == 0
    maker = book.get("a")
    assert maker is not None and (maker.qty, maker.leaves, maker.cum) == (10, 7, 3)
    assert book.best_ask() == (100, 7)


def test_partial_fill_of_taker_rests_and_becomes_best(book: OrderBook) -> None:
    book.submit("a", "m", SELL, 4, 100, DAY)
    book.submit("b0", "m", BUY, 1, 95, DAY)
    res = book.submit("t", "x", BUY, 10, 100, DAY)
    assert [(t.qty, t.taker_leaves, t.maker_leaves) for t in res.trades] == [(4, 6, 0)]
    assert res.rested is not None
    assert (res.rested.qty, res.rested.leaves, res.rested.cum) == (10, 6, 4)
    assert res.canceled_qty == 0
    assert book.best_bid() == (100, 6)
    assert book.best_ask() is None
    assert book.get("t") is res.rested
    assert len(book) == 2


def test_ioc_remainder_canceled(book: OrderBook) -> None:
    book.submit("a", "m", SELL, 4, 100, DAY)
    book.submit("a2", "m", SELL, 4, 101, DAY)
    res = book.submit("t", "x", BUY, 10, 100, IOC)
    assert fills(res) == [("a", 100, 4)]
    assert res.rested is None
    assert res.canceled_qty == 6
    assert book.get("t") is None
    assert book.best_bid() is None
    assert book.best_ask() == (101, 4)


def test_ioc_without_cross_cancels_all(book: OrderBook) -> None:
    res = book.submit("t", "x", SELL, 10, 100, IOC)
    assert res == SubmitResult((), None, 10)
    assert len(book) == 0


def test_market_sweeps_levels_and_cancels_remainder(book: OrderBook) -> None:
    book.submit("a1", "m", SELL, 3, 100, DAY)
    book.submit("a2", "m", SELL, 3, 105, DAY)
    book.submit("a3", "m", SELL, 3, 150, DAY)
    res = book.submit("t", "x", BUY, 20, None, IOC)
    assert fills(res) == [("a1", 100, 3), ("a2", 105, 3), ("a3", 150, 3)]
    assert [t.taker_leaves for t in res.trades] == [17, 14, 11]
    assert res.rested is None and res.canceled_qty == 11
    assert book.best_ask() is None and len(book) == 0
    assert taker_filled(res) == 20 - res.canceled_qty


def test_market_sell_into_empty_book(book: OrderBook) -> None:
    res = book.submit("t", "x", SELL, 5, None, IOC)
    assert res == SubmitResult((), None, 5)


@pytest.mark.parametrize(
    ("qty", "price", "tif"),
    [(0, 100, DAY), (-1, 100, IOC), (5, None, DAY)],
)
def test_submit_rejects_invalid(
    book: OrderBook, qty: int, price: int | None, tif: TimeInForce
) -> None:
    with pytest.raises(ValueError):
        book.submit("o", "x", BUY, qty, price, tif)
    assert len(book) == 0


def test_duplicate_live_id_rejected_but_reusable_after_done(book: OrderBook) -> None:
    book.submit("o", "x", BUY, 5, 100, DAY)
    with pytest.raises(ValueError):
        book.submit("o", "x", SELL, 5, 110, DAY)
    assert book.best_ask() is None
    book.cancel("o")
    res = book.submit("o", "x", BUY, 2, 99, DAY)
    assert res.rested is not None and book.best_bid() == (99, 2)


def test_self_trade_allowed(book: OrderBook) -> None:
    book.submit("a", "same", SELL, 5, 100, DAY)
    res = book.submit("b", "same", BUY, 5, 100, DAY)
    assert fills(res) == [("a", 100, 5)]
    assert len(book) == 0


def test_seq_increases_monotonically(book: OrderBook) -> None:
    seqs = [book.submit(f"o{i}", "x", BUY, 1, 90 + i % 3, DAY).rested.seq for i in range(6)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 6


def test_cancel_removes_size(book: OrderBook) -> None:
    book.submit("b1", "m", BUY, 5, 100, DAY)
    book.submit("b2", "m", BUY, 7, 100, DAY)
    book.submit("b3", "m", BUY, 2, 99, DAY)
    book.submit("t", "x", SELL, 1, 100, IOC)  # b1 partially filled: leaves 4
    gone = book.cancel("b1")
    assert gone is not None and gone.order_id == "b1"
    assert (gone.leaves, gone.cum) == (4, 1)  # leaves = canceled quantity
    assert book.get("b1") is None
    assert book.best_bid() == (100, 7)
    assert len(book) == 2
    assert book.cancel("b2") is not None
    assert book.best_bid() == (99, 2)
    assert book.depth(5) == ([(99, 2)], [])


def test_cancel_unknown_returns_none(book: OrderBook) -> None:
    assert book.cancel("nope") is None
    book.submit("a", "m", SELL, 5, 100, DAY)
    assert book.cancel("a") is not None
    assert book.cancel("a") is None  # already gone
    book.submit("f", "m", SELL, 5, 100, DAY)
    book.submit("t", "x", BUY, 5, 100, IOC)
    assert book.cancel("f") is None  # fully filled


def test_lazily_canceled_orders_are_skipped(book: OrderBook) -> None:
    for i in range(5):
        book.submit(f"a{i}", "m", SELL, 2, 100, DAY)
    book.cancel("a0")
    book.cancel("a2")
    res = book.submit("t", "x", BUY, 5, 100, IOC)
    assert fills(res) == [("a1", 100, 2), ("a3", 100, 2), ("a4", 100, 1)]
    assert book.best_ask() == (100, 1)
    assert len(book) == 1


def test_depth_aggregates_after_lazy_cancels(book: OrderBook) -> None:
    for i, (price, qty) in enumerate([(100, 5), (100, 3), (99, 4), (98, 1), (97, 6)]):
        book.submit(f"b{i}", "m", BUY, qty, price, DAY)
    for i, (price, qty) in enumerate([(101, 2), (101, 8), (102, 3), (104, 9)]):
        book.submit(f"a{i}", "m", SELL, qty, price, DAY)
    book.cancel("b0")  # level 100 shrinks to 3
    book.cancel("b3")  # level 98 disappears
    book.cancel("a2")  # level 102 disappears
    book.cancel("a0")
    bids, asks = book.depth(10)
    assert bids == [(100, 3), (99, 4), (97, 6)]
    assert asks == [(101, 8), (104, 9)]
    assert book.depth(2) == ([(100, 3), (99, 4)], [(101, 8), (104, 9)])
    assert book.depth(1) == ([(100, 3)], [(101, 8)])
    assert book.depth(0) == ([], [])
    assert len(book) == 5
    # A new order at a vanished level re-creates it in the right place.
    book.submit("b9", "m", BUY, 2, 98, DAY)
    assert book.depth(10)[0] == [(100, 3), (99, 4), (98, 2), (97, 6)]


def test_many_cancels_at_one_level_stay_exact(book: OrderBook) -> None:
    book.submit("keep", "m", SELL, 1, 100, DAY)
    for i in range(200):  # enough churn to trigger queue compaction
        book.submit(f"c{i}", "m", SELL, 3, 100, DAY)
        book.cancel(f"c{i}")
    book.submit("last", "m", SELL, 2, 100, DAY)
    assert book.best_ask() == (100, 3)
    assert len(book) == 2
    res = book.submit("t", "x", BUY, 10, 100, IOC)
    assert fills(res) == [("keep", 100, 1), ("last", 100, 2)]
    assert book.best_ask() is None


def test_replace_qty_decrease_keeps_priority(book: OrderBook) -> None:
    book.submit("a1", "m", SELL, 10, 100, DAY)
    book.submit("a2", "m", SELL, 10, 100, DAY)
    book.submit("t0", "x", BUY, 2, 100, IOC)  # a1: cum 2, leaves 8
    before = book.get("a1")
    assert before is not None
    seq = before.seq
    res = book.replace("a1", 6, 100)
    assert res is not None and res.trades == () and res.canceled_qty == 0
    after = book.get("a1")
    assert after is not None and after.seq == seq
    assert (after.qty, after.leaves, after.cum) == (6, 4, 2)
    assert res.rested is after
    assert book.best_ask() == (100, 14)
    res = book.submit("t", "x", BUY, 5, 100, IOC)
    assert fills(res) == [("a1", 100, 4), ("a2", 100, 1)]


def test_replace_price_change_loses_priority(book: OrderBook) -> None:
    book.submit("a1", "m", SELL, 5, 101, DAY)
    book.submit("a2", "m", SELL, 5, 100, DAY)
    old_seq = book.get("a1").seq  # type: ignore[union-attr]
    res = book.replace("a1", 5, 100)
    assert res is not None and res.trades == ()
    moved = book.get("a1")
    assert moved is not None and moved.price == 100 and moved.seq > old_seq
    assert book.depth(5)[1] == [(100, 10)]
    res2 = book.submit("t", "x", BUY, 6, 100, IOC)
    assert fills(res2) == [("a2", 100, 5), ("a1", 100, 1)]


def test_replace_qty_increase_loses_priority(book: OrderBook) -> None:
    book.submit("b1", "m", BUY, 5, 100, DAY)
    book.submit("b2", "m", BUY, 5, 100, DAY)
    res = book.replace("b1", 8, 100)
    assert res is not None and res.rested is not None and res.rested.leaves == 8
    assert book.best_bid() == (100, 13)
    res2 = book.submit("t", "x", SELL, 6, None, IOC)
    assert fills(res2) == [("b2", 100, 5), ("b1", 100, 1)]
    assert len(book) == 1


def test_replace_that_crosses_trades_as_taker(book: OrderBook) -> None:
    book.submit("b", "bb", BUY, 10, 99, DAY)
    book.submit("t0", "x", SELL, 2, 99, IOC)  # b: cum 2, leaves 8
    book.submit("a1", "s1", SELL, 3, 100, DAY)
    book.submit("a2", "s2", SELL, 4, 101, DAY)
    res = book.replace("b", 12, 101)  # leaves become 10
    assert res is not None
    assert res.trades == (
        Trade("b", "a1", "bb", "s1", BUY, 100, 3, taker_leaves=7, maker_leaves=0),
        Trade("b", "a2", "bb", "s2", BUY, 101, 4, taker_leaves=3, maker_leaves=0),
    )
    assert res.rested is not None and res.canceled_qty == 0
    assert (res.rested.price, res.rested.qty, res.rested.leaves, res.rested.cum) == (
        101,
        12,
        3,
        9,
    )
    assert book.best_bid() == (101, 3)
    assert book.best_ask() is None
    assert book.depth(5)[0] == [(101, 3)]  # old 99 level is gone
    assert_uncrossed(book)


def test_replace_fully_filled_by_cross(book: OrderBook) -> None:
    book.submit("a", "m", SELL, 5, 105, DAY)
    book.submit("x", "m", SELL, 5, 100, DAY)
    res = book.replace("a", 5, 100)  # a sell re-priced onto another sell: no cross
    assert res is not None and res.trades == ()
    book.submit("b", "y", BUY, 3, 99, DAY)
    res = book.replace("b", 3, 100)
    assert res is not None and res.rested is None and taker_filled(res) == 3
    assert book.get("b") is None
    assert book.best_ask() == (100, 7)


def test_replace_to_qty_at_or_below_cum_raises(book: OrderBook) -> None:
    book.submit("a", "m", SELL, 10, 100, DAY)
    book.submit("t", "x", BUY, 4, 100, IOC)
    with pytest.raises(ValueError):
        book.replace("a", 4, 100)
    with pytest.raises(ValueError):
        book.replace("a", 3, 101)
    order = book.get("a")
    assert order is not None and order.leaves == 6 and book.best_ask() == (100, 6)


def test_replace_unknown_returns_none(book: OrderBook) -> None:
    assert book.replace("nope", 5, 100) is None


def test_quantity_conservation_on_taker(book: OrderBook) -> None:
    book.submit("a1", "m", SELL, 3, 100, DAY)
    book.submit("a2", "m", SELL, 4, 101, DAY)
    book.submit("a3", "m", SELL, 5, 103, DAY)
    for oid, qty, price, tif in [("t1", 5, 101, IOC), ("t2", 9, 103, DAY)]:
        res = book.submit(oid, "x", BUY, qty, price, tif)
        remainder = res.rested.leaves if res.rested is not None else res.canceled_qty
        assert taker_filled(res) == qty - remainder
        if res.trades:
            assert res.trades[-1].taker_leaves == remainder
        assert_uncrossed(book)


def test_never_crossed_after_operations(book: OrderBook) -> None:
    ops = [
        ("b1", BUY, 5, 100),
        ("a1", SELL, 5, 101),
        ("b2", BUY, 3, 102),
        ("a2", SELL, 10, 99),
        ("b3", BUY, 4, 98),
    ]
    for oid, side, qty, price in ops:
        book.submit(oid, "x", side, qty, price, DAY)
        assert_uncrossed(book)
    book.replace("b3", 4, 105)
    assert_uncrossed(book)
    book.cancel("a2")
    assert_uncrossed(book)


# --------------------------------------------------------------- property test


class _RefBook:
    """Naive reference: a flat list, scanned and sorted on every order."""

    def __init__(self) -> None:
        self.resting: list[list] = []  # [seq, id, owner, side, price, leaves, qty]
        self.seq = 0

    def _match(
        self, oid: str, side: Side, leaves: int, price: int | None
    ) -> tuple[list[tuple[str, str, int, int]], int]:
        def crosses(p: int) -> bool:
            if price is None:
                return True
            return p <= price if side is BUY else p >= price

        makers = [r for r in self.resting if r[3] is not side and crosses(r[4])]
        sign = 1 if side is BUY else -1
        makers.sort(key=lambda r: (sign * r[4], r[0]))
        out = []
        for r in makers:
            if not leaves:
                break
            fill = min(leaves, r[5])
            leaves -= fill
            r[5] -= fill
            out.append((oid, r[1], r[4], fill))
        self.resting = [r for r in self.resting if r[5]]
        return out, leaves

    def _rest(self, oid: str, owner: str, side: Side, price: int, leaves: int, qty: int) -> None:
        self.resting.append([self.seq, oid, owner, side, price, leaves, qty])
        self.seq += 1

    def submit(
        self, oid: str, owner: str, side: Side, qty: int, price: int | None, tif: TimeInForce
    ) -> list[tuple[str, str, int, int]]:
        out, leaves = self._match(oid, side, qty, price)
        if leaves and price is not None and tif is DAY:
            self._rest(oid, owner, side, price, leaves, qty)
        return out

    def cancel(self, oid: str) -> None:
        self.resting = [r for r in self.resting if r[1] != oid]

    def replace(self, oid: str, qty: int, price: int) -> list[tuple[str, str, int, int]]:
        r = next(r for r in self.resting if r[1] == oid)
        cum = r[6] - r[5]
        if price == r[4] and qty <= r[6]:
            r[5], r[6] = qty - cum, qty
            return []
        self.cancel(oid)
        out, leaves = self._match(oid, r[3], qty - cum, price)
        if leaves:
            self._rest(oid, r[2], r[3], price, leaves, qty)
        return out


_prices = st.integers(95, 105)
_submit = st.tuples(
    st.just("submit"),
    st.sampled_from([BUY, SELL]),
    st.integers(1, 20),
    st.one_of(st.none(), _prices),
    st.sampled_from([DAY, IOC]),
)
_cancel = st.tuples(st.just("cancel"), st.integers(0, 200))
_replace = st.tuples(st.just("replace"), st.integers(0, 200), st.integers(1, 25), _prices)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_submit, _submit, _cancel, _replace), max_size=120))
def test_random_operations_keep_invariants(ops: list[tuple]) -> None:
    """Random submits, cancels and replaces, checked against a naive reference book."""
    book = OrderBook("XYZ")
    ref = _RefBook()
    limits: dict[str, tuple[Side, int | None]] = {}  # current limit of each order id
    submitted = traded = canceled = 0
    for n, op in enumerate(ops):
        trades: tuple[Trade, ...] = ()
        if op[0] == "submit":
            _, side, qty, price, tif = op
            if price is None:
                tif = IOC
            oid = f"o{n}"
            res = book.submit(oid, f"u{n % 3}", side, qty, price, tif)
            expected = ref.submit(oid, f"u{n % 3}", side, qty, price, tif)
            submitted += qty
            canceled += res.canceled_qty
            remainder = res.rested.leaves if res.rested is not None else res.canceled_qty
            assert sum(t.qty for t in res.trades) + remainder == qty
            trades = res.trades
        elif op[0] == "cancel":
            oid = f"o{op[1]}"
            gone = book.cancel(oid)
            assert (gone is None) == (oid not in {r[1] for r in ref.resting})
            ref.cancel(oid)
            if gone is not None:
                canceled += gone.leaves
            expected = []
        else:
            _, idx, qty, price = op
            oid = f"o{idx}"
            order = book.get(oid)
            if order is None:
                assert book.replace(oid, qty, price) is None
                continue
            if qty <= order.cum:
                with pytest.raises(ValueError, match="filled"):
                    book.replace(oid, qty, price)
                continue
            old_leaves, side = order.leaves, order.side
            res = book.replace(oid, qty, price)
            expected = ref.replace(oid, qty, price)
            assert res is not None
            submitted += (qty - order.cum) - old_leaves  # quantity added (or removed)
            trades = res.trades
        if op[0] != "cancel":
            limits[oid] = (side, price)
        assert [(t.taker_id, t.maker_id, t.price, t.qty) for t in trades] == expected
        for t in trades:
            traded += 2 * t.qty  # both the taker's and the maker's quantity
            assert t.taker_side is side
            maker_side, maker_price = limits[t.maker_id]
            assert maker_side is side.opposite
            assert t.price == maker_price
            if price is not None:
                assert t.price <= price if side is BUY else t.price >= price
        assert_uncrossed(book)
        bids, asks = book.depth(1000)
        assert [p for p, _ in bids] == sorted({p for p, _ in bids}, reverse=True)
        assert [p for p, _ in asks] == sorted({p for p, _ in asks})
        assert all(size > 0 for _, size in bids + asks)
        assert book.best_bid() == (bids[0] if bids else None)
        assert book.best_ask() == (asks[0] if asks else None)
        resting = sum(size for _, size in bids + asks)
        assert len(book) == len(ref.resting)
        assert resting == sum(r[5] for r in ref.resting)
        for r in ref.resting:
            order = book.get(r[1])
            assert order is not None
            assert (order.price, order.leaves, order.qty) == (r[4], r[5], r[6])
        assert resting + traded + canceled == submitted
