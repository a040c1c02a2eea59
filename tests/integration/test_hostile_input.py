"""Hostile input on the OMS port: random application messages, byte garbage, garbled
frames, unknown MsgTypes and intruders' logons, against the real daemon and its real
quickfix acceptor, from the raw client of `tests.rawfix`.

Hypothesis and asyncio. The stack (simulated venues, daemon, quickfix OMS client) and
the raw client live on the test's event loop and are started once per test. Hypothesis
runs in a worker thread (``asyncio.to_thread``); each example hands one coroutine back to
the loop with ``asyncio.run_coroutine_threadsafe(...).result(timeout)``. So hypothesis's
engine runs unchanged and synchronously, the loop stays free to serve quickfix's
hand-offs while an example waits, and every example is bounded by its own timeout besides
the test's ``pytest.mark.timeout``. Examples do not raise: each records what went wrong
(with the exact frame sent) and the test asserts on the record at the end. Against a live
session, shrinking would replay candidates in a state the first run has changed (a used
ClOrdID, a swallowed sequence number), so it is off; the report lists every failing frame
instead of one shrunk example, and stops sending after a few failures to stay bounded.
Each test prints what its examples got (``-s`` shows it).

Sessions. When the config lists OMS sessions (``oms.sessions``), the tests add a spare
one for the raw client, so the quickfix OMS client and its working order stay logged on
throughout. With a single OMS session (``oms.target_comp_id``), the raw client borrows it:
the OMS client logs out, the raw client logs on with the same CompIDs, and the OMS client
logs on again afterwards; orders belong to the session, so the working order is the
same order either way.

The daemon runs as `sor-daemon run` does: JSON logs through orjson and the audit trail
on. "Never crashes" includes: nothing escapes into the event loop (its exception handler
is watched), no handler error is counted, quickfix callbacks raise nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import re
import string
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
import structlog
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from sor_daemon.config import OmsConfig, SorConfig
from sor_daemon.core.domain import OrdStatus, OrdType, Side, TimeInForce
from sor_daemon.core.orders import ParentOrder
from sor_daemon.service.logs import configure_logging
from sor_daemon.tools.oms_client import OmsOrder
from tests.conftest import default_config_data
from tests.integration.conftest import Stack, assert_untouched, running_stack
from tests.rawfix import (
    SOH,
    InMessage,
    RawFixClient,
    checksum,
    frame,
    oms_comp_ids,
    utc_timestamp,
)

pytestmark = pytest.mark.integration

SPARE_COMP_ID = "FUZZ"
ANSWER_TIMEOUT = 2.0
"""Seconds a well-framed message may wait for its answer."""
MAX_FAILURES = 8
"""After this many failed examples the rest are skipped (each may cost a timeout)."""
FIX_EXAMPLES = 400
GARBAGE_EXAMPLES = 50
GARBLED_EXAMPLES = 40


# ------------------------------------------------------------------- the stack


def hostile_config(tmp_path: Path) -> SorConfig:
    """The shipped config on free ports, with a spare OMS session for the raw client and
    the audit trail on (as shipped; other tests turn it off)."""
    data = default_config_data()
    if "sessions" in OmsConfig.model_fields:
        sessions = data["oms"].get("sessions") or [{"comp_id": "OMS"}]
        data["oms"]["sessions"] = [*sessions, {"comp_id": SPARE_COMP_ID}]
    if "audit" in SorConfig.model_fields:
        data.setdefault("audit", {})["path"] = str(tmp_path / "audit.jsonl")
    return SorConfig.model_validate(data)


@pytest.fixture
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """Every error that escapes into the event loop (a callback that raised) meanwhile."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: errors.append(context))
    yield errors
    loop.set_exception_handler(previous)


@pytest.fixture
async def stack(tmp_path: Path, loop_errors: list[dict[str, Any]]) -> AsyncIterator[Stack]:
    """The stack as `sor-daemon run` runs it: JSON log lines through orjson (to a file
    here) and the audit trail on."""
    saved = structlog.get_config()
    with (tmp_path / "daemon.log").open("wb") as log:
        configure_logging("info", log)
        try:
            async with running_stack(config=hostile_config(tmp_path)) as running:
                yield running
        finally:
            structlog.configure(**saved)


UNAUDITED = ("0", "1")
"""MsgTypes the audit trail leaves out by design on OMS sessions (heartbeats, test
requests); market data an OMS sends is kept, as everything else."""


def described(errors: list[dict[str, Any]]) -> list[str]:
    return [f"{e.get('message')}: {e.get('exception')!r}" for e in errors]


def audited_inbound(stack: Stack) -> list[str]:
    """The inbound OMS messages in the audit trail, as written there (SOH shown as |)."""
    audit = getattr(stack.daemon, "audit", None)
    if audit is None:
        return []
    audit.flush()
    records = [orjson.loads(line) for line in audit.path.read_bytes().splitlines()]
    return [r["fix"] for r in records if r.get("kind") == "fix" and r.get("dir") == "in"
            and str(r.get("cpty", "")).startswith("oms:")]


def raw_client(stack: Stack, comp_id: str | None = None, target: str | None = None
               ) -> RawFixClient:
    """A raw client for the spare OMS session (or the only one), not yet connected."""
    comp_ids, daemon = oms_comp_ids(stack.config)
    return RawFixClient(stack.config.oms.port, comp_id or comp_ids[-1], target or daemon)


@contextlib.asynccontextmanager
async def raw_session(stack: Stack) -> AsyncIterator[RawFixClient]:
    """A raw client logged on as an OMS (see the module docstring for which session)."""
    shared = len(oms_comp_ids(stack.config)[0]) == 1
    if shared:
        await stack.oms.stop()
    raw = raw_client(stack)
    try:
        await raw.connect()
        reply = await raw.logon()
        assert reply.msg_type == "A", f"the raw client's logon was refused: {reply}"
        yield raw
    finally:
        await raw.logout()
        await raw.close()
        if shared:
            assert await stack.oms.start(), "the OMS client could not log on again"


async def relogon(raw: RawFixClient) -> None:
    await raw.close()
    await raw.connect()
    reply = await raw.logon()
    assert reply.msg_type == "A", f"logon refused: {reply}"


# ----------------------------------------------------------- the working order


@dataclass(frozen=True)
class Snapshot:
    status: OrdStatus
    qty: int
    cum_qty: int
    leaves_qty: int
    price: Decimal | None
    children: int


def parent_of(stack: Stack, order: OmsOrder) -> ParentOrder:
    return next(p for p in stack.daemon.engine.open_parents() if p.cl_ord_id == order.current)


def snapshot(stack: Stack, order: OmsOrder) -> Snapshot:
    p = parent_of(stack, order)
    return Snapshot(p.status, p.qty, p.cum_qty, p.leaves_qty, p.price, len(p.children))


async def working_order(stack: Stack) -> tuple[OmsOrder, Snapshot]:
    """A resting buy far below the market (AAPL bids 190.00), which nothing may touch."""
    order = stack.oms.new_order("AAPL", Side.BUY, 100, OrdType.LIMIT, Decimal("189.00"),
                                TimeInForce.DAY)
    assert await stack.oms.wait_for(lambda: order.status is OrdStatus.NEW, 5)
    return order, snapshot(stack, order)


async def assert_intact(stack: Stack, order: OmsOrder, before: Snapshot) -> None:
    """The working order is as it was, in the daemon and as the OMS client hears it."""
    assert snapshot(stack, order) == before
    await assert_untouched(stack, order)


async def assert_trading(stack: Stack) -> None:
    """A normal marketable order is still accepted and filled."""
    order = stack.oms.new_order("AAPL", Side.BUY, 100, OrdType.LIMIT, Decimal("190.05"),
                                TimeInForce.IOC)
    assert await stack.oms.wait_for(lambda: order.is_terminal, 5)
    assert (order.status, order.cum_qty) == (OrdStatus.FILLED, 100), order.text


def anomalies(reason: str) -> float:
    return REGISTRY.get_sample_value("sor_anomalies_total", {"reason": reason}) or 0.0


# ------------------------------------------------------------ hypothesis bridge


@dataclass
class Tally:
    """What the examples of one test did; examples record, the test asserts."""

    name: str
    cases: int = 0
    skipped: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    @property
    def stopped(self) -> bool:
        return len(self.failures) >= MAX_FAILURES

    def fail(self, text: str) -> None:
        self.failures.append(text)

    def summary(self) -> str:
        kinds = ", ".join(f"{n} {kind}" for kind, n in self.kinds.most_common())
        text = f"{self.name}: {self.cases} cases"
        text += f", {kinds}" if kinds else ""
        if self.skipped:
            text += f", {self.skipped} skipped after {MAX_FAILURES} failures"
        return text + f", {len(self.failures)} failed"

    def report(self) -> str:
        return self.summary() + "".join(f"\n  - {f}" for f in self.failures)


async def run_examples(strategy: st.SearchStrategy[Any],
                       case: Callable[[Any], Awaitable[None]], examples: int,
                       timeout: float) -> None:
    """Run ``case`` on this loop for ``examples`` values that hypothesis draws in a
    worker thread; each example is bounded by ``timeout`` seconds."""
    loop = asyncio.get_running_loop()

    @settings(max_examples=examples, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def example(value: Any) -> None:
        future = asyncio.run_coroutine_threadsafe(case(value), loop)
        try:
            future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    await asyncio.to_thread(example)


# ------------------------------------------------- hostile application messages


class Slot(enum.Enum):
    """A value filled in when the message is sent."""

    FRESH = "a new ClOrdID"
    LAST = "the previous ClOrdID"
    NOW = "the current UTC time"


RawValue = str | bytes | Slot
Body = list[tuple[int, RawValue]]

HEADER_TRAILER_AND_DATA = {
    8, 9, 10, 34, 35, 43, 49, 50, 52, 56, 57, 89, 90, 91, 93, 95, 96, 97, 115, 116, 122, 128,
    129, 142, 143, 144, 145, 212, 213, 347, 348, 349, 350, 351, 352, 353, 354, 355, 356, 357,
    358, 359, 360, 361, 362, 363, 364, 365, 369, 383, 445, 446, 618, 619, 621, 622,
}
"""Not drawn into bodies: header and trailer tags (the header stays valid) and
length-prefixed data fields (they would change the framing)."""
ORDER_TAGS = [11, 21, 38, 40, 44, 54, 55, 59, 60, 41, 37, 100, 847, 110, 18, 111, 1, 790,
              58, 453, 386, 78]
SPECIAL_VALUES = [
    "", " ", "0", "-0", "-1", "1", "2", "3", "4", "6", "100", "100.00", "10.5", "1e3",
    "1E+400", "NaN", "Infinity", "-inf", "0x10", "1_000", "\uff11\uff10\uff10", "\u0663",
    "100.", ".5", "-190", "190.001", "99999999999999999999999999", "2147483648", "MSFT",
    "SPY", "ZZZZ", "msft", "XNAS", "DARKA", "BRKA", "1000", "1001", "1002", "Y", "N", "?",
    "\u03a9", "\u00e9" * 40, "x" * 3000, "20240101-00:00:00", "99999999-99:99:99", "\x00",
    "\x7f", "'; DROP TABLE orders; --", "%s%s%n", "{}", "\\", "=", "==",
]
ORDER_TYPES = ["D", "F", "G", "H"]
ADMIN_TYPES = {"0", "1", "2", "3", "4", "5", "A"}
OTHER_TYPES = ["8", "9", "j", "B", "R", "V", "AE", "E", "Q", "c", "x", "ZZ", "U1", "", "\u00e9",
               "DD", "d", "h", "AN", "UZZ"]

TEMPLATES: dict[str, Body] = {
    "D": [(11, Slot.FRESH), (21, "1"), (55, "MSFT"), (54, "1"), (60, Slot.NOW), (38, "100"),
          (40, "2"), (44, "100"), (59, "0")],
    "F": [(41, Slot.LAST), (11, Slot.FRESH), (55, "MSFT"), (54, "1"), (60, Slot.NOW),
          (38, "100")],
    "G": [(41, Slot.LAST), (11, Slot.FRESH), (55, "MSFT"), (54, "1"), (60, Slot.NOW),
          (38, "200"), (40, "2"), (44, "100.01"), (59, "0")],
    "H": [(11, Slot.LAST), (55, "MSFT"), (54, "1"), (790, Slot.FRESH)],
    "B": [(148, "headline"), (33, "1"), (58, "a line of news")],
    "R": [(131, Slot.FRESH), (146, "1"), (55, "MSFT")],
}
"""Valid requests on MSFT, far from its market: the symbol the working order (AAPL) and
the final fill check do not use. Mutations of them reach the daemon's own validation.
News (B) and QuoteRequest (R) are valid FIX the router does not take."""

_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x01"), max_size=24)
VALUES: st.SearchStrategy[RawValue] = st.one_of(
    st.sampled_from(SPECIAL_VALUES),
    _TEXT,
    st.integers(-(10**25), 10**25).map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from([Slot.FRESH, Slot.LAST]),
)
"""Any UTF-8 text but SOH. Raw non-UTF-8 bytes are left to their own test (a known bug)."""
TAGS = st.one_of(
    st.sampled_from(ORDER_TAGS),
    st.integers(0, 99_999).filter(lambda t: t not in HEADER_TRAILER_AND_DATA),
)
FIX_VALID = {
    11: [Slot.FRESH, Slot.LAST, "NONE", "x" * 60, "\u00e9\u00e9"],
    21: ["1", "2", "3", "4"],
    38: ["0", "-5", "10.5", "100", "1000000000", "99999999999999999", "0.0000001", "00100"],
    40: ["1", "2", "3", "4", "P", "K", "D"],
    41: [Slot.LAST, Slot.FRESH, "NONE"],
    44: ["0", "-190", "100.001", "100.01", "415.01", "99999999999.99", "0.00000001"],
    54: ["1", "2", "3", "5", "6", "7", "8", "9", "A", "B", "C", "G"],
    55: ["MSFT", "SPY", "ZZZZ", "msft", "MSFT ", "SPY.X"],
    59: ["0", "1", "2", "3", "4", "5", "6", "7"],
    100: ["XNAS", "ARCX", "BATX", "DARKA", "BRKA", "XLON", "xnas"],
    847: ["1000", "1001", "1002", "1003", "1", "42", "-1", "2147483647"],
    110: ["0", "1", "50", "100", "101", "-1"],
    18: ["6", "G", "0 6", "6 6", "x"],
    111: ["0", "10", "100", "1000"],
    790: [Slot.FRESH, "S1"],
    37: ["NONE", "O1"],
    1: ["ACC-1", "\u00e9"],
}
"""Values FIX validation lets through (right type, a defined enum value) that the daemon
itself must judge."""
FIX_VALID_FIELDS = st.sampled_from(sorted(FIX_VALID)).flatmap(
    lambda tag: st.tuples(st.just("field"), st.just(tag), st.sampled_from(FIX_VALID[tag])))
MUTATIONS = st.one_of(
    FIX_VALID_FIELDS,
    st.tuples(st.just("drop"), st.integers(0, 20)),
    st.tuples(st.just("set"), st.integers(0, 20), VALUES),
    st.tuples(st.just("repeat"), st.integers(0, 20), VALUES),
    st.tuples(st.just("add"), st.integers(0, 20), TAGS, VALUES),
    st.tuples(st.just("swap"), st.integers(0, 20), st.integers(0, 20)),
)


def mutate(body: Body, mutations: list[tuple[Any, ...]]) -> Body:
    body = list(body)
    for kind, at, *args in mutations:
        if kind == "field":  # set the tag's first occurrence, or add it
            i = next((i for i, (tag, _) in enumerate(body) if tag == at), len(body))
            body[i:i + 1] = [(at, args[0])]
            continue
        if kind == "add":
            tag, value = args
            body.insert(at % (len(body) + 1), (tag, value))
            continue
        if not body:
            continue
        i = at % len(body)
        if kind == "drop":
            del body[i]
        elif kind == "set":
            body[i] = (body[i][0], args[0])
        elif kind == "repeat":
            body.insert(i + 1, (body[i][0], args[0]))
        elif kind == "swap":
            j = args[0] % len(body)
            body[i], body[j] = body[j], body[i]
    return body


@st.composite
def hostile_messages(draw: st.DrawFn) -> tuple[str, Body]:
    """A D, F, G, H or other MsgType: a template with FIX-valid odd values (for the
    daemon to judge), a template mutated any way, or a random body."""
    kind = draw(st.sampled_from([*ORDER_TYPES, "D", "other"]))
    msg_type = kind
    if kind == "other":
        msg_type = draw(st.one_of(
            st.sampled_from(OTHER_TYPES),
            st.text(string.ascii_letters + string.digits, min_size=1, max_size=3),
        ).filter(lambda t: t not in ADMIN_TYPES and t not in ORDER_TYPES))
    template = TEMPLATES.get(msg_type, TEMPLATES["D"])
    shape = draw(st.sampled_from(["fix-valid", "fix-valid", "mutated", "mutated", "random"]))
    if shape == "fix-valid":
        return msg_type, mutate(template, draw(st.lists(FIX_VALID_FIELDS, max_size=3)))
    if shape == "mutated":
        return msg_type, mutate(template, draw(st.lists(MUTATIONS, min_size=1, max_size=4)))
    return msg_type, draw(st.lists(st.tuples(TAGS, VALUES), max_size=12))


class Ids:
    """Fills the slots: unique ClOrdIDs for this run, the time now."""

    def __init__(self) -> None:
        self._prefix = f"H{time.time_ns() % 10**9:09d}-"
        self._count = itertools.count(1)
        self.last = f"{self._prefix}0"

    def fill(self, body: Body) -> list[tuple[int, str | bytes]]:
        filled: list[tuple[int, str | bytes]] = []
        for tag, value in body:
            if value is Slot.FRESH:
                value = self.last = f"{self._prefix}{next(self._count)}"
            elif value is Slot.LAST:
                value = self.last
            elif value is Slot.NOW:
                value = utc_timestamp()
            filled.append((tag, value))
        return filled


def as_text(value: str | bytes) -> str:
    """A value as the daemon and `InMessage` decode it."""
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


def answer_kind(msg_type: str, seq: int, body: list[tuple[int, str | bytes]]
                ) -> Callable[[InMessage], bool]:
    """Whether an inbound message answers the request sent as ``seq``: a Reject or a
    BusinessMessageReject naming it (45), an ExecutionReport or OrderCancelReject for its
    ClOrdID (the first 11), a status report for a status request; or a Logout."""
    cl_ord_id = next((as_text(v) for t, v in body if t == 11), None)

    def answers(m: InMessage) -> bool:
        t = m.msg_type
        if t in ("3", "j"):
            return m.get(45) == str(seq)
        if t == "5":
            return True
        if t == "8" and msg_type == "H" and m.get(150) == "I":
            return True
        return t in ("8", "9") and cl_ord_id is not None and m.get(11) == cl_ord_id

    return answers


def classify(answer: InMessage) -> tuple[str, str | None]:
    """(kind, problem): what the answer is, and what is wrong with it if anything."""
    t, text = answer.msg_type, answer.get(58)
    if t == "3":
        problem = None if text or answer.get(373) else "session Reject without 58 or 373"
        return "session rejects", problem
    if t == "j":
        return "business rejects", None if text else "BusinessMessageReject without Text"
    if t == "9":
        return "cancel rejects", None if text else "OrderCancelReject without Text"
    if t == "5":
        return "logouts", f"the daemon logged the session out: {text!r}"
    refused = answer.get(39) == "8" or answer.get(150) == "8"
    problem = "rejected ExecutionReport without Text" if refused and not text else None
    if answer.get(150) == "I":
        return "status reports", problem
    if refused:
        return "rejected orders", problem
    return "accepted orders", None


@pytest.mark.timeout(150)
async def test_every_hostile_application_message_is_answered(
        stack: Stack, loop_errors: list[dict[str, Any]]):
    """Property: any well-framed D/F/G/H/other message on a logged-on session gets an
    answer that refers to it and is in the audit trail; nothing raises inside the daemon,
    which never hangs or logs the session out; the working order is untouched and
    trading goes on."""
    order, before = await working_order(stack)
    tally = Tally("hostile FIX")
    ids = Ids()
    sent: dict[int, bytes] = {}
    errors_before = anomalies("handler_error")
    started = time.monotonic()
    async with raw_session(stack) as raw:

        async def case(message: tuple[str, Body]) -> None:
            if tally.stopped:
                tally.skipped += 1
                return
            msg_type, template = message
            body = ids.fill(template)
            tally.cases += 1
            try:
                if raw.closed.is_set():
                    await relogon(raw)
                seq = await raw.send(msg_type, body)
                sent[seq] = raw.last_sent
                answer = await raw.expect(answer_kind(msg_type, seq, body), ANSWER_TIMEOUT)
            except (TimeoutError, ConnectionError) as exc:
                what = "no answer" if isinstance(exc, TimeoutError) else "connection lost"
                tally.fail(f"{what} within {ANSWER_TIMEOUT} s to {raw.last_sent!r}")
                return
            kind, problem = classify(answer)
            tally.kinds[kind] += 1
            if problem:
                tally.fail(f"{problem}: {raw.last_sent!r} -> {answer}")

        try:
            await run_examples(hostile_messages(), case, FIX_EXAMPLES, ANSWER_TIMEOUT + 8)
            await asyncio.sleep(0.3)  # late reports of the last orders
            assert await raw.ping(), "the raw session stopped answering"
            assert not [m for m in raw.inbox if m.msg_type == "5"]
        finally:
            print(f"\n{tally.summary()} in {time.monotonic() - started:.1f} s")
        sender = f"|49={raw.sender}|"
    assert not tally.failures, tally.report()
    assert described(loop_errors) == []
    handler_errors = anomalies("handler_error") - errors_before
    assert handler_errors == 0, f"{handler_errors} messages raised inside the daemon"
    assert stack.daemon.gateway.endpoint.errors.count == 0
    if getattr(stack.daemon, "audit", None) is not None:
        audited = {int(seq) for fix in audited_inbound(stack) if sender in fix
                   for seq in re.findall(r"\|34=(\d+)\|", fix)[:1]}
        missing = [sent[seq] for seq in sorted(set(sent) - audited)
                   if not any(f"\x0135={t}\x01".encode() in sent[seq] for t in UNAUDITED)]
        assert not missing, f"{len(missing)} messages not in the audit trail: {missing[:5]}"
    await assert_intact(stack, order, before)
    await assert_trading(stack)


NON_UTF8: dict[str, tuple[str, list[tuple[int, str | bytes]]]] = {
    "valid order": ("D", [(11, b"\xe9\xff"), (21, "1"), (55, "MSFT"), (54, "1"), (60, "NOW"),
                          (38, "100"), (40, "2"), (44, "100"), (59, "0")]),
    "order for an unknown symbol": ("D", [(11, "NU-1"), (21, "1"), (55, b"\x80"), (54, "1"),
                                          (60, "NOW"), (38, "100"), (40, "2"), (44, "100")]),
    "cancel": ("F", [(41, "NO-SUCH"), (11, b"\xff"), (55, "MSFT"), (54, "1"), (60, "NOW")]),
    "status request": ("H", [(11, b"\xff"), (55, "MSFT"), (54, "1")]),
    "text of a valid order": ("D", [(11, "NU-2"), (21, "1"), (55, "MSFT"), (54, "1"),
                                    (60, "NOW"), (38, "100"), (40, "2"), (44, "100"),
                                    (58, b"caf\xe9")]),
}
"""Bytes that are not UTF-8 (Latin-1, say) in a field the daemon echoes, or only reads."""


@pytest.mark.parametrize("case", NON_UTF8)
async def test_values_that_are_not_utf8_are_refused_naming_the_tag(
        stack: Stack, loop_errors: list[dict[str, Any]], case: str):
    """Refused before the daemon sees them: a session Reject, SessionRejectReason 6
    (incorrect data format for value) with RefTagID naming the field; no order is left
    behind; nothing raises; the audit trail has the message, its bytes escaped."""
    msg_type, body = NON_UTF8[case]
    body = [(tag, utc_timestamp() if value == "NOW" else value) for tag, value in body]
    bad_tag = next(tag for tag, value in body if isinstance(value, bytes))
    errors_before = anomalies("handler_error")
    async with raw_session(stack) as raw:
        seq = await raw.send(msg_type, body)
        try:
            answer = await raw.expect(answer_kind(msg_type, seq, body), ANSWER_TIMEOUT)
        except TimeoutError:
            pytest.fail(f"no answer to {raw.last_sent!r}")
        await asyncio.sleep(0.3)
        sender = f"|49={raw.sender}|"
    assert (answer.msg_type, answer.get(373), answer.get(371)) == ("3", "6", str(bad_tag)), \
        str(answer)
    if msg_type == "D":
        cl_ord_id = as_text(next(v for t, v in body if t == 11))
        assert not [p for p in stack.daemon.engine.open_parents() if p.cl_ord_id == cl_ord_id
                    ], f"refused with {answer} but the order is working"
    assert anomalies("handler_error") == errors_before, f"handler error; answered {answer}"
    assert described(loop_errors) == []
    escaped = as_text(dict(body)[bad_tag]).encode("utf-8", "surrogateescape").decode(
        "utf-8", "backslashreplace")
    assert [f for f in audited_inbound(stack)
            if sender in f and f"|34={seq}|" in f and f"={escaped}|" in f]


async def test_a_logon_with_a_value_that_is_not_utf8_is_refused(
        stack: Stack, loop_errors: list[dict[str, Any]]):
    """A Username (553) in Latin-1: refused with a Logout naming the field, before any
    credential check (which must never see it: a check that fails open would let it in)."""
    async with raw_client(stack) as raw:
        await raw.send("A", [(98, 0), (108, 30), (141, "Y"), (553, b"caf\xe9")])
        assert await raw.wait_closed(12), "still connected"
    assert not [m for m in raw.inbox if m.msg_type == "A"], "logged on"
    assert [m for m in raw.inbox if m.msg_type == "5"
            and "Logon field 553 is not UTF-8" in (m.get(58) or "")], list(map(str, raw.inbox))
    assert described(loop_errors) == []


HUGE = "1" + "0" * 40
"""Valid FIX (a PRICE, a QTY), beyond what decimal arithmetic takes."""


@pytest.mark.parametrize(("tag", "named"), [(44, "Price (44)"), (38, "OrderQty (38)")])
async def test_a_number_out_of_range_is_rejected_naming_the_tag(
        stack: Stack, loop_errors: list[dict[str, Any]], tag: int, named: str):
    """An ExecutionReport Rejected naming the field, as for any bad price or quantity;
    nothing raises and the working order is untouched."""
    order, before = await working_order(stack)
    body = {11: f"HUGE-{tag}", 55: "AAPL", 54: "1", 60: utc_timestamp(), 38: "100",
            40: "2", 44: "189.00"}
    body[tag] = HUGE
    errors_before = anomalies("handler_error")
    async with raw_session(stack) as raw:
        await raw.send("D", list(body.items()))
        answer = await raw.expect(lambda m: m.msg_type in ("8", "3", "j"), ANSWER_TIMEOUT)
    assert (answer.msg_type, answer.get(11), answer.get(150), answer.get(39)) == (
        "8", f"HUGE-{tag}", "8", "8"), str(answer)
    assert f"{named} is out of range" in (answer.get(58) or ""), str(answer)
    assert anomalies("handler_error") == errors_before
    assert described(loop_errors) == []
    await assert_intact(stack, order, before)


async def test_a_possdup_without_origsendingtime_is_refused_at_session_level(
        stack: Stack, loop_errors: list[dict[str, Any]]):
    """FIX requires OrigSendingTime (122) with PossDupFlag (43) Y: without it, a session
    Reject (Required tag missing, RefTagID 122) and the order is not taken; with it, a
    resent order never seen is taken; the session goes on throughout."""
    order, before = await working_order(stack)

    def resent(cl_ord_id: str) -> list[tuple[int, str]]:
        return [(11, cl_ord_id), (55, "AAPL"), (54, "1"), (60, utc_timestamp()),
                (38, "100"), (40, "2"), (44, "189.00")]

    async with raw_session(stack) as raw:
        seq = await raw.send("D", resent("RESENT-1"), header=[(43, "Y")])
        answer = await raw.expect(lambda m: m.msg_type in ("8", "3", "j"), ANSWER_TIMEOUT)
        await asyncio.sleep(0.3)  # nothing else comes of it
        others = [str(m) for m in raw.inbox if m.msg_type in ("8", "j")]
        assert await raw.ping()
        await raw.send("D", resent("RESENT-2"), header=[(43, "Y"), (122, utc_timestamp())])
        taken = await raw.expect(lambda m: m.msg_type in ("8", "3", "j"), ANSWER_TIMEOUT)
    assert (answer.msg_type, answer.get(45), answer.get(372), answer.get(373),
            answer.get(371)) == ("3", str(seq), "D", "1", "122"), str(answer)
    assert "OrigSendingTime (122)" in (answer.get(58) or ""), str(answer)
    assert others == []
    assert not [p for p in stack.daemon.engine.open_parents() if p.cl_ord_id == "RESENT-1"]
    assert (taken.msg_type, taken.get(11), taken.get(39)) == ("8", "RESENT-2", "0"), str(taken)
    assert described(loop_errors) == []
    await assert_intact(stack, order, before)


# ---------------------------------------------------------------- byte garbage


def garbage_recipes() -> st.SearchStrategy[tuple[Any, ...]]:
    """Byte garbage for a fresh connection, as a recipe `garbage_bytes` turns into
    bytes (frames need the current time)."""
    no_soh = st.binary(max_size=64)
    return st.one_of(
        st.tuples(st.just("bytes"), st.binary(min_size=1, max_size=4096)),
        st.tuples(st.just("partial logon"), st.integers(1, 120)),
        st.tuples(st.just("body length"), st.sampled_from(
            ["1000000", "999999999", "2147483647", "2147483648", "4294967301",
             "99999999999999999999", "-1", "0", "abc", "", "1.5"]), no_soh),
        st.tuples(st.just("before logon"), st.sampled_from(["D", "F", "H", "0", "1", "5",
                                                             "ZZ", "3"]),
                  st.sampled_from([0, -1])),
        st.tuples(st.just("stranger"), st.binary(min_size=1, max_size=12).filter(
            lambda b: b"\x01" not in b), st.binary(max_size=12).filter(
            lambda b: b"\x01" not in b), st.sampled_from(["A", "D", "ZZ"])),
        st.tuples(st.just("begin string"), st.sampled_from(
            ["FIX.4.2", "FIXT.1.1", "", "FIX.4.4.4", "\u00e9"])),
        st.tuples(st.just("flood"), st.binary(min_size=1, max_size=64),
                  st.integers(10_000, 300_000)),
        st.tuples(st.just("flood"), st.sampled_from([b"8=", b"\x01", b"8=FIX.4.4\x019=",
                                                     b"=", b"10=000\x01"]),
                  st.integers(10_000, 300_000)),
    )


def garbage_bytes(recipe: tuple[Any, ...], oms: list[str], daemon: str) -> bytes:
    kind, *args = recipe
    logon = frame("A", oms[0], daemon, 1, [(98, 0), (108, 30), (141, "Y")])
    if kind == "bytes":
        return args[0]
    if kind == "partial logon":
        return logon[:args[0]]
    if kind == "body length":
        return b"8=FIX.4.4\x019=" + args[0].encode() + b"\x0135=A\x01" + args[1]
    if kind == "before logon":
        return frame(args[0], oms[args[1]], daemon, 1, [(11, "X1"), (54, "1"), (112, "T")])
    if kind == "stranger":  # CompIDs no session has, Latin-1 and all
        sender, target, msg_type = args
        return frame(msg_type, sender, target, 1, [(98, 0), (108, 30), (141, "Y")])
    if kind == "begin string":
        return logon.replace(b"8=FIX.4.4", b"8=" + args[0].encode(), 1)
    chunk, size = args
    return (chunk * (size // len(chunk) + 1))[:size]


async def throw(data: bytes, port: int) -> str:
    """Send ``data`` on a new connection; how the daemon took it."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
    try:
        writer.write(data)
        await asyncio.wait_for(writer.drain(), 5)
        reply = await asyncio.wait_for(reader.read(65536), 0.2)
        return "answered" if reply else "hung up"
    except TimeoutError:
        return "left open"
    except ConnectionError:
        return "reset"
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 2)


@pytest.mark.timeout(120)
async def test_byte_garbage_on_new_connections_harms_nothing(
        stack: Stack, loop_errors: list[dict[str, Any]]):
    """Random bytes, partial frames, absurd BodyLengths, frames before any logon and
    floods of nonsense on fresh connections: the daemon stays up, the logged-on session
    and its working order are untouched, and a new session still logs on."""
    order, before = await working_order(stack)
    tally = Tally("byte garbage")
    comp_ids, daemon = oms_comp_ids(stack.config)
    port = stack.config.oms.port
    started = time.monotonic()

    async def case(recipe: tuple[Any, ...]) -> None:
        if tally.stopped:
            tally.skipped += 1
            return
        tally.cases += 1
        data = garbage_bytes(recipe, comp_ids, daemon)
        try:
            tally.kinds[await throw(data, port)] += 1
        except (OSError, TimeoutError) as exc:
            tally.fail(f"could not connect after {len(data)} bytes ({recipe[0]}): {exc!r}")
            return
        if not stack.oms.endpoint.is_logged_on(stack.oms.session):
            tally.fail(f"the OMS session dropped after {recipe[0]}: {data[:200]!r}")

    try:
        await run_examples(garbage_recipes(), case, GARBAGE_EXAMPLES, 15)
    finally:
        print(f"\n{tally.summary()} in {time.monotonic() - started:.1f} s")
    assert not tally.failures, tally.report()
    assert described(loop_errors) == []
    await assert_intact(stack, order, before)
    async with raw_session(stack) as raw:
        assert await raw.ping()
    await assert_intact(stack, order, before)
    await assert_trading(stack)


# ----------------------------------------------- garbled frames in a session


def garbled_recipes() -> st.SearchStrategy[tuple[Any, ...]]:
    return st.one_of(
        st.tuples(st.just("checksum"), st.integers(1, 255)),
        st.tuples(st.just("checksum text"), st.sampled_from(["", "1", "abc", "0000", "-1"])),
        st.tuples(st.just("body length"), st.one_of(st.integers(-40, -1),
                                                      st.integers(1, 100))),
        st.tuples(st.just("body length text"), st.sampled_from(["", "abc", "-5", "1.5"])),
        st.tuples(st.just("no trailer")),
        st.tuples(st.just("junk"), st.binary(min_size=1, max_size=512).filter(
            lambda b: b"8=" not in b)),
        st.tuples(st.just("field"), st.sampled_from(
            [b"abc=1", b"=1", b"55", b"", b"4294967296=1", b"-5=1", b"55==x"])),
        st.tuples(st.just("latin-1"), st.integers(1, 255)),  # and a bad checksum
    )


def reframe(payload: bytes, length: bytes | None = None, check: bytes | None = None
            ) -> bytes:
    """8= and 9= (the true length unless given) around ``payload``, then 10= (the true
    checksum unless given)."""
    start = b"8=FIX.4.4\x019=" + (b"%d" % len(payload) if length is None else length) + SOH
    return start + payload + b"10=" + (checksum(start + payload) if check is None else check) \
        + SOH


def garble(recipe: tuple[Any, ...], raw: RawFixClient) -> bytes:
    """A NewOrderSingle (valid, MSFT, far from the market) spoiled as ``recipe`` says."""
    body = [(11, f"GARBLED-{time.time_ns()}"), (21, "1"), (55, "MSFT"), (54, "1"),
            (60, utc_timestamp()), (38, "100"), (40, "2"), (44, "100"), (59, "0")]
    good = raw.build("D", body)
    payload = good[good.index(b"35="):good.rindex(b"10=")]
    kind, *args = recipe
    if kind == "latin-1":
        kind, payload = "checksum", payload.replace(b"\x0155=", b"\x0158=caf\xe9\x0155=", 1)
    if kind == "checksum":
        right = int(reframe(payload)[-4:-1])
        return reframe(payload, check=b"%03d" % ((right + args[0]) % 256))
    if kind == "checksum text":
        return reframe(payload, check=args[0].encode())
    if kind == "body length":
        return reframe(payload, length=b"%d" % max(len(payload) + args[0], 1))
    if kind == "body length text":
        return reframe(payload, length=args[0].encode())
    if kind == "no trailer":
        return good[:good.rindex(b"10=")]
    if kind == "junk":
        return args[0]
    return reframe(payload.replace(SOH + b"55=", SOH + args[0] + SOH + b"55=", 1))


@pytest.mark.timeout(150)
async def test_garbled_frames_in_a_session_do_not_break_it(
        stack: Stack, loop_errors: list[dict[str, Any]]):
    """Bad checksums, wrong BodyLengths, missing trailers, junk between frames and
    malformed fields on the logged-on raw session: dropped or rejected as FIX says, and
    the session still answers a TestRequest afterwards."""
    order, before = await working_order(stack)
    tally = Tally("garbled frames")
    started = time.monotonic()
    async with raw_session(stack) as raw:

        async def case(recipe: tuple[Any, ...]) -> None:
            if tally.stopped:
                tally.skipped += 1
                return
            tally.cases += 1
            data = garble(recipe, raw)
            try:
                if raw.closed.is_set():
                    await relogon(raw)
                seq = raw.next_seq
                raw.next_seq += 1  # a dropped frame leaves a gap: the gap fill closes it
                await raw.send_raw(data)
                if not await raw.ping():
                    tally.fail(f"the session stopped answering after {data!r}")
                    return
            except (TimeoutError, ConnectionError, AssertionError) as exc:
                tally.fail(f"{exc!r} after {data!r}")
                return
            rejected = any(m.msg_type == "3" and m.get(45) == str(seq) for m in raw.inbox)
            tally.kinds["session rejects" if rejected else "dropped"] += 1

        try:
            await run_examples(garbled_recipes(), case, GARBLED_EXAMPLES, 15)
            assert not [m for m in raw.inbox if m.msg_type == "5"]
        finally:
            print(f"\n{tally.summary()} in {time.monotonic() - started:.1f} s")
    assert not tally.failures, tally.report()
    assert described(loop_errors) == []
    await assert_intact(stack, order, before)
    await assert_trading(stack)


# ------------------------------------------------- unknown types and intruders


UNKNOWN_TYPES: list[tuple[str, list[tuple[int, str]]]] = [
    ("ZZ", []),
    ("U1", [(11, "U-1"), (55, "AAPL")]),
    ("\u00e9", [(58, "x")]),
    ("B", [(148, "headline"), (33, "1"), (58, "a line of news")]),  # News: FIX, not ours
    ("8", [(37, "O1"), (17, "E1"), (150, "0"), (39, "0"), (55, "AAPL"), (54, "1"),
           (151, "100"), (14, "0"), (6, "0")]),  # an ExecutionReport, the wrong way
]


async def test_unknown_msgtypes_are_refused_and_the_session_goes_on(
        stack: Stack, loop_errors: list[dict[str, Any]]):
    order, before = await working_order(stack)
    async with raw_session(stack) as raw:
        for msg_type, body in UNKNOWN_TYPES:
            seq = await raw.send(msg_type, body)
            answer = await raw.expect(
                lambda m, s=seq: m.msg_type in ("3", "j") and m.get(45) == str(s))
            if answer.msg_type == "3":
                assert answer.get(58) or answer.get(373), str(answer)
            else:
                assert answer.get(380) == "3" and "unsupported MsgType" in (
                    answer.get(58) or ""), str(answer)
        assert await raw.ping()
        assert not raw.closed.is_set()
    assert described(loop_errors) == []
    await assert_intact(stack, order, before)
    await assert_trading(stack)


async def refused(raw: RawFixClient) -> str | None:
    """Connect and log on; None when refused (no Logon back, the connection closed by the
    daemon), else what happened."""
    async with raw:
        await raw.send("A", [(98, 0), (108, 30), (141, "Y")])
        if not await raw.wait_closed(12):
            return f"{raw.sender}->{raw.target}: still connected after 12 s"
        accepted = [m for m in raw.inbox if m.msg_type == "A"]
        return f"{raw.sender}->{raw.target}: logged on: {accepted[0]}" if accepted else None


@pytest.mark.timeout(60)
async def test_logons_with_wrong_compids_are_refused_without_harm(
        stack: Stack, loop_errors: list[dict[str, Any]]):
    """Strangers' CompIDs, a wrong TargetCompID, the right ones in the wrong case, and a
    second logon of the session already logged on: refused, and the logged-on OMS
    session and its working order carry on."""
    order, before = await working_order(stack)
    comp_ids, daemon = oms_comp_ids(stack.config)
    attempts = [
        raw_client(stack, "INTRUDER", daemon),
        raw_client(stack, comp_ids[0], "NOT-THE-ROUTER"),
        raw_client(stack, comp_ids[0].lower(), daemon.lower()),
        raw_client(stack, comp_ids[0], daemon),  # the OMS client's session, logged on
    ]
    outcomes = await asyncio.gather(*(refused(raw) for raw in attempts))
    assert [o for o in outcomes if o] == []
    assert described(loop_errors) == []
    assert stack.oms.endpoint.is_logged_on(stack.oms.session)
    await assert_intact(stack, order, before)
    await assert_trading(stack)


@pytest.mark.parametrize("victim", ["venue", "oms-client"])
@pytest.mark.timeout(60)
async def test_a_logon_naming_another_local_session_leaves_it_alone(stack: Stack,
                                                                    victim: str):
    """``venue``: the daemon's own session to XNAS, which has the best AAPL offer (where
    `assert_trading` goes). ``oms-client``: the OMS client's session, in this process
    only in tests."""
    order, before = await working_order(stack)
    comp_ids, daemon = oms_comp_ids(stack.config)
    xnas = stack.config.venue("XNAS")
    sender, target = ((xnas.target_comp_id, xnas.sender_comp_id) if victim == "venue"
                      else (daemon, comp_ids[0]))
    assert await refused(raw_client(stack, sender, target)) is None
    await assert_intact(stack, order, before)
    await assert_trading(stack)
