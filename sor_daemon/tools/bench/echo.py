"""A bare quickfix echo: answers every NewOrderSingle with an ExecutionReport New and a
full fill, from quickfix's own thread, as fast as quickfix allows.

The same process serves both paths of the benchmark: the baseline (the bench's OMS
session logs on here directly) and the daemon path (the daemon logs on here as to a lit
venue, so it also answers MarketDataRequest with one static, deep book per symbol). Its
sessions have the daemon's own quickfix settings (`settings_text`), so the two paths
differ only by what the daemon does.

    python -m sor_daemon.tools.bench.echo --port P --session ECHO:BENCH --session ECHO:SOR
"""

from __future__ import annotations

import argparse
import itertools
import signal
import threading
from decimal import Decimal

import quickfix as fix

from sor_daemon.core.domain import ExecType, LiquidityInd, OrdStatus
from sor_daemon.core.messages import ExecutionReport
from sor_daemon.fix import codec
from sor_daemon.fix.dictionary import data_dictionary_path
from sor_daemon.fix.endpoint import BareApplication, SessionSpec, build_message, session_settings

BID = Decimal("190.00")
ASK = Decimal("190.10")
BOOK_SIZE = 1_000_000_000
"""Shares at each side of the static book: never exhausted by a run."""


class EchoApplication(BareApplication):
    """Every callback answers at once and swallows its errors (counted): an exception
    that escapes a quickfix callback ends the process."""

    def __init__(self) -> None:
        super().__init__()
        self._dictionary = fix.DataDictionary(data_dictionary_path())
        self._ids = itertools.count(1)
        self._lock = threading.Lock()  # one thread per connection: ids stay unique
        self.errors = 0

    def fromApp(self, message, session_id):  # noqa: N802 - quickfix's names
        try:
            request = codec.parse(message.toString())
            if request.msg_type == "D":
                for report in self.fill(request):
                    self._send("8", codec.encode_execution_report(report), session_id)
            elif request.msg_type == "V":
                subscription = codec.decode_market_data_request(request)
                for symbol in subscription.symbols:
                    self._send("W", codec.encode_snapshot(
                        subscription.req_id, symbol, [(BID, BOOK_SIZE)], [(ASK, BOOK_SIZE)]),
                        session_id)
        except Exception:  # noqa: BLE001 - must not escape into quickfix
            self.errors += 1

    def fill(self, request: codec.FixMessage) -> tuple[ExecutionReport, ExecutionReport]:
        """New, then one fill of the whole quantity at the limit (a market order at the
        far touch)."""
        order = codec.decode_new_order(request)
        with self._lock:
            n = next(self._ids)
        qty = int(order.order_qty or 0)
        side = order.side or "1"
        price = Decimal(order.price) if order.price else (ASK if side == "1" else BID)
        new = ExecutionReport(
            order_id=f"EO{n}", cl_ord_id=order.cl_ord_id, exec_id=f"EN{n}",
            exec_type=ExecType.NEW, ord_status=OrdStatus.NEW, symbol=order.symbol or "",
            side=side, order_qty=qty, leaves_qty=qty, cum_qty=0, avg_px=Decimal(0))
        filled = ExecutionReport(
            order_id=f"EO{n}", cl_ord_id=order.cl_ord_id, exec_id=f"EF{n}",
            exec_type=ExecType.TRADE, ord_status=OrdStatus.FILLED, symbol=order.symbol or "",
            side=side, order_qty=qty, leaves_qty=0, cum_qty=qty, avg_px=price,
            last_qty=qty, last_px=price, liquidity=LiquidityInd.REMOVED)
        return new, filled

    def _send(self, msg_type: str, pairs: codec.Pairs, session_id: fix.SessionID) -> None:
        fix.Session.sendToTarget(build_message(msg_type, pairs, self._dictionary), session_id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--session", action="append", required=True, metavar="OURS:THEIRS",
                        help="our CompID and the peer's, once per session")
    args = parser.parse_args(argv)
    specs = [SessionSpec(sender_comp_id=ours, target_comp_id=theirs, port=args.port)
             for ours, theirs in (s.split(":", 1) for s in args.session)]
    app = EchoApplication()
    acceptor = fix.ThreadedSocketAcceptor(app, fix.MemoryStoreFactory(),
                                          session_settings(False, specs))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    acceptor.start()
    print("ready", flush=True)
    while not stop.wait(0.2):
        pass
    acceptor.stop()
    return 1 if app.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
