"""`sor-daemon audit CLORDID`: one parent order's whole life from the audit trail that
`sor_daemon.service.audit.AuditTrail` writes: the ClOrdIDs it went by, every OMS message in and
out, the routing decisions, the children and every venue message about them, in time
order.

How records are tied to the order asked about (any ClOrdID of its chain, or one of its
child ClOrdIDs):

- the chain: OMS messages (counterparty ``oms:...``) with both 11 and 41 link the two
  ClOrdIDs; the chain is everything linked, in either direction;
- OrderIDs: tag 37 of the reports sent to the OMS for the chain ("NONE" ignored);
- children: ``child`` events whose ``order_id`` is one of those;
- entries: OMS messages whose 11 or 41 is in the chain (or 37 one of the OrderIDs),
  venue messages whose 11 or 41 is a child ClOrdID, and events naming the order
  (``order_id``, else ``parent``) or a child (``child``).

ClOrdIDs are scoped by OMS session (the ``oms:<session>`` counterparty), as the engine
scopes them; OrderIDs and child ClOrdIDs are the daemon's own, unique across restarts.
A ClOrdID an OMS reuses within one session (on another day, say) would join both orders.

Two passes over the records: the first keeps only identifiers, the second the entries,
so a trail of many rotated files never has to fit in memory.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson

from sor_daemon.core.domain import ExecType, OrdStatus
from sor_daemon.core.messages import NO_ORDER_ID
from sor_daemon.fix.codec import masked

if TYPE_CHECKING:  # rich is imported when printing only
    from rich.console import Console


class AuditReportError(Exception):
    """The trail cannot be read or has no such order: the message says why, in one line."""


# ------------------------------------------------------------------------ reading


@dataclass
class TrailStats:
    """What `read_trail` met: filled in as it reads."""

    files: list[Path] = field(default_factory=list)
    records: int = 0
    truncated_tail: bool = False
    """The newest file ended in half a record (a crash while writing it): skipped."""


def trail_files(path: Path) -> list[Path]:
    """The trail's files, oldest first: ``path.N`` ... ``path.1``, then ``path``."""
    rotated: list[tuple[int, Path]] = []
    if path.parent.is_dir():
        prefix = path.name + "."
        for candidate in path.parent.iterdir():
            suffix = candidate.name[len(prefix):]
            if candidate.name.startswith(prefix) and suffix.isdigit() and candidate.is_file():
                rotated.append((int(suffix), candidate))
    files = [p for _, p in sorted(rotated, reverse=True)]
    if path.is_file():
        files.append(path)
    return files


def read_trail(path: Path, stats: TrailStats | None = None) -> Iterator[dict[str, Any]]:
    """Every record, oldest first. A line that is not a record raises `AuditReportError`
    naming ``file:line``, except an unterminated last line of the newest file, which is
    what a crash mid-write leaves: it is skipped and ``stats.truncated_tail`` set. A FIX
    message's passwords are `masked` (a trail written before they were masked has them)."""
    path = Path(path)
    stats = stats if stats is not None else TrailStats()
    files = trail_files(path)
    if not files:
        raise AuditReportError(f"{path}: no such audit trail")
    stats.files = files
    newest = files[-1]
    for file in files:
        try:
            handle = open(file, "rb")  # noqa: SIM115 - closed below, generator-safe
        except OSError as exc:
            raise AuditReportError(f"{file}: {exc.strerror or exc}") from None
        with handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    if file == newest and not line.endswith(b"\n"):
                        stats.truncated_tail = True
                        continue
                    raise AuditReportError(f"{file}:{number}: not JSON ({exc})") from None
                if not (isinstance(record, dict) and isinstance(record.get("ts"), int)
                        and isinstance(record.get("kind"), str)):
                    raise AuditReportError(
                        f"{file}:{number}: not an audit record (needs integer ts and kind)")
                stats.records += 1
                if isinstance(text := record.get("fix"), str):
                    record["fix"] = masked(text, "|")
                yield record


# -------------------------------------------------------------------- the lifecycle


@dataclass(frozen=True, slots=True)
class Entry:
    """One record of the order's life. ``fields`` holds a FIX message's tags (first
    occurrence), empty for events."""

    ts: int
    role: Literal["oms", "venue", "event"]
    record: dict[str, Any]
    fields: dict[int, str]

    @property
    def kind(self) -> str:
        return self.record["kind"]

    @property
    def direction(self) -> str | None:
        return self.record.get("dir")

    @property
    def counterparty(self) -> str | None:
        return self.record.get("cpty")

    @property
    def msg_type(self) -> str | None:
        return self.record.get("msg_type")


@dataclass(frozen=True, slots=True)
class Fill:
    ts: int
    qty: int
    price: Decimal
    exec_id: str | None


@dataclass
class ChildOrder:
    cl_ord_id: str
    venue: str | None = None
    route: str | None = None
    """The venue, or BROKER>VENUE."""
    qty: int | None = None
    price: Decimal | None = None
    status: str | None = None
    """OrdStatus of the venue's last report (name, e.g. Filled), None before any."""
    fills: list[Fill] = field(default_factory=list)

    @property
    def filled(self) -> int:
        return sum(f.qty for f in self.fills)

    @property
    def avg_px(self) -> Decimal | None:
        filled = self.filled
        if not filled:
            return None
        return sum((f.price * f.qty for f in self.fills), Decimal(0)) / filled


@dataclass
class Lifecycle:
    cl_ord_id: str
    """The ClOrdID asked about."""
    chain: list[str]
    """The parent's ClOrdIDs in the order they first appeared."""
    order_ids: list[str]
    children: list[ChildOrder]
    entries: list[Entry]
    """Time order (file order for equal times)."""
    oms: str | None = None
    symbol: str | None = None
    side: str | None = None
    """Side (54) as on the wire: "1" buy, "2" sell."""
    qty: int | None = None
    """The latest OrderQty reported to the OMS (after replaces), else the order's."""
    price: str | None = None
    status: str | None = None
    """OrdStatus of the last report to the OMS (name)."""
    cum_qty: int | None = None
    avg_px: str | None = None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _is_oms(record: dict[str, Any]) -> bool:
    cpty = record.get("cpty")
    return isinstance(cpty, str) and (cpty == "oms" or cpty.startswith("oms:"))


def fix_fields(text: str) -> dict[int, str]:
    """Tags of a stored ``8=FIX.4.4|9=...|`` text, first occurrence of each. A ``|``
    inside a value (Text) is kept: a piece not shaped ``digits=`` continues the value."""
    fields: dict[int, str] = {}
    tag: int | None = None
    for piece in text.split("|"):
        number, sep, value = piece.partition("=")
        if sep and number.isdigit():
            tag = int(number)
            if tag not in fields:
                fields[tag] = value
            else:
                tag = None  # a repeat: continuation pieces belong to it, not the first
        elif tag is not None and piece:
            fields[tag] += "|" + piece
    return fields


def _int(text: str | None) -> int | None:
    try:
        return int(Decimal(text)) if text else None
    except (InvalidOperation, ValueError):
        return None


def _decimal(text: str | None) -> Decimal | None:
    try:
        return Decimal(text) if text else None
    except InvalidOperation:
        return None


Node = tuple[str, str]
"""(OMS counterparty, ClOrdID): ClOrdIDs are unique per OMS session only."""


def lifecycle(records: Iterable[dict[str, Any]], cl_ord_id: str,
              source: str | Path = "the audit trail",
              counterparty: str | None = None) -> Lifecycle:
    """One parent order's life from any of its ClOrdIDs (or a child's). ``counterparty``
    (``oms:<session>``) picks the session when several OMS sessions used the ClOrdID.
    ``records`` is read twice: pass something re-iterable (a one-shot iterator is first
    made a list)."""
    if iter(records) is records:
        records = list(records)

    # Pass 1: identifiers only.
    links: dict[Node, set[Node]] = defaultdict(set)
    order_ids_of: dict[Node, set[str]] = defaultdict(set)
    node_of_order: dict[str, Node] = {}
    sessions_of: dict[str, set[str]] = defaultdict(set)
    children_of_order: dict[str, list[dict[str, Any]]] = defaultdict(list)
    order_of_child: dict[str, str] = {}
    last_in: dict[tuple[str, str], Node] = {}
    """The last inbound message with a ClOrdID by (counterparty, MsgSeqNum): sequence
    numbers restart at every logon, and a refusal follows what it refuses."""
    refusals: dict[int, Node] = {}
    """Session Rejects and BusinessMessageRejects (they carry no ClOrdID) by their place
    in the trail -> the message they refuse, found by RefSeqNum (45)."""
    for index, record in enumerate(records):
        kind = record.get("kind")
        if kind == "fix":
            if not _is_oms(record):
                continue
            cpty = record["cpty"]
            cl, orig = _str(record.get("cl_ord_id")), _str(record.get("orig_cl_ord_id"))
            seq, ref_seq = _str(record.get("seq")), _str(record.get("ref_seq"))
            if record.get("dir") == "in" and seq and cl:
                last_in[(cpty, seq)] = (cpty, cl)
            elif record.get("msg_type") in ("3", "j") and ref_seq:
                refused = last_in.get((cpty, ref_seq))
                if refused is not None:
                    refusals[index] = refused
            for one in (cl, orig):
                if one:
                    sessions_of[one].add(cpty)
            if cl and orig and cl != orig:
                links[(cpty, cl)].add((cpty, orig))
                links[(cpty, orig)].add((cpty, cl))
            order_id = _str(record.get("order_id"))
            if record.get("dir") == "out" and order_id and order_id != NO_ORDER_ID:
                for one in (cl, orig):
                    if one:
                        order_ids_of[(cpty, one)].add(order_id)
                        node_of_order.setdefault(order_id, (cpty, one))
        elif kind == "child":
            child, order_id = _str(record.get("child")), _str(record.get("order_id"))
            if child and order_id:
                children_of_order[order_id].append(record)
                order_of_child.setdefault(child, order_id)

    start = _start(cl_ord_id, counterparty, sessions_of, node_of_order, order_of_child,
                   source)
    chain_nodes = {start}
    todo = [start]
    while todo:
        for linked in links.get(todo.pop(), ()):
            if linked not in chain_nodes:
                chain_nodes.add(linked)
                todo.append(linked)
    order_id_set: set[str] = set()
    for node in chain_nodes:
        order_id_set |= order_ids_of.get(node, set())
    child_events = sorted((e for o in order_id_set for e in children_of_order.get(o, ())),
                          key=lambda e: e["ts"])
    children: dict[str, ChildOrder] = {}
    for event in child_events:
        child = children.setdefault(event["child"], ChildOrder(event["child"]))
        child.venue = child.venue or _str(event.get("venue"))
        child.route = child.route or _str(event.get("route"))
        if child.qty is None and isinstance(event.get("qty"), int):
            child.qty = event["qty"]
    chain_ids = {cl for _, cl in chain_nodes}
    del links, order_ids_of, node_of_order, sessions_of, children_of_order, order_of_child
    del last_in

    # Pass 2: the entries.
    entries: list[Entry] = []
    for index, record in enumerate(records):
        kind = record.get("kind")
        if kind == "fix":
            cl, orig = record.get("cl_ord_id"), record.get("orig_cl_ord_id")
            if _is_oms(record):
                cpty = record["cpty"]
                if not ((cpty, cl) in chain_nodes or (cpty, orig) in chain_nodes
                        or record.get("order_id") in order_id_set
                        or refusals.get(index) in chain_nodes):
                    continue
                role: Literal["oms", "venue", "event"] = "oms"
            elif cl in children or orig in children:
                role = "venue"
            else:
                continue
            text = record.get("fix")
            entries.append(Entry(record["ts"], role, record,
                                 fix_fields(text) if isinstance(text, str) else {}))
        else:
            order_id = _str(record.get("order_id"))
            if (order_id in order_id_set or _str(record.get("child")) in children
                    or (order_id is None and _str(record.get("parent")) in chain_ids)):
                entries.append(Entry(record["ts"], "event", record, {}))
    entries.sort(key=lambda e: e.ts)

    result = Lifecycle(
        cl_ord_id=cl_ord_id,
        chain=_first_seen(entries, chain_ids),
        order_ids=_first_seen_order_ids(entries, order_id_set),
        children=list(children.values()),
        entries=entries,
    )
    _summarise(result, children)
    return result


def _start(cl_ord_id: str, counterparty: str | None, sessions_of: dict[str, set[str]],
           node_of_order: dict[str, Node], order_of_child: dict[str, str],
           source: str | Path) -> Node:
    """The OMS node asked about: a parent ClOrdID in one session, or a child's parent."""
    sessions = sessions_of.get(cl_ord_id, set())
    if counterparty is not None:
        sessions &= {counterparty}
    if len(sessions) > 1:
        raise AuditReportError(
            f"ClOrdID {cl_ord_id} was used by several OMS sessions in {source} "
            f"({', '.join(sorted(sessions))}): say which")
    if sessions:
        return (next(iter(sessions)), cl_ord_id)
    order_id = order_of_child.get(cl_ord_id)
    node = node_of_order.get(order_id) if order_id else None
    if node is None or (counterparty is not None and node[0] != counterparty):
        raise AuditReportError(f"no order with ClOrdID {cl_ord_id} in {source}")
    return node


def _first_seen(entries: list[Entry], chain: set[str]) -> list[str]:
    ordered: dict[str, None] = {}
    for entry in entries:
        if entry.role == "oms":
            for key in ("orig_cl_ord_id", "cl_ord_id"):
                value = entry.record.get(key)
                if value in chain:
                    ordered.setdefault(value, None)
    return [*ordered, *sorted(chain - ordered.keys())]


def _first_seen_order_ids(entries: list[Entry], order_ids: set[str]) -> list[str]:
    ordered = dict.fromkeys(e.record["order_id"] for e in entries
                            if e.role == "oms" and e.record.get("order_id") in order_ids)
    return [*ordered, *sorted(order_ids - ordered.keys())]


def _summarise(result: Lifecycle, children: dict[str, ChildOrder]) -> None:
    """Header values from the OMS messages, child quantities, fills and statuses from the
    venue messages."""
    seen_exec: set[tuple[str, str]] = set()
    for entry in result.entries:
        f = entry.fields
        if entry.role == "oms":
            if entry.direction == "in" and entry.msg_type in ("D", "G"):
                result.oms = result.oms or entry.counterparty
                result.symbol = result.symbol or f.get(55)
                result.side = result.side or f.get(54)
                if entry.msg_type == "D" or result.qty is None:
                    result.qty = _int(f.get(38))
                    result.price = f.get(44)
            elif entry.direction == "out" and entry.msg_type == "8":
                result.symbol = result.symbol or f.get(55)
                result.side = result.side or f.get(54)
                result.qty = _int(f.get(38)) or result.qty
                result.price = f.get(44) or result.price
                result.status = _status_name(f.get(39))
                result.cum_qty = _int(f.get(14))
                result.avg_px = f.get(6)
        elif entry.role == "venue":
            cl, orig = entry.record.get("cl_ord_id"), entry.record.get("orig_cl_ord_id")
            child = children.get(cl) or children.get(orig)  # type: ignore[arg-type]
            if child is None:
                continue
            if entry.direction == "out" and entry.msg_type == "D" and cl == child.cl_ord_id:
                child.qty = child.qty if child.qty is not None else _int(f.get(38))
                child.price = _decimal(f.get(44))
                child.venue = child.venue or f.get(100) or entry.counterparty
            elif entry.direction == "in" and entry.msg_type == "8":
                child.status = _status_name(f.get(39)) or child.status
                last_qty, last_px = _int(f.get(32)), _decimal(f.get(31))
                exec_id = f.get(17)
                key = (entry.counterparty or "", exec_id or "")
                if last_qty and last_px is not None and (exec_id is None
                                                         or key not in seen_exec):
                    if exec_id is not None:
                        seen_exec.add(key)
                    child.fills.append(Fill(entry.ts, last_qty, last_px, exec_id))


# ---------------------------------------------------------------------- rendering

MSG_TYPES = {
    "D": "NewOrderSingle", "F": "OrderCancelRequest", "G": "OrderCancelReplaceRequest",
    "H": "OrderStatusRequest", "8": "ExecutionReport", "9": "OrderCancelReject",
    "j": "BusinessMessageReject", "3": "Reject",
}
SIDES = {"1": "Buy", "2": "Sell", "5": "SellShort", "6": "SellShortExempt"}
ORD_TYPES = {"1": "Market", "2": "Limit"}
TIFS = {"0": "Day", "1": "GTC", "3": "IOC", "4": "FOK", "6": "GTD"}


def _camel(name: str) -> str:
    return name.replace("_", " ").title().replace(" ", "")


EXEC_TYPES = {e.value: _camel(e.name) for e in ExecType} | {"D": "Restated", "3": "DoneForDay"}
ORD_STATUSES = {s.value: _camel(s.name) for s in OrdStatus} | {"3": "DoneForDay"}


def _status_name(value: str | None) -> str | None:
    return None if value is None else ORD_STATUSES.get(value, value)


def utc_time(ts_ns: int) -> str:
    seconds, ns = divmod(ts_ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, UTC).replace(microsecond=ns // 1000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_name(entry: Entry) -> str:
    if entry.role == "event":
        return entry.kind
    msg_type = entry.msg_type or "?"
    name = MSG_TYPES.get(msg_type, f"MsgType {msg_type}")
    if msg_type == "8" and (exec_type := entry.fields.get(150)) is not None:
        name += f" {EXEC_TYPES.get(exec_type, exec_type)}"
    return name


def entry_details(entry: Entry) -> str:
    """The key fields of one entry, in a line."""
    record, f = entry.record, entry.fields
    if entry.role == "event":
        return _event_details(record)
    parts: list[str] = []
    cl, orig = record.get("cl_ord_id"), record.get("orig_cl_ord_id")
    if cl:
        parts.append(f"{cl} (orig {orig})" if orig else str(cl))
    order_id = record.get("order_id")
    if order_id and order_id != NO_ORDER_ID:
        parts.append(f"order {order_id}")
    msg_type = entry.msg_type
    if msg_type in ("D", "G", "F", "H"):
        order = " ".join(x for x in (SIDES.get(f.get(54, ""), f.get(54)), f.get(38),
                                     f.get(55)) if x)
        if f.get(44):
            order += f" @ {f[44]}"
        for value, names in ((f.get(40), ORD_TYPES), (f.get(59), TIFS)):
            if value:
                order += f" {names.get(value, value)}"
        if order:
            parts.append(order)
        for tag, label in ((100, "ExDest"), (847, "strategy"), (110, "MinQty")):
            if f.get(tag):
                parts.append(f"{label} {f[tag]}")
    elif msg_type in ("8", "9"):
        if f.get(39):
            parts.append(str(_status_name(f[39])))
        if _int(f.get(32)):
            parts.append(f"last {f[32]} @ {f.get(31, '?')}" +
                         (f" on {f[30]}" if f.get(30) else ""))
        for tag, label in ((14, "cum"), (151, "leaves"), (6, "avg")):
            if tag in f and (tag != 6 or _int(f.get(14))):
                parts.append(f"{label} {f[tag]}")
        if f.get(12):
            parts.append(f"commission {f[12]}")
    elif msg_type in ("3", "j"):
        for tag, label in ((45, "RefSeqNum"), (371, "RefTagID"), (372, "RefMsgType"),
                           (373, "reason"), (380, "reason")):
            if f.get(tag):
                parts.append(f"{label} {f[tag]}")
    return "  ".join(parts)


def _event_details(record: dict[str, Any]) -> str:
    if record.get("kind") == "child":
        text = f"{record.get('child')} -> {record.get('venue', '?')}"
        if record.get("route") and record.get("route") != record.get("venue"):
            text += f" via {record['route']}"
        if record.get("qty") is not None:
            text += f"  qty {record['qty']}"
        return text
    parts = []
    for key, value in record.items():
        if key in ("ts", "kind"):
            continue
        shown = value if isinstance(value, str) else orjson.dumps(value).decode()
        parts.append(f"{key}={shown}")
    return "  ".join(parts)


def print_lifecycle(result: Lifecycle, console: Console | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console(width=max(150, Console().width))

    header = Table.grid(padding=(0, 2))
    header.add_column(style="bold")
    header.add_column()
    header.add_row("ClOrdID", " -> ".join(result.chain))
    header.add_row("OrderID", ", ".join(result.order_ids) or "-")
    if result.oms:
        header.add_row("OMS", result.oms)
    order = " ".join(x for x in (SIDES.get(result.side or "", result.side),
                                 None if result.qty is None else str(result.qty),
                                 result.symbol) if x)
    if result.price:
        order += f" @ {result.price}"
    header.add_row("Order", order or "-")
    status = result.status or "-"
    if result.cum_qty:
        status += f" (filled {result.cum_qty} @ avg {result.avg_px or '?'})"
    header.add_row("Status", status)
    console.print(header)

    if result.children:
        table = Table(title="Children", title_justify="left")
        for i, name in enumerate(("child", "route", "qty", "filled", "avg px", "status")):
            table.add_column(name, justify="right" if 2 <= i <= 4 else "left")
        for child in result.children:
            avg = child.avg_px
            table.add_row(
                child.cl_ord_id, child.route or child.venue or "-",
                "-" if child.qty is None else str(child.qty), str(child.filled),
                "-" if avg is None else _fmt_px(avg), child.status or "sent")
        console.print(table)

    table = Table(title="Timeline (UTC)", title_justify="left")
    for name in ("time", "", "counterparty", "message", "details", "text"):
        table.add_column(name, overflow="fold")  # a compliance record: never elided
    arrows = {"in": "<-", "out": "->"}
    for entry in result.entries:
        table.add_row(
            utc_time(entry.ts),
            arrows.get(entry.direction or "", "*"),
            entry.counterparty or "sor",
            entry_name(entry),
            entry_details(entry),
            entry.record.get("text") or (entry.record.get("reason")
                                         if entry.role == "event" else None) or "",
        )
    console.print(table)


def _fmt_px(value: Decimal) -> str:
    text = format(value.quantize(Decimal("1e-6")).normalize(), "f")
    return text


# ---------------------------------------------------------------------------- CLI


class _Trail:
    """The trail as a re-iterable (each pass rereads the files)."""

    def __init__(self, path: Path, stats: TrailStats) -> None:
        self.path, self.stats = path, stats

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return read_trail(self.path, self.stats)


def main(path: Path, cl_ord_id: str, counterparty: str | None = None) -> int:
    """Print the lifecycle of ``cl_ord_id``: 0, or the error on stderr and 1."""
    path = Path(path)
    stats = TrailStats()
    try:
        result = lifecycle(_Trail(path, stats), cl_ord_id, source=path,
                           counterparty=counterparty)
    except AuditReportError as exc:
        print(f"sor-daemon audit: {exc}", file=sys.stderr)
        return 1
    print_lifecycle(result)
    if stats.truncated_tail:
        print(f"sor-daemon audit: note: the last line of {stats.files[-1]} is half a record "
              "(the daemon stopped while writing it); skipped", file=sys.stderr)
    return 0
