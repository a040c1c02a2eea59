"""Unit tests for the simulated exchange's price-time priority order book."""

from __future__ import annotations

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from sor_daemon.core.domain import Side, TimeInForce
from sor_sim.book import OrderBook, SubmitResult, Trade

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


# ------------------------------------------------------------ all-or-none (FOK)


def test_fok_fills_completely_across_levels(book: OrderBook) -> None:
    book.submit("a1", "m", SELL, 3, 100, DAY)
    book.submit("a2", "m", SELL, 4, 101, DAY)
    book.submit("a3", "m", SELL, 5, 102, DAY)
    res = book.submit("f", "x", BUY, 7, 101, IOC, all_or_none=True)
    assert fills(res) == [("a1", 100, 3), ("a2", 101, 4)]
    assert res.rested is None and res.canceled_qty == 0 and res.refused is None
    assert res.trades[-1].taker_leaves == 0
    assert book.depth(5) == ([], [(102, 5)])


def test_fok_short_within_limit_trades_nothing(book: OrderBook) -> None:
    book.submit("a1", "m", SELL, 3, 100, DAY)
    book.submit("a2", "m", SELL, 4, 101, DAY)
    book.submit("a3", "m", SELL, 5, 102, DAY)  # beyond the limit: does not count
    before = book.depth(5)
    res = book.submit("f", "x", BUY, 8, 101, IOC, all_or_none=True)
    assert res == SubmitResult((), None, 8)
    assert book.depth(5) == before and len(book) == 3
    assert book.get("f") is None


def test_fok_exactly_available_fills(book: OrderBook) -> None:
    book.submit("b1", "m", BUY, 5, 100, DAY)
    book.submit("b2", "m", BUY, 5, 99, DAY)
    res = book.submit("f", "x", SELL, 10, 99, IOC, all_or_none=True)
    assert fills(res) == [("b1", 100, 5), ("b2", 99, 5)]
    assert len(book) == 0


def test_fok_market_order_all_or_nothing(book: OrderBook) -> None:
    book.submit("a1", "m", SELL, 3, 100, DAY)
    book.submit("a2", "m", SELL, 3, 150, DAY)
    assert book.submit("f1", "x", BUY, 7, None, IOC, all_or_none=True) == SubmitResult(
        (), None, 7
    )
    res = book.submit("f2", "x", BUY, 6, None, IOC, all_or_none=True)
    assert fills(res) == [("a1", 100, 3), ("a2", 150, 3)] and res.canceled_qty == 0
    book.submit("b", "m", BUY, 2, 90, DAY)
    assert book.submit("f3", "x", SELL, 3, None, TimeInForce.FOK) == SubmitResult((), None, 3)
    res = book.submit("f4", "x", SELL, 2, None, TimeInForce.FOK)
    assert fills(res) == [("b", 90, 2)] and len(book) == 0


def test_fok_counts_hidden_liquidity(book: OrderBook) -> None:
    book.submit("h", "m", SELL, 5, 100, DAY, display_qty=0)
    book.submit("a", "m", SELL, 2, 101, DAY)
    res = book.submit("f", "x", BUY, 7, 101, IOC, all_or_none=True)
    assert fills(res) == [("h", 100, 5), ("a", 101, 2)]


def test_all_or_none_never_rests_even_day_or_fok_tif(book: OrderBook) -> None:
    book.submit("a", "m", SELL, 3, 100, DAY)
    res = book.submit("f1", "x", BUY, 5, 100, DAY, all_or_none=True)
    assert res == SubmitResult((), None, 5) and book.get("f1") is None
    res = book.submit("f2", "x", BUY, 5, 100, TimeInForce.FOK)  # the FOK TimeInForce too
    assert res == SubmitResult((), None, 5) and book.get("f2") is None
    res = book.submit("f3", "x", BUY, 3, 100, TimeInForce.FOK)
    assert fills(res) == [("a", 100, 3)] and res.rested is None
    assert len(book) == 0


# ------------------------------------------------------------------ post-only


def test_post_only_refused_when_it_would_cross(book: OrderBook) -> None:
    book.submit("a1", "m", SELL, 5, 101, DAY)
    book.submit("a2", "m", SELL, 5, 102, DAY)
    before = book.depth(5)
    res = book.submit("p", "x", BUY, 5, 102, DAY, post_only=True)
    assert res.trades == () and res.rested is None and res.canceled_qty == 0
    assert res.refused == "post-only order would cross at 101"
    assert book.depth(5) == before and book.get("p") is None
    res = book.submit("p", "x", BUY, 5, 101, DAY, post_only=True)  # touching is crossing
    assert res.refused == "post-only order would cross at 101"
    book.submit("b", "m", BUY, 5, 99, DAY)
    res = book.submit("q", "x", SELL, 1, 90, DAY, post_only=True)
    assert res.refused == "post-only order would cross at 99" and res.trades == ()


def test_post_only_rests_when_it_does_not_cross(book: OrderBook) -> None:
    book.submit("a", "m", SELL, 5, 101, DAY)
    res = book.submit("p", "x", BUY, 5, 100, DAY, post_only=True)
    assert res.refused is None and res.trades == ()
    assert res.rested is not None and res.rested.leaves == 5
    assert book.best_bid() == (100, 5)
    res = book.submit("q", "x", SELL, 2, 102, DAY, post_only=True)
    assert res.refused is None and book.depth(5) == ([(100, 5)], [(101, 5), (102, 2)])
    # Into an empty opposite side it always rests.
    empty = OrderBook("E")
    assert empty.submit("p", "x", SELL, 1, 1, DAY, post_only=True).rested is not None


def test_post_only_refused_against_hidden_liquidity(book: OrderBook) -> None:
    book.submit("h", "m", SELL, 5, 100, DAY, display_qty=0)
    assert book.best_ask() is None
    res = book.submit("p", "x", BUY, 5, 100, DAY, post_only=True)
    assert res.refused is not None and res.trades == ()
    assert book.get("h").leaves == 5  # type: ignore[union-attr]


def test_post_only_ioc_is_allowed_but_never_trades(book: OrderBook) -> None:
    book.submit("a", "m", SELL, 5, 101, DAY)
    assert book.submit("p", "x", BUY, 5, 100, IOC, post_only=True) == SubmitResult((), None, 5)
    assert book.submit("q", "x", BUY, 5, 101, IOC, post_only=True).refused is not None
    assert len(book) == 1


def test_post_only_market_order_raises(book: OrderBook) -> None:
    with pytest.raises(ValueError, match="post-only"):
        book.submit("p", "x", BUY, 5, None, IOC, post_only=True)


def test_post_only_and_all_or_none_cannot_fill(book: OrderBook) -> None:
    book.submit("a", "m", SELL, 5, 101, DAY)
    res = book.submit("p", "x", BUY, 5, 101, IOC, post_only=True, all_or_none=True)
    assert res.refused is not None and res.trades == ()
    res = book.submit("q", "x", BUY, 5, 100, IOC, post_only=True, all_or_none=True)
    assert res == SubmitResult((), None, 5)


# ------------------------------------------------------------- iceberg, hidden


def test_iceberg_shows_only_its_display(book: OrderBook) -> None:
    res = book.submit("ice", "m", SELL, 1000, 101, DAY, display_qty=100)
    assert res.rested is not None
    assert (res.rested.leaves, res.rested.shown, res.rested.hidden) == (1000, 100, 900)
    book.submit("a", "m", SELL, 30, 101, DAY)
    book.submit("b", "m", BUY, 20, 99, DAY, display_qty=5)
    assert book.best_ask() == (101, 130)
    assert book.best_bid() == (99, 5)
    assert book.depth(5) == ([(99, 5)], [(101, 130)])
    assert len(book) == 3


def test_iceberg_display_at_or_above_qty_is_fully_shown(book: OrderBook) -> None:
    book.submit("i", "m", BUY, 50, 99, DAY, display_qty=80)
    assert book.best_bid() == (99, 50)
    book.submit("t", "x", SELL, 20, 99, IOC)
    assert book.best_bid() == (99, 30)


def test_iceberg_refresh_loses_time_priority(book: OrderBook) -> None:
    book.submit("ice", "m", SELL, 300, 100, DAY, display_qty=100)
    book.submit("a2", "m", SELL, 50, 100, DAY)
    book.submit("a3", "m", SELL, 50, 100, DAY)
    seq0 = book.get("ice").seq  # type: ignore[union-attr]
    res = book.submit("t1", "x", BUY, 120, 100, IOC)
    # The first slice goes; the next one is shown behind a2 and a3.
    assert fills(res) == [("ice", 100, 100), ("a2", 100, 20)]
    assert [t.maker_leaves for t in res.trades] == [200, 30]
    ice = book.get("ice")
    assert ice is not None and (ice.leaves, ice.shown) == (200, 100)
    assert ice.seq > seq0 and ice.seq > book.get("a3").seq  # type: ignore[union-attr]
    assert book.best_ask() == (100, 180)
    res = book.submit("t2", "x", BUY, 100, 100, IOC)
    assert fills(res) == [("a2", 100, 30), ("a3", 100, 50), ("ice", 100, 20)]
    assert book.best_ask() == (100, 80)
    assert book.get("ice").hidden == 100  # type: ignore[union-attr]


def test_iceberg_refreshes_within_one_taker(book: OrderBook) -> None:
    book.submit("ice", "m", SELL, 300, 100, DAY, display_qty=100)
    book.submit("a", "m", SELL, 10, 101, DAY)
    res = book.submit("t", "x", BUY, 305, 101, IOC)
    assert fills(res) == [("ice", 100, 100), ("ice", 100, 100), ("ice", 100, 100), ("a", 101, 5)]
    assert [t.maker_leaves for t in res.trades] == [200, 100, 0, 5]
    assert book.get("ice") is None and book.depth(5) == ([], [(101, 5)])


def test_iceberg_last_slice_smaller_than_display(book: OrderBook) -> None:
    book.submit("ice", "m", BUY, 250, 100, DAY, display_qty=100)
    book.submit("t", "x", SELL, 200, 100, IOC)
    ice = book.get("ice")
    assert ice is not None and (ice.leaves, ice.shown) == (50, 50)
    assert book.best_bid() == (100, 50)


def test_hidden_behind_displayed_at_same_price(book: OrderBook) -> None:
    book.submit("h", "m", SELL, 50, 100, DAY, display_qty=0)  # earlier in time
    book.submit("d", "m", SELL, 30, 100, DAY)
    assert book.best_ask() == (100, 30)
    res = book.submit("t", "x", BUY, 60, 100, IOC)
    assert fills(res) == [("d", 100, 30), ("h", 100, 30)]
    assert book.best_ask() is None and book.get("h").leaves == 20  # type: ignore[union-attr]


def test_hidden_behind_iceberg_reserve_at_same_price(book: OrderBook) -> None:
    book.submit("h", "m", SELL, 20, 100, DAY, display_qty=0)
    book.submit("ice", "m", SELL, 30, 100, DAY, display_qty=10)
    res = book.submit("t", "x", BUY, 40, 100, IOC)
    assert fills(res) == [("ice", 100, 10)] * 3 + [("h", 100, 10)]


def test_better_priced_hidden_trades_before_displayed(book: OrderBook) -> None:
    book.submit("d", "m", SELL, 10, 101, DAY)
    book.submit("h", "m", SELL, 10, 100, DAY, display_qty=0)
    assert book.best_ask() == (101, 10)
    res = book.submit("t", "x", BUY, 15, 101, DAY)
    assert fills(res) == [("h", 100, 10), ("d", 101, 5)]
    assert book.depth(5) == ([], [(101, 5)])


def test_fully_hidden_order_never_shown(book: OrderBook) -> None:
    res = book.submit("h", "m", BUY, 100, 99, DAY, display_qty=0)
    assert res.rested is not None and res.rested.shown == 0 and res.rested.hidden == 100
    assert book.best_bid() is None and book.depth(5) == ([], [])
    assert len(book) == 1
    book.submit("b1", "m", BUY, 5, 100, DAY)
    book.submit("b2", "m", BUY, 7, 98, DAY)
    book.submit("h2", "m", BUY, 9, 98, DAY, display_qty=0)
    assert book.depth(5) == ([(100, 5), (98, 7)], [])  # the hidden-only level 99 is skipped
    assert book.depth(1) == ([(100, 5)], [])
    book.submit("t", "x", SELL, 30, 99, IOC)  # partially fills the hidden order
    assert book.get("h").leaves == 75  # type: ignore[union-attr]
    assert book.best_bid() == (98, 7)
    book.cancel("b2")
    assert book.depth(5) == ([], [])
    assert book.best_bid() is None


def test_hidden_taker_rests_hidden(book: OrderBook) -> None:
    book.submit("a", "m", SELL, 5, 100, DAY)
    res = book.submit("h", "x", BUY, 8, 100, DAY, display_qty=0)
    assert fills(res) == [("a", 100, 5)]
    assert res.rested is not None and res.rested.leaves == 3
    assert book.best_bid() is None and book.best_ask() is None


def test_cancel_iceberg_and_hidden_remove_all_their_size(book: OrderBook) -> None:
    book.submit("ice", "m", SELL, 500, 100, DAY, display_qty=50)
    book.submit("h", "m", SELL, 40, 100, DAY, display_qty=0)
    book.submit("a", "m", SELL, 10, 100, DAY)
    assert book.best_ask() == (100, 60)
    gone = book.cancel("ice")
    assert gone is not None and gone.leaves == 500
    assert book.best_ask() == (100, 10)
    book.cancel("a")
    assert book.best_ask() is None and len(book) == 1
    res = book.submit("t", "x", BUY, 100, 100, IOC)
    assert fills(res) == [("h", 100, 40)] and res.canceled_qty == 60


def test_many_hidden_cancels_at_one_level_stay_exact(book: OrderBook) -> None:
    book.submit("keep", "m", SELL, 1, 100, DAY, display_qty=0)
    for i in range(200):
        book.submit(f"c{i}", "m", SELL, 3, 100, DAY, display_qty=0)
        book.cancel(f"c{i}")
    book.submit("last", "m", SELL, 2, 100, DAY, display_qty=0)
    assert book.best_ask() is None and len(book) == 2
    res = book.submit("t", "x", BUY, 10, 100, IOC)
    assert fills(res) == [("keep", 100, 1), ("last", 100, 2)]


def test_negative_display_qty_raises(book: OrderBook) -> None:
    with pytest.raises(ValueError, match="display"):
        book.submit("o", "x", BUY, 5, 100, DAY, display_qty=-1)
    assert len(book) == 0


def test_replace_keeps_display_qty(book: OrderBook) -> None:
    book.submit("ice", "m", SELL, 500, 101, DAY, display_qty=100)
    book.submit("a", "m", SELL, 10, 100, DAY)
    res = book.replace("ice", 500, 100)  # re-priced: loses priority, still an iceberg
    assert res is not None and res.rested is not None
    assert (res.rested.display_qty, res.rested.shown, res.rested.leaves) == (100, 100, 500)
    assert book.depth(5) == ([], [(100, 110)])
    res = book.submit("t", "x", BUY, 20, 100, IOC)
    assert fills(res) == [("a", 100, 10), ("ice", 100, 10)]
    res = book.replace("ice", 60, 100)  # quantity down in place: slice capped by leaves
    assert res is not None
    ice = book.get("ice")
    assert ice is not None and (ice.qty, ice.leaves, ice.shown) == (60, 50, 50)
    assert book.best_ask() == (100, 50)
    book.submit("h", "m", BUY, 10, 90, DAY, display_qty=0)
    res = book.replace("h", 20, 91)
    assert res is not None and res.rested is not None and res.rested.display_qty == 0
    assert book.best_bid() is None and book.get("h").leaves == 20  # type: ignore[union-attr]


def test_replace_in_place_keeps_iceberg_slice_when_it_fits(book: OrderBook) -> None:
    book.submit("ice", "m", BUY, 500, 99, DAY, display_qty=100)
    seq = book.get("ice").seq  # type: ignore[union-attr]
    book.replace("ice", 300, 99)
    ice = book.get("ice")
    assert ice is not None and (ice.leaves, ice.shown, ice.seq) == (300, 100, seq)
    assert book.best_bid() == (99, 100)


def test_replace_post_only_refused_when_crossing(book: OrderBook) -> None:
    book.submit("a", "m", SELL, 5, 101, DAY)
    book.submit("b", "x", BUY, 5, 99, DAY)
    res = book.replace("b", 5, 101, post_only=True)
    assert res is not None and res.refused == "post-only order would cross at 101"
    assert res.trades == () and res.rested is book.get("b")
    assert book.depth(5) == ([(99, 5)], [(101, 5)])
    res = book.replace("b", 6, 100, post_only=True)
    assert res is not None and res.refused is None and book.best_bid() == (100, 6)
    res = book.replace("b", 6, 101)  # without post_only it trades as before
    assert res is not None and fills(res) == [("a", 101, 5)]


# --------------------------------------------------------------- property test


class _RefBook:
    """Naive reference: a flat list, scanned for the single best maker on every fill.

    Priority is price, then displayed before hidden, then time (``seq``). An iceberg whose
    displayed slice is used up shows the next one with a new ``seq``.
    """

    def __init__(self) -> None:
        self.resting: list[dict] = []
        self.seq = 0

    @staticmethod
    def _crosses(side: Side, limit: int | None, p: int) -> bool:
        if limit is None:
            return True
        return p <= limit if side is BUY else p >= limit

    def makers(self, side: Side, limit: int | None) -> list[dict]:
        return [
            r
            for r in self.resting
            if r["side"] is not side and self._crosses(side, limit, r["price"])
        ]

    def _match(
        self, oid: str, side: Side, leaves: int, price: int | None
    ) -> tuple[list[tuple[str, str, int, int]], int]:
        sign = 1 if side is BUY else -1
        out = []
        while leaves:
            makers = self.makers(side, price)
            if not makers:
                break
            r = min(makers, key=lambda r: (sign * r["price"], r["display"] == 0, r["seq"]))
            hidden = r["display"] == 0
            fill = min(leaves, r["leaves"] if hidden else r["shown"])
            leaves -= fill
            r["leaves"] -= fill
            if not hidden:
                r["shown"] -= fill
            if not r["leaves"]:
                self.resting.remove(r)
            elif not hidden and not r["shown"]:  # iceberg refresh: new slice, new time
                r["shown"] = min(r["display"], r["leaves"])
                r["seq"] = self.seq
                self.seq += 1
            out.append((oid, r["id"], r["price"], fill))
        return out, leaves

    def _rest(
        self, oid: str, side: Side, price: int, leaves: int, qty: int, display: int | None
    ) -> None:
        shown = leaves if display is None else min(display, leaves)
        self.resting.append(
            {"seq": self.seq, "id": oid, "side": side, "price": price, "leaves": leaves,
             "qty": qty, "display": display, "shown": shown}
        )
        self.seq += 1

    def submit(
        self,
        oid: str,
        side: Side,
        qty: int,
        price: int | None,
        tif: TimeInForce,
        aon: bool,
        post_only: bool,
        display: int | None,
    ) -> tuple[list[tuple[str, str, int, int]], bool]:
        """(trades, refused)"""
        makers = self.makers(side, price)
        if post_only and makers:
            return [], True
        if aon and sum(r["leaves"] for r in makers) < qty:
            return [], False
        out, leaves = self._match(oid, side, qty, price)
        if leaves and price is not None and tif is DAY and not aon:
            self._rest(oid, side, price, leaves, qty, display)
        return out, False

    def cancel(self, oid: str) -> None:
        self.resting = [r for r in self.resting if r["id"] != oid]

    def replace(
        self, oid: str, qty: int, price: int, post_only: bool
    ) -> tuple[list[tuple[str, str, int, int]], bool]:
        r = next(r for r in self.resting if r["id"] == oid)
        cum = r["qty"] - r["leaves"]
        if price == r["price"] and qty <= r["qty"]:
            r["leaves"], r["qty"] = qty - cum, qty
            r["shown"] = min(r["shown"], r["leaves"])
            return [], False
        if post_only and self.makers(r["side"], price):
            return [], True
        self.cancel(oid)
        out, leaves = self._match(oid, r["side"], qty - cum, price)
        if leaves:
            self._rest(oid, r["side"], price, leaves, qty, r["display"])
        return out, False


_prices = st.integers(95, 105)
_display = st.one_of(st.none(), st.none(), st.just(0), st.integers(1, 8))
_submit = st.tuples(
    st.just("submit"),
    st.sampled_from([BUY, SELL]),
    st.integers(1, 20),
    st.one_of(st.none(), _prices),
    st.sampled_from([DAY, DAY, IOC, TimeInForce.FOK]),
    st.sampled_from([False, False, False, True]),  # all_or_none
    st.sampled_from([False, False, False, True]),  # post_only
    _display,
)
# Cancels and replaces name the k-th most recent order id (often one still resting).
_cancel = st.tuples(st.just("cancel"), st.integers(0, 30))
_replace = st.tuples(
    st.just("replace"), st.integers(0, 30), st.integers(1, 25), _prices, st.booleans()
)


def _check_book(book: OrderBook, ref: _RefBook) -> None:
    """Market data, resting orders and priority agree with the reference; never crossed."""
    assert_uncrossed(book)
    bids, asks = book.depth(1000)
    assert [p for p, _ in bids] == sorted({p for p, _ in bids}, reverse=True)
    assert [p for p, _ in asks] == sorted({p for p, _ in asks})
    assert all(size > 0 for _, size in bids + asks)
    assert book.best_bid() == (bids[0] if bids else None)
    assert book.best_ask() == (asks[0] if asks else None)
    # Only displayed quantity appears, at exactly the displayed sizes.
    for side, levels in ((BUY, bids), (SELL, asks)):
        shown: dict[int, int] = {}
        for r in ref.resting:
            if r["side"] is side and r["shown"]:
                shown[r["price"]] = shown.get(r["price"], 0) + r["shown"]
        assert dict(levels) == shown
    assert len(book) == len(ref.resting)
    orders = {}
    for r in ref.resting:
        order = book.get(r["id"])
        assert order is not None
        assert (order.side, order.price, order.leaves, order.qty) == (
            r["side"], r["price"], r["leaves"], r["qty"]
        )
        assert (order.display_qty, order.shown) == (r["display"], r["shown"])
        assert 0 <= order.shown <= order.leaves
        if order.display_qty is not None:
            assert order.shown <= order.display_qty
        orders[r["id"]] = order
    # Never crossed, counting hidden orders and iceberg reserves too.
    buys = [o.price for o in orders.values() if o.side is BUY]
    sells = [o.price for o in orders.values() if o.side is SELL]
    if buys and sells:
        assert max(buys) < min(sells)
    # Time priority among displayed orders at one price is the reference's.
    displayed = [r for r in ref.resting if r["display"] != 0]
    for a in displayed:
        for b in displayed:
            if (a["side"], a["price"]) == (b["side"], b["price"]) and a["seq"] < b["seq"]:
                assert orders[a["id"]].seq < orders[b["id"]].seq


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_submit, _submit, _cancel, _replace), min_size=20, max_size=150))
def test_random_operations_keep_invariants(ops: list[tuple]) -> None:
    """Random submits (limit, market, IOC, FOK, post-only, iceberg, hidden), cancels and
    replaces, checked against a naive reference book."""
    book = OrderBook("XYZ")
    ref = _RefBook()
    limits: dict[str, tuple[Side, int | None]] = {}  # current limit of each order id
    submitted = traded = canceled = 0
    for n, op in enumerate(ops):
        trades: tuple[Trade, ...] = ()
        before = {r["id"]: (r["display"], r["seq"]) for r in ref.resting}
        seqs = {oid: book.get(oid).seq for oid in before}  # type: ignore[union-attr]
        if op[0] == "submit":
            _, side, qty, price, tif, aon, post_only, display = op
            if price is None and tif is DAY:
                tif = IOC
            oid = f"o{n}"
            if price is None and post_only:
                with pytest.raises(ValueError, match="post-only"):
                    book.submit(oid, "u", side, qty, price, tif, post_only=True)
                continue
            res = book.submit(
                oid, f"u{n % 3}", side, qty, price, tif,
                all_or_none=aon, post_only=post_only, display_qty=display,
            )
            expected, refused = ref.submit(
                oid, side, qty, price, tif, aon or tif is TimeInForce.FOK, post_only, display
            )
            assert (res.refused is not None) == refused
            if refused:
                best = (min if side is BUY else max)(r["price"] for r in ref.makers(side, price))
                assert res.refused == f"post-only order would cross at {best}"
                event("post-only refused")
                assert res.trades == () and res.rested is None and res.canceled_qty == 0
            else:
                submitted += qty
                canceled += res.canceled_qty
                remainder = res.rested.leaves if res.rested is not None else res.canceled_qty
                assert sum(t.qty for t in res.trades) + remainder == qty
                if aon or tif is TimeInForce.FOK:  # all or nothing, never rests
                    assert res.rested is None
                    assert res.canceled_qty in (0, qty)
                    assert (res.canceled_qty == qty) == (not res.trades)
                    event("FOK filled" if res.trades else "FOK killed")
                if post_only:
                    assert res.trades == ()
                if res.rested is not None:
                    assert res.rested.display_qty == display
            trades = res.trades
        elif op[0] == "cancel":
            oid = f"o{max(n - 1 - op[1], 0)}"
            gone = book.cancel(oid)
            assert (gone is None) == (oid not in {r["id"] for r in ref.resting})
            ref.cancel(oid)
            if gone is not None:
                canceled += gone.leaves
            expected = []
        else:
            _, back, qty, price, post_only = op
            oid = f"o{max(n - 1 - back, 0)}"
            order = book.get(oid)
            if order is None:
                assert book.replace(oid, qty, price, post_only=post_only) is None
                continue
            if qty <= order.cum:
                with pytest.raises(ValueError, match="filled"):
                    book.replace(oid, qty, price, post_only=post_only)
                continue
            old_leaves, old_cum, side = order.leaves, order.cum, order.side
            display = order.display_qty
            res = book.replace(oid, qty, price, post_only=post_only)
            expected, refused = ref.replace(oid, qty, price, post_only)
            assert res is not None and (res.refused is not None) == refused
            if refused:
                assert res.trades == () and res.rested is order and order.leaves == old_leaves
                event("replace refused (post-only)")
                price = order.price
            else:
                submitted += (qty - old_cum) - old_leaves  # quantity added (or removed)
                if res.rested is not None:
                    assert res.rested.display_qty == display
            trades = res.trades
        if op[0] != "cancel":
            limits[oid] = (side, price)
        assert [(t.taker_id, t.maker_id, t.price, t.qty) for t in trades] == expected
        for i, t in enumerate(trades):
            traded += 2 * t.qty  # both the taker's and the maker's quantity
            display = before[t.maker_id][0]
            if display is not None:
                event("fill against hidden" if display == 0 else "fill against iceberg")
            assert t.taker_side is side
            maker_side, maker_price = limits[t.maker_id]
            assert maker_side is side.opposite
            assert t.price == maker_price  # at the maker's limit ...
            if price is not None:  # ... and within the taker's
                assert t.price <= price if side is BUY else t.price >= price
            if i:  # price priority: never a better price after a worse one
                prev = trades[i - 1].price
                assert prev <= t.price if side is BUY else prev >= t.price
        if len({t.maker_id for t in trades}) < len(trades):
            event("iceberg refreshed and hit again by one taker")
        if any(r["display"] and before.get(r["id"], (0, r["seq"]))[1] != r["seq"]
               for r in ref.resting):
            event("iceberg refreshed")
        _check_book(book, ref)
        for r in ref.resting:  # time priority renewed exactly when the reference renews it
            if r["id"] in before:
                renewed = book.get(r["id"]).seq != seqs[r["id"]]  # type: ignore[union-attr]
                assert renewed == (r["seq"] != before[r["id"]][1])
        resting = sum(book.get(r["id"]).leaves for r in ref.resting)  # type: ignore[union-attr]
        assert resting + traded + canceled == submitted
