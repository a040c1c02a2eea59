"""FIX tag-value text <-> the plain messages of `sor_daemon.core.messages`.

Inbound messages are parsed once, from the string quickfix hands over, with no further
calls into quickfix; outbound messages are built as tag-value pairs and turned into one
quickfix message by `sor_daemon.fix.endpoint`.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

from sor_daemon.core.domain import (
    CxlRejReason,
    CxlRejResponseTo,
    ExecType,
    LiquidityInd,
    OrdRejReason,
    OrdStatus,
    OrdType,
    Side,
    TimeInForce,
    wire_decimal,
)
from sor_daemon.core.market import BookChange, Level, VenueBook
from sor_daemon.core.messages import (
    CancelFields,
    CancelOrder,
    CancelReject,
    ExecutionReport,
    NewOrder,
    NewOrderFields,
    ReplaceFields,
    StatusFields,
)

SOH = "\x01"
Pairs = list[tuple[int, str]]


class DecodeError(Exception):
    """A message that passed FIX validation but cannot be understood."""


@dataclass(frozen=True, slots=True)
class FixMessage:
    msg_type: str
    fields: dict[int, str]
    """First occurrence of every tag."""
    pairs: Pairs
    """Every tag in wire order, for repeating groups."""
    received_ns: int = 0
    """When quickfix handed it over (`time.time_ns`), 0 when not known: the clock of a
    session's throttle, whenever the loop gets round to the message."""

    def get(self, tag: int) -> str | None:
        return self.fields.get(tag)

    def require(self, tag: int) -> str:
        try:
            return self.fields[tag]
        except KeyError:
            raise DecodeError(f"{self.msg_type} without tag {tag}") from None


def parse(raw: str, received_ns: int = 0) -> FixMessage:
    pairs: Pairs = []
    fields: dict[int, str] = {}
    for item in raw.split(SOH):
        if not item:
            continue
        tag, _, value = item.partition("=")
        try:
            number = int(tag)
        except ValueError:
            raise DecodeError(f"malformed field {item[:40]!r}") from None
        pairs.append((number, value))
        fields.setdefault(number, value)
    if 35 not in fields:
        raise DecodeError("message without MsgType (35)")
    return FixMessage(fields[35], fields, pairs, received_ns)


def field_text(raw: str, tag: int, separator: str = SOH) -> str:
    """The first value of ``tag`` (not the first field of the message) in a message's
    text, "" when absent: a header field read without parsing the whole message.
    ``separator``: "|" for a message as the audit trail stores it."""
    key = f"{separator}{tag}="
    start = raw.find(key)
    if start < 0:
        return ""
    start += len(key)
    end = raw.find(separator, start)
    return raw[start:end if end >= 0 else None]


MASK = "***"
SECRET_TAGS = frozenset({"554", "925", "96"})
"""Password (554), NewPassword (925), RawData (96): never written anywhere in clear."""
SECRET_MSG_TYPES = ("A", "BE")
"""The only MsgTypes that carry them: Logon (A), UserRequest (BE)."""
_MSG_TYPE_KEYS = {separator: (f"{separator}35=", tuple(f"{t}{separator}" for t in
                                                       SECRET_MSG_TYPES))
                  for separator in (SOH, "|")}


def masked(raw: str, separator: str = SOH) -> str:
    """``raw`` with the value of every Password (554), NewPassword (925) and RawData (96)
    replaced by `MASK`, for whatever writes a message down (quickfix's file log, the
    audit trail, logs, reports). Anything but a Logon or a UserRequest is returned as it
    is after one look at its MsgType: free for order traffic.

    The result is still a sequence of tag=value fields, and RawDataLength (95) is set to
    the mask's length, but BodyLength (9) and CheckSum (10) stay those of the original: a
    record of what crossed the wire, not a message to send. A value holding the
    separator (RawData, whose length 95 gives; a "|" in a stored password; garbage) is
    masked whole: what follows it up to the next ``digits=`` field goes too.
    ``separator``: SOH, or "|" for a message as the audit trail stores it."""
    key, secret_types = _MSG_TYPE_KEYS[separator]
    at = raw.find(key)
    if at < 0 or not raw.startswith(secret_types, at + len(key)):
        return raw  # one search, in the header: the cost for order traffic
    pieces = raw.split(separator)
    out: list[str] = []
    length_at: int | None = None
    """Where the last RawDataLength (95) is in ``out``."""
    length = -1
    i, last = 0, len(pieces) - 1
    while i <= last:
        piece = pieces[i]
        i += 1
        tag, equals, value = piece.partition("=")
        if not equals or tag not in SECRET_TAGS:
            if tag == "95" and equals:
                length_at, length = len(out), _length(value)
            out.append(piece)
            continue
        if tag == "96" and length >= 0:  # a length in bytes
            while len(value.encode("utf-8", "surrogateescape")) < length and i <= last:
                value += separator + pieces[i]
                i += 1
            if length_at is not None:
                out[length_at] = f"95={len(MASK)}"
        while i < last and not _is_field(pieces[i]):
            i += 1  # the rest of a value cut at a separator it holds
        out.append(f"{tag}={MASK}")
    return separator.join(out)


def _length(text: str) -> int:
    try:
        return int(text) if text.isascii() else -1
    except ValueError:
        return -1


def _is_field(piece: str) -> bool:
    tag, equals, _ = piece.partition("=")
    return bool(equals) and tag.isascii() and tag.isdigit()


def undecodable_tag(raw: str) -> int | None:
    """The first tag whose value was not UTF-8 on the wire, else None.

    quickfix's binding decodes with ``surrogateescape``: bytes that are not UTF-8 arrive
    as lone surrogates, which no encoder downstream (orjson, quickfix's own setString)
    accepts. A tag of 0 means the bad bytes are in no field's value."""
    if raw.isascii():
        return None
    try:
        raw.encode()
    except UnicodeEncodeError as exc:
        start = raw.rfind(SOH, 0, exc.start) + 1
        tag, equals, _ = raw[start:exc.start].partition("=")
        return int(tag) if equals and tag.isdigit() else 0
    return None


def readable(raw: str) -> str:
    """``raw`` with bytes that were not UTF-8 written as ``\\xNN`` escapes, so that it can
    be written anywhere (a JSON line, a log) and still says exactly what came in."""
    if raw.isascii():
        return raw
    return raw.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def fmt_decimal(value: Decimal) -> str:
    """Plain notation, no exponent, no trailing zeros, at most 8 decimals."""
    if value != value.to_integral_value():
        value = value.quantize(Decimal("1e-8"))
    text = format(value.normalize(), "f")
    return text


_second = [-1, ""]
"""The last second `utc_timestamp` formatted, and its text."""


def utc_timestamp() -> str:
    """Now, as a FIX UTCTimestamp with milliseconds (formatted once per second)."""
    second, ns = divmod(time.time_ns(), 1_000_000_000)
    if second != _second[0]:
        _second[:] = [second, time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(second))]
    return f"{_second[1]}.{ns // 1_000_000:03d}"


def _decimal(text: str | None, tag: int) -> Decimal | None:
    if text is None or text == "":
        return None
    try:
        return wire_decimal(text)
    except ValueError as exc:
        raise DecodeError(f"tag {tag} {exc}: {text!r}") from None


def _int(text: str | None, tag: int) -> int:
    value = _decimal(text, tag)
    return 0 if value is None else int(value)


def _enum(cls, text: str | None, tag: int):
    try:
        return cls(text)
    except ValueError:
        raise DecodeError(f"unsupported {cls.__name__} ({tag}) {text!r}") from None


def _optional(pairs: Pairs, tag: int, value: object) -> None:
    if value is None or value == "":
        return
    if isinstance(value, Decimal):
        pairs.append((tag, fmt_decimal(value)))
    elif hasattr(value, "value"):
        pairs.append((tag, value.value))  # a str Enum
    else:
        pairs.append((tag, str(value)))


# ------------------------------------------------------------------ order entry in


def decode_new_order(m: FixMessage) -> NewOrderFields:
    g = m.fields.get
    return NewOrderFields(
        cl_ord_id=m.require(11), symbol=g(55), side=g(54), order_qty=g(38), ord_type=g(40),
        price=g(44), tif=g(59), ex_destination=g(100), target_strategy=g(847), min_qty=g(110),
        exec_inst=g(18), max_floor=g(111), poss_dup=g(43) == "Y",
    )


def decode_cancel(m: FixMessage) -> CancelFields:
    g = m.fields.get
    return CancelFields(cl_ord_id=m.require(11), orig_cl_ord_id=m.require(41), symbol=g(55),
                        side=g(54))


def decode_replace(m: FixMessage) -> ReplaceFields:
    g = m.fields.get
    return ReplaceFields(
        cl_ord_id=m.require(11), orig_cl_ord_id=m.require(41), symbol=g(55), side=g(54),
        order_qty=g(38), ord_type=g(40), price=g(44), tif=g(59),
    )


def decode_status(m: FixMessage) -> StatusFields:
    g = m.fields.get
    return StatusFields(cl_ord_id=g(11), order_id=g(37), ord_status_req_id=g(790),
                        seq_num=g(34), symbol=g(55), side=g(54))


# ----------------------------------------------------------------- order entry out


def encode_new_order(order: NewOrder) -> Pairs:
    pairs: Pairs = [
        (11, order.cl_ord_id), (21, "1"), (55, order.symbol), (54, order.side.value),
        (60, utc_timestamp()), (38, str(order.qty)), (40, order.ord_type.value),
        (59, order.tif.value),
    ]
    _optional(pairs, 44, order.price)
    _optional(pairs, 100, order.ex_destination)
    _optional(pairs, 847, order.target_strategy)
    _optional(pairs, 110, order.min_qty)
    _optional(pairs, 111, order.display_qty)
    if order.post_only:
        pairs.append((18, "6"))
    return pairs


def encode_cancel(request: CancelOrder) -> Pairs:
    pairs: Pairs = [
        (41, request.orig_cl_ord_id), (11, request.cl_ord_id), (55, request.symbol),
        (54, request.side.value), (60, utc_timestamp()),
    ]
    if request.qty:
        pairs.append((38, str(request.qty)))
    return pairs


def encode_replace(
    cl_ord_id: str, orig_cl_ord_id: str, symbol: str, side: Side, qty: int,
    ord_type: OrdType, price: Decimal | None, tif: TimeInForce,
) -> Pairs:
    pairs: Pairs = [
        (41, orig_cl_ord_id), (11, cl_ord_id), (21, "1"), (55, symbol), (54, side.value),
        (60, utc_timestamp()), (38, str(qty)), (40, ord_type.value), (59, tif.value),
    ]
    _optional(pairs, 44, price)
    return pairs


def encode_status_request(cl_ord_id: str, symbol: str, side: Side, req_id: str) -> Pairs:
    return [(11, cl_ord_id), (55, symbol), (54, side.value), (790, req_id)]


FIX44_ENUMS = {
    54: frozenset("123456789ABCDEFG"),
    40: frozenset(["1", "2", "3", "4", "6", "7", "8", "9", "D", "E", "G", "I", "J", "K", "L",
                   "M", "P"]),
    59: frozenset("01234567"),
}
"""The values FIX 4.4 (quickfix's FIX44.xml) allows in Side, OrdType and TimeInForce."""
_FIX_NUMBER = re.compile(r"-?(\d+\.?\d*|\.\d+)")
"""A FIX Qty or Price as quickfix reads one: no sign but -, no exponent."""
SIDE_UNDISCLOSED = "7"


def _echoed(tag: int, value: object) -> object:
    """``value``, unless it is a request's raw text (`refusal_report`) that FIX 4.4 does
    not allow in ``tag``: then None. The counterparty's engine checks what it receives
    against the same dictionary and would refuse the whole report."""
    if not isinstance(value, str) or isinstance(value, Enum):
        return value
    if not value:
        return None
    if tag in FIX44_ENUMS:
        return value if value in FIX44_ENUMS[tag] else None
    if tag in (38, 44):
        return value if _FIX_NUMBER.fullmatch(value) else None
    return value


def encode_execution_report(er: ExecutionReport) -> Pairs:
    side = er.side.value if isinstance(er.side, Side) else (
        _echoed(54, er.side) or SIDE_UNDISCLOSED)  # required: no side said, none to echo
    qty = _echoed(38, er.order_qty)
    pairs: Pairs = [
        (37, er.order_id), (11, er.cl_ord_id), (17, er.exec_id), (150, er.exec_type.value),
        (39, er.ord_status.value), (55, er.symbol), (54, side), (38, str(qty or 0)),
        (151, str(er.leaves_qty)), (14, str(er.cum_qty)), (6, fmt_decimal(er.avg_px)),
        (60, utc_timestamp()),
    ]
    _optional(pairs, 41, er.orig_cl_ord_id)
    _optional(pairs, 40, _echoed(40, er.ord_type))
    _optional(pairs, 44, _echoed(44, er.price))
    _optional(pairs, 59, _echoed(59, er.tif))
    if er.last_qty:
        pairs += [(32, str(er.last_qty)), (31, fmt_decimal(er.last_px or Decimal(0)))]
    _optional(pairs, 30, er.last_mkt)
    _optional(pairs, 103, er.ord_rej_reason)
    _optional(pairs, 58, er.text)
    _optional(pairs, 662, er.benchmark_price)
    _optional(pairs, 790, er.ord_status_req_id)
    if er.commission is not None:
        pairs += [(12, fmt_decimal(er.commission)), (13, "3")]
    _optional(pairs, 851, er.liquidity)
    return pairs


def decode_execution_report(m: FixMessage) -> ExecutionReport:
    g = m.fields.get
    side_text = g(54)
    reason = g(103)
    return ExecutionReport(
        order_id=m.require(37),
        cl_ord_id=g(11) or "",
        exec_id=m.require(17),
        exec_type=_enum(ExecType, g(150), 150),
        ord_status=_enum(OrdStatus, g(39), 39),
        symbol=g(55) or "",
        side=Side(side_text) if side_text in ("1", "2") else (side_text or ""),
        order_qty=_int(g(38), 38),
        leaves_qty=_int(g(151), 151),
        cum_qty=_int(g(14), 14),
        avg_px=_decimal(g(6), 6) or Decimal(0),
        ord_type=OrdType(g(40)) if g(40) in ("1", "2") else None,
        price=_decimal(g(44), 44),
        tif=TimeInForce(g(59)) if g(59) in TimeInForce._value2member_map_ else None,
        orig_cl_ord_id=g(41),
        last_qty=_int(g(32), 32),
        last_px=_decimal(g(31), 31),
        last_mkt=g(30),
        ord_rej_reason=OrdRejReason(reason) if reason in OrdRejReason._value2member_map_ else None,
        text=g(58),
        benchmark_price=_decimal(g(662), 662),
        ord_status_req_id=g(790),
        commission=_decimal(g(12), 12),
        liquidity=LiquidityInd(g(851)) if g(851) in ("1", "2") else None,
    )


def encode_cancel_reject(cr: CancelReject) -> Pairs:
    return [
        (37, cr.order_id), (11, cr.cl_ord_id), (41, cr.orig_cl_ord_id),
        (39, cr.ord_status.value), (434, cr.response_to.value), (102, cr.reason.value),
        (58, cr.text), (60, utc_timestamp()),
    ]


def decode_cancel_reject(m: FixMessage) -> CancelReject:
    g = m.fields.get
    reason = g(102)
    return CancelReject(
        order_id=g(37) or "",
        cl_ord_id=m.require(11),
        orig_cl_ord_id=g(41) or "",
        ord_status=_enum(OrdStatus, g(39), 39),
        response_to=_enum(CxlRejResponseTo, g(434), 434),
        reason=CxlRejReason(reason) if reason in CxlRejReason._value2member_map_
        else CxlRejReason.OTHER,
        text=g(58) or "",
    )


def encode_business_reject(ref_seq_num: str | None, ref_msg_type: str, reason: int,
                           text: str) -> Pairs:
    """BusinessMessageReject (j); reason 3 = unsupported message type, 0 = other."""
    pairs: Pairs = []
    _optional(pairs, 45, ref_seq_num)
    return [*pairs, (372, ref_msg_type), (380, str(reason)), (58, text)]


# --------------------------------------------------------------------- market data


def encode_market_data_request(req_id: str, symbols: list[str], depth: int) -> Pairs:
    pairs: Pairs = [(262, req_id), (263, "1"), (264, str(depth)), (265, "0"), (267, "2"),
                    (269, "0"), (269, "1"), (146, str(len(symbols)))]
    for symbol in symbols:
        pairs.append((55, symbol))
    return pairs


@dataclass(frozen=True, slots=True)
class MarketDataRequest:
    req_id: str
    subscribe: bool
    depth: int
    symbols: tuple[str, ...]


def decode_market_data_request(m: FixMessage) -> MarketDataRequest:
    depth = _int(m.get(264), 264)
    return MarketDataRequest(
        req_id=m.require(262),
        subscribe=m.get(263) == "1",
        depth=depth if depth > 0 else 10,
        symbols=tuple(v for t, v in m.pairs if t == 55),
    )


def encode_snapshot(req_id: str, symbol: str, bids: list[tuple[Decimal, int]],
                    asks: list[tuple[Decimal, int]]) -> Pairs:
    pairs: Pairs = [(262, req_id), (55, symbol), (268, str(len(bids) + len(asks)))]
    for entry_type, levels in (("0", bids), ("1", asks)):
        for price, size in levels:
            pairs += [(269, entry_type), (270, fmt_decimal(price)), (271, str(size))]
    return pairs


def decode_snapshot(m: FixMessage, venue: str, now_ns: int) -> VenueBook:
    bids: list[Level] = []
    asks: list[Level] = []
    entry_type = price = None
    for tag, value in m.pairs:
        if tag == 269:
            entry_type, price = value, None
        elif tag == 270:
            price = _decimal(value, 270)
        elif tag == 271 and entry_type in ("0", "1") and price is not None:
            (bids if entry_type == "0" else asks).append(Level(price, _int(value, 271)))
    return VenueBook(venue, m.require(55), tuple(bids), tuple(asks), now_ns)


def encode_incremental(req_id: str, symbol: str, changes: list[BookChange],
                       trades: list[tuple[Decimal, int]]) -> Pairs:
    """MarketDataIncrementalRefresh (X): level changes (size 0 deletes) and trades."""
    pairs: Pairs = [(262, req_id), (268, str(len(changes) + len(trades)))]
    for change in changes:
        action = "2" if change.size == 0 else ("0" if change.new else "1")
        pairs += [(279, action), (269, "0" if change.side is Side.BUY else "1"), (55, symbol),
                  (270, fmt_decimal(change.price))]
        if change.size:
            pairs.append((271, str(change.size)))
    for price, size in trades:
        pairs += [(279, "0"), (269, "2"), (55, symbol), (270, fmt_decimal(price)),
                  (271, str(size))]
    return pairs


def decode_incremental(
        m: FixMessage) -> tuple[dict[str, list[BookChange]], dict[str, list[tuple[Decimal, int]]]]:
    """Level changes per symbol in message order, and the trades (entry type 2)."""
    out: dict[str, list[BookChange]] = {}
    trades: dict[str, list[tuple[Decimal, int]]] = {}
    entry: dict[int, str] = {}

    def flush() -> None:
        if entry.get(269) == "2" and 55 in entry and 270 in entry:
            trades.setdefault(entry[55], []).append(
                (_decimal(entry[270], 270) or Decimal(0), _int(entry.get(271), 271)))
        if entry.get(269) in ("0", "1") and 55 in entry and 270 in entry:
            deleted = entry.get(279) == "2"
            out.setdefault(entry[55], []).append(BookChange(
                Side.BUY if entry[269] == "0" else Side.SELL,
                _decimal(entry[270], 270) or Decimal(0),
                0 if deleted else _int(entry.get(271), 271),
                new=entry.get(279) == "0"))

    for tag, value in m.pairs:
        if tag == 279:
            flush()
            entry = {}
        if tag in (279, 269, 55, 270, 271):
            entry[tag] = value
    flush()
    return out, trades


def encode_market_data_reject(req_id: str, reason: str, text: str) -> Pairs:
    """MarketDataRequestReject (Y); reason 0 = unknown symbol."""
    return [(262, req_id), (281, reason), (58, text)]
