"""One quickfix engine bridged to an asyncio loop.

Initiators are ``SocketInitiator`` (one poll thread, non-blocking writes). Acceptors are
``ThreadedSocketAcceptor``: quickfix 1.16's ``SocketAcceptor::stop`` is not safe on
Linux. Its ``onStop`` shuts the listening socket down, which wakes the poll thread, which
then deletes the socket server that ``onStop`` is still iterating (use-after-free in
``SocketServer::close``; seen in core dumps, and within 20 start/stop cycles in a
stress loop, while the threaded acceptor survived 100). The price: a threaded acceptor's
send writes to the socket in the caller, so a peer that stops reading can block the
sender once the kernel's socket buffer is full.

quickfix calls back on its own C++ thread with borrowed objects. Each callback here
copies what it needs (the session name, the message text), hands it to the loop with
``call_soon_threadsafe`` and swallows every error after counting it: an exception that
escapes a callback would end the process. Everything else (parsing, state, sends) runs
on the loop thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import quickfix as fix

from sor_daemon.fix.codec import SOH, FixMessage, Pairs, parse
from sor_daemon.fix.dictionary import data_dictionary_path
from sor_daemon.metrics import CALLBACK_ERRORS, SESSION_REJECTS

BEGIN_STRING = "FIX.4.4"
ACCEPTOR_QUIET_SECONDS = 0.3
"""How long an acceptor must see no logon or logout before it is stopped, so that its
connection threads have finished with a peer that has just gone."""


@dataclass(frozen=True)
class SessionSpec:
    """One FIX session of an endpoint, as the local side sees it."""

    sender_comp_id: str
    target_comp_id: str
    port: int
    host: str = "127.0.0.1"
    """Initiators connect here; acceptors listen on every interface (quickfix 1.16 has
    no bind address) and refuse logons from addresses outside ``allowed_addresses``."""
    heartbeat_seconds: int = 30
    reconnect_seconds: int = 1
    allowed_addresses: tuple[str, ...] = ("127.0.0.1",)
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{BEGIN_STRING}:{self.sender_comp_id}->{self.target_comp_id}"


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0,
                     interval: float = 0.01) -> bool:
    """Poll ``predicate`` on the loop until it holds or ``timeout`` seconds pass."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(interval)
    return True


def settings_text(initiator: bool, sessions: list[SessionSpec], log_dir: str | None) -> str:
    lines = [
        "[DEFAULT]",
        f"ConnectionType={'initiator' if initiator else 'acceptor'}",
        "StartTime=00:00:00",
        "EndTime=00:00:00",
        "UseDataDictionary=Y",
        f"DataDictionary={data_dictionary_path()}",
        "ResetOnLogon=Y",
        "ResetOnLogout=Y",
        "ResetOnDisconnect=Y",
        "SocketNodelay=Y",
        "SocketReuseAddress=Y",
        "LogonTimeout=5",
        "LogoutTimeout=2",
        "TimestampPrecision=6",
    ]
    if log_dir:
        lines.append(f"FileLogPath={log_dir}")
    for spec in sessions:
        lines += [
            "[SESSION]",
            f"BeginString={BEGIN_STRING}",
            f"SenderCompID={spec.sender_comp_id}",
            f"TargetCompID={spec.target_comp_id}",
            f"HeartBtInt={spec.heartbeat_seconds}",
        ]
        if initiator:
            lines += [
                f"SocketConnectHost={spec.host}",
                f"SocketConnectPort={spec.port}",
                f"ReconnectInterval={spec.reconnect_seconds}",
            ]
        else:
            lines.append(f"SocketAcceptPort={spec.port}")
            if spec.allowed_addresses:
                lines.append(f"AllowedRemoteAddresses={','.join(spec.allowed_addresses)}")
        lines += [f"{key}={value}" for key, value in spec.extra.items()]
    return "\n".join(lines) + "\n"


class FixHandler(Protocol):
    """What an endpoint tells its owner, always on the loop thread."""

    def on_logon(self, session: str) -> None: ...

    def on_logout(self, session: str) -> None: ...

    def on_message(self, session: str, message: FixMessage) -> None: ...


class CallbackErrors:
    """Errors caught inside quickfix callbacks (counted from any thread)."""

    def __init__(self, endpoint: str) -> None:
        self._lock = threading.Lock()
        self._metric = CALLBACK_ERRORS.labels(endpoint)
        self.count = 0
        self.last = ""

    def add(self, exc: BaseException) -> None:
        with self._lock:
            self.count += 1
            self.last = repr(exc)
        self._metric.inc()


class _Application(fix.Application):
    def __init__(self, endpoint: FixEndpoint) -> None:
        super().__init__()
        self._endpoint = endpoint

    def onCreate(self, session_id):  # noqa: N802 - quickfix's names
        pass

    def onLogon(self, session_id):  # noqa: N802
        try:
            self._endpoint._post(self._endpoint._logon, session_id.toString())
        except Exception as exc:  # noqa: BLE001 - must not escape into quickfix
            self._endpoint.errors.add(exc)

    def onLogout(self, session_id):  # noqa: N802
        try:
            self._endpoint._post(self._endpoint._logout, session_id.toString())
        except Exception as exc:  # noqa: BLE001
            self._endpoint.errors.add(exc)

    def toAdmin(self, message, session_id):  # noqa: N802
        pass

    def fromAdmin(self, message, session_id):  # noqa: N802
        try:
            raw = message.toString()
            if f"{SOH}35=3{SOH}" in raw:
                self._endpoint._post(self._endpoint._session_reject, session_id.toString(), raw)
            refusal = self._endpoint.logon_refusal
            if refusal is not None and f"{SOH}35=A{SOH}" in raw:
                raise fix.RejectLogon(refusal)
        except fix.RejectLogon:
            raise  # quickfix's own: refuses the logon with this text
        except Exception as exc:  # noqa: BLE001
            self._endpoint.errors.add(exc)

    def toApp(self, message, session_id):  # noqa: N802
        pass

    def fromApp(self, message, session_id):  # noqa: N802
        try:
            self._endpoint._post(self._endpoint._receive, session_id.toString(),
                                 message.toString())
        except Exception as exc:  # noqa: BLE001
            self._endpoint.errors.add(exc)


class FixEndpoint:
    """A quickfix acceptor or initiator whose sessions are driven from an asyncio loop."""

    def __init__(
        self,
        name: str,
        sessions: list[SessionSpec],
        handler: FixHandler,
        *,
        initiator: bool,
        log_dir: str | None = None,
        on_error: Callable[[str, str, Exception], None] | None = None,
    ) -> None:
        self.name = name
        self.errors = CallbackErrors(name)
        self._handler = handler
        self._initiator = initiator
        self._specs = {spec.name: spec for spec in sessions}
        self._session_ids = {
            spec.name: fix.SessionID(BEGIN_STRING, spec.sender_comp_id, spec.target_comp_id)
            for spec in sessions
        }
        self._logged_on: set[str] = set()
        self.session_rejects: deque[FixMessage] = deque(maxlen=1000)
        """Session-level Rejects (35=3) the counterparty sent us, newest last."""
        self._on_error = on_error
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_change = 0.0
        self.logon_refusal: str | None = None
        """While set, logons are refused with this text (read on quickfix's thread)."""
        self._dictionary = fix.DataDictionary(data_dictionary_path())
        settings = fix.SessionSettings()
        settings.setFromString(settings_text(initiator, sessions, log_dir))
        self._settings = settings
        self._app = _Application(self)
        self._store = fix.MemoryStoreFactory()
        self._log = fix.FileLogFactory(settings) if log_dir else None
        self._engine: fix.ThreadedSocketAcceptor | fix.SocketInitiator | None = None

    @property
    def sessions(self) -> list[str]:
        return list(self._specs)

    def is_logged_on(self, session: str) -> bool:
        return session in self._logged_on

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        engine_type = fix.SocketInitiator if self._initiator else fix.ThreadedSocketAcceptor
        if self._log is not None:
            self._engine = engine_type(self._app, self._store, self._settings, self._log)
        else:
            self._engine = engine_type(self._app, self._store, self._settings)
        await asyncio.to_thread(self._engine.start)

    async def stop(self, timeout: float = 5.0) -> None:
        """Log every session out, wait (bounded) for the logouts, then stop the engine."""
        if self._engine is None:
            return
        engine, self._engine = self._engine, None
        for session_id in self._session_ids.values():
            found = fix.Session.lookupSession(session_id)
            if found is not None:
                found.logout("shutting down")
        await self.wait_logged_out(timeout)
        if not self._initiator:
            loop = asyncio.get_running_loop()
            idle = self._last_change + ACCEPTOR_QUIET_SECONDS - loop.time()
            await asyncio.sleep(max(idle, ACCEPTOR_QUIET_SECONDS / 3))
        await asyncio.to_thread(engine.stop, True)  # logouts done above: no 1 s polls

    def logout_all(self, reason: str) -> None:
        """Log out every logged-on session (the peers may reconnect)."""
        for session in list(self._logged_on):
            found = fix.Session.lookupSession(self._session_ids[session])
            if found is not None:
                found.logout(reason)

    def enable_all(self) -> None:
        """Re-enable every session after `logout_all` (quickfix's logout disables it)."""
        for session_id in self._session_ids.values():
            found = fix.Session.lookupSession(session_id)
            if found is not None:
                found.logon()

    async def wait_logged_out(self, timeout: float) -> bool:
        return await wait_until(lambda: not self._logged_on, timeout)

    async def wait_logged_on(self, session: str | None = None, timeout: float = 10.0) -> bool:
        names = [session] if session else self.sessions
        return await wait_until(lambda: all(n in self._logged_on for n in names), timeout)

    def send(self, session: str, msg_type: str, pairs: Pairs) -> bool:
        """Send from the loop; False (nothing stored or sent) while the session is down."""
        if session not in self._logged_on:
            return False
        body = "".join(f"{tag}={value}{SOH}" for tag, value in pairs)
        message = fix.Message()
        message.setString(
            f"8={BEGIN_STRING}{SOH}9=0{SOH}35={msg_type}{SOH}{body}10=000{SOH}",
            False,
            self._dictionary,
        )
        return bool(fix.Session.sendToTarget(message, self._session_ids[session]))

    # ------------------------------------------------------------ loop side

    def _post(self, callback: Callable[..., None], *args: str) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(callback, *args)

    def _logon(self, session: str) -> None:
        self._last_change = asyncio.get_running_loop().time()
        self._logged_on.add(session)
        self._handler.on_logon(session)

    def _logout(self, session: str) -> None:
        self._last_change = asyncio.get_running_loop().time()
        if session in self._logged_on:
            self._logged_on.discard(session)
            self._handler.on_logout(session)

    def _session_reject(self, session: str, raw: str) -> None:
        SESSION_REJECTS.labels(self.name).inc()
        self.session_rejects.append(parse(raw))

    def _receive(self, session: str, raw: str) -> None:
        """Parse and dispatch one inbound message; a failure is reported, never raised."""
        try:
            self._handler.on_message(session, parse(raw))
        except Exception as exc:  # one bad message must not stop the loop
            if self._on_error is None:
                raise
            self._on_error(session, raw, exc)
