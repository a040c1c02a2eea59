"""Two FIX relays with no logic at all: the floor under any router built on quickfix's
Python binding, measured beside the daemon.

Each relay takes a NewOrderSingle from the OMS, sends it on to the echo under a new
ClOrdID, and sends every ExecutionReport back to the OMS under the parent's ClOrdID:
one parse, one message built and one ``sendToTarget`` per message, nothing else (no
validation, risk, routing, journal, audit or metrics). They differ only in where that
runs:

- ``RTHREAD``: inside quickfix's ``fromApp``, on quickfix's own thread (the echo's way):
  the floor of the binding itself;
- ``RLOOP``: handed to an asyncio (uvloop) loop with ``call_soon_threadsafe`` and sent
  from there, as the daemon does (one writer of state, on the loop): the floor of the
  daemon's threading.

    python -m sor_daemon.tools.bench.relay --port P --echo-port E
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
import sys
import threading
from collections.abc import Callable

import quickfix as fix

from sor_daemon.fix import codec
from sor_daemon.fix.dictionary import data_dictionary_path
from sor_daemon.fix.endpoint import (
    BEGIN_STRING,
    INITIATOR_QUALIFIER,
    BareApplication,
    SessionSpec,
    build_message,
    session_settings,
)
from sor_daemon.tools.bench.driver import TERMINAL

ON_THREAD = "RTHREAD"
ON_LOOP = "RLOOP"
RELAYS = (ON_THREAD, ON_LOOP)
"""The relays' CompIDs: each has a session from the OMS and one to the echo."""
OMS_COMP_ID = "BENCH"
ECHO_COMP_ID = "ECHO"
NOT_BODY = frozenset({8, 9, 10, 34, 35, 43, 49, 52, 56, 97, 122})
"""Header and trailer tags: quickfix writes its own."""


def _session_ids(relay: str) -> tuple[fix.SessionID, fix.SessionID]:
    """The relay's session from the OMS and its session to the echo."""
    return (fix.SessionID(BEGIN_STRING, relay, OMS_COMP_ID),
            fix.SessionID(BEGIN_STRING, relay, ECHO_COMP_ID, INITIATOR_QUALIFIER))


class Relay:
    """One relay's orders in flight: child ClOrdID -> parent ClOrdID."""

    def __init__(self, relay: str, dictionary: fix.DataDictionary) -> None:
        self._oms, self._venue = _session_ids(relay)
        self._dictionary = dictionary
        self._ids = itertools.count(1)
        self._prefix = f"{relay}-"
        self._parents: dict[str, str] = {}

    def forward(self, raw: str) -> None:
        message = codec.parse(raw)
        if message.msg_type == "D":
            child = f"{self._prefix}{next(self._ids)}"
            self._parents[child] = message.require(11)
            self._send("D", message, child, self._venue)
        elif message.msg_type == "8":
            child = message.require(11)
            parent = (self._parents.pop(child, None) if message.get(39) in TERMINAL
                      else self._parents.get(child))
            if parent is not None:
                self._send("8", message, parent, self._oms)

    def _send(self, msg_type: str, message: codec.FixMessage, cl_ord_id: str,
              session_id: fix.SessionID) -> None:
        pairs = [(tag, cl_ord_id if tag == 11 else value) for tag, value in message.pairs
                 if tag not in NOT_BODY]
        fix.Session.sendToTarget(build_message(msg_type, pairs, self._dictionary), session_id)


class RelayApplication(BareApplication):
    """Both relays' callbacks. Errors are counted, never raised: an exception that
    escapes a quickfix callback ends the process."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._loop = loop
        dictionary = fix.DataDictionary(data_dictionary_path())
        on_thread, on_loop = Relay(ON_THREAD, dictionary), Relay(ON_LOOP, dictionary)
        lock = threading.Lock()  # the OMS's thread and the echo's both forward

        def forward_on_thread(raw: str) -> None:
            with lock:
                on_thread.forward(raw)

        def forward_on_loop(raw: str) -> None:
            loop.call_soon_threadsafe(self._guarded, on_loop.forward, raw)

        self._forward: dict[str, Callable[[str], None]] = {}
        for relay, forward in ((ON_THREAD, forward_on_thread), (ON_LOOP, forward_on_loop)):
            for session_id in _session_ids(relay):
                self._forward[session_id.toString()] = forward
        self.errors = 0

    def _guarded(self, forward: Callable[[str], None], raw: str) -> None:
        try:
            forward(raw)
        except Exception:  # noqa: BLE001 - counted; the relay goes on
            self.errors += 1

    def fromApp(self, message, session_id):  # noqa: N802 - quickfix's names
        try:
            self._forward[session_id.toString()](message.toString())
        except Exception:  # noqa: BLE001 - must not escape into quickfix
            self.errors += 1


async def serve(port: int, echo_port: int) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):  # after `import quickfix`
        loop.add_signal_handler(sig, stop.set)
    app = RelayApplication(loop)
    store = fix.MemoryStoreFactory()
    acceptor = fix.ThreadedSocketAcceptor(app, store, session_settings(
        False, [SessionSpec(sender_comp_id=r, target_comp_id=OMS_COMP_ID, port=port)
                for r in RELAYS]))
    initiator = fix.SocketInitiator(app, store, session_settings(
        True, [SessionSpec(sender_comp_id=r, target_comp_id=ECHO_COMP_ID, port=echo_port)
               for r in RELAYS]))
    acceptor.start()
    await asyncio.to_thread(initiator.start)
    print("ready", flush=True)
    await stop.wait()
    await asyncio.to_thread(initiator.stop)
    await asyncio.to_thread(acceptor.stop)
    return 1 if app.errors else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True, help="where the OMS logs on")
    parser.add_argument("--echo-port", type=int, required=True)
    args = parser.parse_args(argv)
    import uvloop

    return uvloop.run(serve(args.port, args.echo_port))


if __name__ == "__main__":
    sys.exit(main())
