"""Durable FIX sessions: numbering that survives a restart, and what one side missed
coming back through FIX resend. Real quickfix sessions on 127.0.0.1: a "router"
initiator (FileStore in ``tmp_path``) and a "venue" acceptor (in memory, like the sims).

Every test names its own CompIDs: two engines with one SessionID in a process crash.
"""

from __future__ import annotations

import contextlib
import re
from decimal import Decimal
from pathlib import Path

import pytest

from sor_daemon.config import load_market
from sor_daemon.core.domain import ExecType, OrdRejReason, OrdStatus, OrdType, Side, TimeInForce
from sor_daemon.core.messages import ExecutionReport, NewOrder
from sor_daemon.fix import codec
from sor_daemon.fix.codec import FixMessage, Pairs
from sor_daemon.fix.endpoint import FixEndpoint, SeqNums, SessionSpec, SessionStore, wait_until
from sor_sim.runner import build_market
from sor_sim.venue import SIM_STORE, SimVenue
from tests.conftest import DEFAULT_MARKET, default_config, free_port

pytestmark = pytest.mark.integration

VENUE_STORE = SessionStore(persist_messages=True, reset_on_logon=False)
"""A durable acceptor without adoption (what the router's stored numbering must meet)."""


class Recorder:
    """A FixHandler that keeps what it hears."""

    def __init__(self) -> None:
        self.messages: list[FixMessage] = []
        self.logons = 0

    def on_logon(self, session: str) -> None:
        self.logons += 1

    def on_logout(self, session: str) -> None:
        pass

    def on_message(self, session: str, message: FixMessage) -> None:
        self.messages.append(message)

    def texts(self, msg_type: str = "j") -> list[str | None]:
        return [m.get(58) for m in self.messages if m.msg_type == msg_type]

    def poss_dup(self, msg_type: str = "j") -> list[str | None]:
        return [m.get(43) for m in self.messages if m.msg_type == msg_type]


class Wire:
    """Every message a session logs, sent or received, by MsgType (``tap`` with
    ``logon_events``)."""

    def __init__(self) -> None:
        self.types: list[tuple[str, str]] = []

    def __call__(self, direction: str, session: str, raw: str, now_ns: int) -> None:
        self.types.append((direction, codec.field_text(raw, 35)))

    def on_logon_refused(self, session: str, reason: str) -> None:
        self.types.append(("refused", reason))

    def on_unknown_session(self, raw: str) -> None:
        self.types.append(("unknown", raw))


def note(text: str) -> Pairs:
    """A small application message: a BusinessMessageReject (j) carrying ``text``."""
    return codec.encode_business_reject(None, "D", 0, text)


def md_reject(text: str) -> Pairs:
    """A market data message (Y), which durable venues never resend."""
    return codec.encode_market_data_reject("R1", "0", text)


class Link:
    """One venue acceptor and the router initiators that, one after another, dial it."""

    def __init__(self, stack: contextlib.AsyncExitStack, name: str, store: SessionStore,
                 venue_store: SessionStore = VENUE_STORE) -> None:
        self.stack = stack
        self.port = free_port()
        self.venue_id, self.router_id = f"V{name}", f"R{name}"
        self.store = store
        self.venue_store = venue_store
        self.router_session = SessionSpec(self.router_id, self.venue_id, self.port).name
        self.venue_session = SessionSpec(self.venue_id, self.router_id, self.port).name

    async def venue(self, wire: Wire | None = None) -> tuple[FixEndpoint, Recorder]:
        heard = Recorder()
        endpoint = FixEndpoint(
            f"venue-{self.venue_id}", [SessionSpec(self.venue_id, self.router_id, self.port)],
            heard, initiator=False, store=self.venue_store, tap=wire, logon_events=wire)
        await endpoint.start()
        self.stack.push_async_callback(endpoint.stop)
        return endpoint, heard

    async def router(self, rewind: dict[str, int] | None = None,
                     wire: Wire | None = None) -> tuple[FixEndpoint, Recorder]:
        got = Recorder()
        endpoint = FixEndpoint(
            f"router-{self.router_id}",
            [SessionSpec(self.router_id, self.venue_id, self.port, reconnect_seconds=1)],
            got, initiator=True, store=self.store, tap=wire, logon_events=wire)
        await endpoint.start(rewind)
        self.stack.push_async_callback(endpoint.stop)
        assert await endpoint.wait_logged_on(timeout=10), "the router could not log on"
        return endpoint, got


def file_store(tmp_path: Path) -> SessionStore:
    return SessionStore(path=str(tmp_path / "fix-store"), persist_messages=True,
                        reset_on_logon=False, send_next_expected=True)


async def exchange_notes(link: Link, venue: FixEndpoint, heard: Recorder,
                         router: FixEndpoint, got: Recorder, count: int, tag: str) -> None:
    """``count`` notes each way, all delivered."""
    seen_venue, seen_router = len(heard.messages), len(got.messages)
    for i in range(count):
        assert venue.send(link.venue_session, "j", note(f"{tag}-v{i}"))
        assert router.send(link.router_session, "j", note(f"{tag}-r{i}"))
    assert await wait_until(lambda: len(heard.messages) == seen_venue + count
                            and len(got.messages) == seen_router + count, 5)


def mirrored(router: FixEndpoint, venue: FixEndpoint, link: Link) -> bool:
    """Each side expects next what the other sends next: nothing lost, nothing pending."""
    ours, theirs = router.seq_nums(link.router_session), venue.seq_nums(link.venue_session)
    return ours is not None and theirs is not None and ours == SeqNums(theirs.target,
                                                                        theirs.sender)


async def restart_away(link: Link, router: FixEndpoint, venue: FixEndpoint,
                       *away: tuple[str, Pairs]) -> None:
    """Stop the router completely; the venue then sends ``away`` (MsgType, fields)."""
    await router.stop()
    assert await wait_until(lambda: not venue.is_logged_on(link.venue_session), 5)
    for msg_type, pairs in away:
        assert venue.send(link.venue_session, msg_type, pairs), "stored while logged out"


def assert_clean(*endpoints: FixEndpoint) -> None:
    for endpoint in endpoints:
        assert endpoint.errors.count == 0, endpoint.errors.last
        assert not endpoint.session_rejects, endpoint.session_rejects


async def test_a_restarted_router_continues_its_numbering_and_gets_what_it_missed(
        tmp_path: Path):
    async with contextlib.AsyncExitStack() as stack:
        link = Link(stack, "RESTART", file_store(tmp_path))
        venue, heard = await link.venue()
        router, got = await link.router()
        await exchange_notes(link, venue, heard, router, got, 3, "before")
        assert router.last_seq[link.router_session] == 4  # the venue's Logon was 1
        before = router.seq_nums(link.router_session)
        assert before == SeqNums(5, 5)
        await restart_away(link, router, venue, ("j", note("away-1")), ("j", note("away-2")))

        router2, got2 = await link.router()
        assert await wait_until(lambda: len(got2.messages) == 2, 5), got2.texts()
        assert got2.texts() == ["away-1", "away-2"]
        assert got2.poss_dup() == ["Y", "Y"], "resent: PossDupFlag (43)"
        in_milliseconds = re.compile(r"\d{8}-\d\d:\d\d:\d\d\.\d{3}")
        for resent in got2.messages:  # FIX 4.4's UTCTimestamp, as quickfix writes it
            assert in_milliseconds.fullmatch(resent.get(52) or ""), resent.get(52)
            assert in_milliseconds.fullmatch(resent.get(122) or ""), resent.get(122)
        after = router2.seq_nums(link.router_session)
        assert after is not None and after.sender > before.sender, "continued, not reset"
        await exchange_notes(link, venue, heard, router2, got2, 1, "after")
        assert got2.texts() == ["away-1", "away-2", "after-v0"], "each exactly once"
        assert got2.poss_dup() == ["Y", "Y", None]
        assert heard.texts() == ["before-r0", "before-r1", "before-r2", "after-r0"]
        assert mirrored(router2, venue, link)
        assert_clean(venue, router2)


async def test_rewind_has_the_venue_resend_what_was_received_but_not_applied(tmp_path: Path):
    async with contextlib.AsyncExitStack() as stack:
        link = Link(stack, "REWIND", file_store(tmp_path))
        venue, heard = await link.venue()
        router, got = await link.router()
        await exchange_notes(link, venue, heard, router, got, 3, "n")
        applied = router.last_seq[link.router_session] - 2  # say the last two were lost
        await restart_away(link, router, venue)

        router2, got2 = await link.router(rewind={link.router_session: applied + 1})
        assert await wait_until(lambda: len(got2.messages) == 2, 5), got2.texts()
        assert got2.texts() == ["n-v1", "n-v2"] and got2.poss_dup() == ["Y", "Y"]
        assert router2.last_seq[link.router_session] == applied + 2
        await exchange_notes(link, venue, heard, router2, got2, 1, "m")
        assert got2.texts() == ["n-v1", "n-v2", "m-v0"]
        assert heard.texts() == ["n-r0", "n-r1", "n-r2", "m-r0"], "the venue saw no dups"
        assert mirrored(router2, venue, link)
        assert_clean(venue, router2)


async def test_a_rewind_to_or_past_the_store_changes_nothing(tmp_path: Path):
    async with contextlib.AsyncExitStack() as stack:
        link = Link(stack, "NOREWIND", file_store(tmp_path))
        venue, heard = await link.venue()
        router, got = await link.router()
        await exchange_notes(link, venue, heard, router, got, 2, "n")
        expected = router.seq_nums(link.router_session)
        await restart_away(link, router, venue)
        assert expected is not None
        router2, got2 = await link.router(rewind={link.router_session: expected.target + 5})
        await exchange_notes(link, venue, heard, router2, got2, 1, "m")
        assert got2.texts() == ["m-v0"]
        assert_clean(venue, router2)


async def test_market_data_sent_while_away_is_gap_filled_not_resent(tmp_path: Path):
    async with contextlib.AsyncExitStack() as stack:
        link = Link(stack, "GAPFILL", file_store(tmp_path),
                    venue_store=SessionStore(persist_messages=True, reset_on_logon=False,
                                             never_resend=frozenset({"Y"})))
        venue, heard = await link.venue()
        router, got = await link.router()
        await exchange_notes(link, venue, heard, router, got, 1, "n")
        await restart_away(link, router, venue, ("Y", md_reject("stale-1")),
                           ("j", note("away")), ("Y", md_reject("stale-2")))

        router2, got2 = await link.router()
        assert await wait_until(lambda: got2.texts() == ["away"], 5), got2.texts()
        assert venue.send(link.venue_session, "Y", md_reject("live"))
        assert await wait_until(lambda: got2.texts("Y") == ["live"], 5), got2.texts("Y")
        assert got2.poss_dup() == ["Y"] and got2.poss_dup("Y") == [None]
        assert [m.msg_type for m in got2.messages] == ["j", "Y"]
        assert mirrored(router2, venue, link), "the gap fill closed the gaps"
        assert_clean(venue, router2)


async def test_a_fresh_venue_adopts_the_numbering_of_a_router_with_history(tmp_path: Path):
    """A restarted sim has a fresh MemoryStore; the router's FileStore is far along. The
    venue takes the router's numbers: no ResendRequest, no reject, no disconnect."""
    adopting = SessionStore(persist_messages=True, reset_on_logon=False, adopt_when_fresh=True)
    async with contextlib.AsyncExitStack() as stack:
        link = Link(stack, "ADOPT", file_store(tmp_path), venue_store=adopting)
        venue, heard = await link.venue()
        router, got = await link.router()
        await exchange_notes(link, venue, heard, router, got, 24, "n")
        await restart_away(link, router, venue)
        await venue.stop()  # the venue's process ends: its numbering is gone

        wire = Wire()
        venue2, heard2 = await link.venue(wire)
        router_wire = Wire()
        router2, got2 = await link.router(wire=router_wire)
        ours = router2.seq_nums(link.router_session)
        assert ours is not None and ours.sender >= 27 and ours.target >= 27
        await exchange_notes(link, venue2, heard2, router2, got2, 2, "m")
        assert got2.texts() == ["m-v0", "m-v1"] and got2.poss_dup() == [None, None]
        assert heard2.texts() == ["m-r0", "m-r1"]
        assert mirrored(router2, venue2, link)
        admin = {t for _, t in wire.types + router_wire.types}
        assert admin <= {"A", "j"}, wire.types + router_wire.types  # no 2, 3, 4 or 5
        assert router2.is_logged_on(link.router_session) and got2.logons == 1
        assert_clean(venue2, router2)


async def test_a_resetting_client_still_logs_on_to_an_adopting_venue_again_and_again():
    """The OMS client and test clients reset at every logon (141=Y): adoption stays out."""
    async with contextlib.AsyncExitStack() as stack:
        link = Link(stack, "RESET", SessionStore(), venue_store=SIM_STORE)
        venue, heard = await link.venue()
        for round_ in range(2):
            router, got = await link.router()
            await exchange_notes(link, venue, heard, router, got, 2, f"r{round_}")
            assert router.seq_nums(link.router_session) == SeqNums(4, 4), "from 1 again"
            assert mirrored(router, venue, link)
            assert_clean(venue, router)
            await router.stop()
            assert await wait_until(lambda: not venue.is_logged_on(link.venue_session), 5)


# ------------------------------------------------------- cancel on disconnect (sims)


async def sim_venue_and_client(stack: contextlib.AsyncExitStack, client_id: str,
                               cancel_on_disconnect: bool) -> tuple[SimVenue, FixEndpoint,
                                                                    Recorder]:
    config = default_config()
    sim = build_market(config, load_market(DEFAULT_MARKET, config))
    port = free_port()
    venue = SimVenue("XNAS", sim, [SessionSpec("XNAS", client_id, port)],
                     cancel_on_disconnect=cancel_on_disconnect)
    await venue.start()
    stack.push_async_callback(venue.stop)
    got = Recorder()
    client = FixEndpoint(
        client_id, [SessionSpec(client_id, "XNAS", port, reconnect_seconds=1)], got,
        initiator=True, store=SessionStore(reset_on_logon=False, send_next_expected=True))
    await client.start()
    stack.push_async_callback(client.stop)
    assert await client.wait_logged_on(timeout=10)
    return venue, client, got


def reports(got: Recorder) -> list[tuple[ExecutionReport, str | None]]:
    return [(codec.decode_execution_report(m), m.get(43)) for m in got.messages
            if m.msg_type == "8"]


@pytest.mark.parametrize("cancel_on_disconnect", [True, False])
async def test_sim_venue_cancels_resting_orders_on_disconnect_only_when_configured(
        cancel_on_disconnect: bool):
    client_id = f"COD{int(cancel_on_disconnect)}"
    async with contextlib.AsyncExitStack() as stack:
        venue, client, got = await sim_venue_and_client(stack, client_id, cancel_on_disconnect)
        [session] = client.sessions
        order = NewOrder("C1", "AAPL", Side.BUY, 100, OrdType.LIMIT, Decimal("150.00"),
                         TimeInForce.DAY)
        assert client.send(session, "D", codec.encode_new_order(order))
        assert await wait_until(lambda: reports(got), 5)
        assert reports(got)[0][0].ord_status is OrdStatus.NEW

        client.logout_all("dropping")  # the connection drops; the venue notices
        assert await wait_until(lambda: not venue.endpoint.is_logged_on(
            venue.endpoint.sessions[0]), 5)
        client.enable_all()
        assert await client.wait_logged_on(session, 10)
        assert client.send(session, "H", codec.encode_status_request(
            "C1", "AAPL", Side.BUY, "S1"))
        assert client.send(session, "H", codec.encode_status_request(
            "NOPE", "AAPL", Side.BUY, "S2"))
        assert await wait_until(lambda: len(reports(got)) >= 3 + cancel_on_disconnect, 5)
        seen = reports(got)
        if cancel_on_disconnect:
            canceled, dup = seen[1]
            assert (canceled.exec_type, canceled.ord_status, canceled.leaves_qty) == (
                ExecType.CANCELED, OrdStatus.CANCELED, 0)
            assert canceled.text == "cancel on disconnect" and dup == "Y"
        answer, unknown = seen[-2][0], seen[-1][0]
        assert answer.exec_type is ExecType.ORDER_STATUS
        assert answer.ord_status is (OrdStatus.CANCELED if cancel_on_disconnect
                                     else OrdStatus.NEW)
        assert (unknown.exec_type, unknown.ord_status, unknown.ord_rej_reason) == (
            ExecType.ORDER_STATUS, OrdStatus.REJECTED, OrdRejReason.UNKNOWN_ORDER)
        assert answer.exec_id == unknown.exec_id == "0", "FIX 4.4: a status reply's ExecID"
        assert len(seen) == 3 + cancel_on_disconnect, [r.exec_type for r, _ in seen]
        assert_clean(venue.endpoint, client)
