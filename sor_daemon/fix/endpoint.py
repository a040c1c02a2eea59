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
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import quickfix as fix

from sor_daemon.fix.codec import (
    SOH,
    FixMessage,
    Pairs,
    field_text,
    masked,
    parse,
    readable,
    undecodable_tag,
)
from sor_daemon.fix.dictionary import data_dictionary_path
from sor_daemon.fix.metrics import CALLBACK_ERRORS, SESSION_REJECTS

BEGIN_STRING = "FIX.4.4"
INITIATOR_QUALIFIER = "initiator"
"""The SessionQualifier of every initiator session. quickfix's acceptors look the session
of a new connection up in a process-wide registry, by the reversed CompIDs of its first
message, and check that the session is theirs only after taking it over. Unqualified, a
Logon on the OMS port with ``49=XNAS 56=SOR`` would take the daemon's own session to XNAS
away from its socket until heartbeats time out. A qualified session is never found by
that lookup; acceptors cannot have qualifiers (quickfix refuses them), and do not need
them: the peer of one of ours is found only by our own acceptor."""
ACCEPTOR_QUIET_SECONDS = 0.3
"""How long an acceptor must see no logon or logout before it is stopped, so that its
connection threads have finished with a peer that has just gone."""
DRAIN_BATCH = 64
"""Inbound events handled in one turn of the loop before it sees to anything else."""
BACKLOG_HIGH = 1000
"""Inbound events queued for one session past which its owner is told to stop reading
from it (`FixEndpoint` ``backlog``) ..."""
BACKLOG_LOW = 250
"""... and below which it is told to read again."""


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
    logon_fields: dict[int, str] = field(default_factory=dict)
    """Added to our Logon (an initiator's Username 553 / Password 554)."""
    timestamp_precision: int = 3
    """Decimals of a second in the SendingTime (52) and OrigSendingTime (122) quickfix
    writes: 0, 3, 6 or 9. FIX 4.4's UTCTimestamp has seconds or milliseconds (3); finer
    ones are for counterparties that accept them."""

    @property
    def name(self) -> str:
        return f"{BEGIN_STRING}:{self.sender_comp_id}->{self.target_comp_id}"


@dataclass(frozen=True)
class SessionStore:
    """How an endpoint's sessions keep sequence numbers and sent messages. The default
    keeps nothing: numbering restarts at every logon. Durable sessions (``reset_on_logon``
    False) continue their numbering across reconnects, and with a ``path`` across
    restarts of the process; a gap is then closed by FIX resend."""

    path: str | None = None
    """quickfix FileStore directory (FileStorePath); None: MemoryStore (lost with the
    process)."""
    persist_messages: bool = False
    """PersistMessages: keep sent application messages for resend. `FixEndpoint.send`
    then also sends while logged out: quickfix stores the message and resends it when
    the peer, back, asks for it."""
    reset_on_logon: bool = True
    """ResetOnLogon, ResetOnLogout and ResetOnDisconnect."""
    send_next_expected: bool = False
    """SendNextExpectedMsgSeqNum: our Logon carries NextExpectedMsgSeqNum (789), so the
    peer resends what we missed at once, and a fresh acceptor can adopt our numbering."""
    adopt_when_fresh: bool = False
    """An acceptor that has lost its state (a restarted simulated venue) takes over the
    numbering of a counterparty's Logon instead of disconnecting it as too low or asking
    it to resend everything: it has nothing to resend and nothing to ask for."""
    never_resend: frozenset[str] = frozenset()
    """MsgTypes gap-filled instead of resent (market data: stale by the time it would
    arrive; a new subscription gets a fresh snapshot)."""


class SeqNums(NamedTuple):
    """A session's next outbound (sender) and next expected inbound (target) MsgSeqNum."""

    sender: int
    target: int


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


def settings_text(initiator: bool, sessions: list[SessionSpec], log_dir: str | None,
                  store: SessionStore = SessionStore()) -> str:
    reset = "Y" if store.reset_on_logon else "N"
    lines = [
        "[DEFAULT]",
        f"ConnectionType={'initiator' if initiator else 'acceptor'}",
        "StartTime=00:00:00",
        "EndTime=00:00:00",
        "UseDataDictionary=Y",
        f"DataDictionary={data_dictionary_path()}",
        f"ResetOnLogon={reset}",
        f"ResetOnLogout={reset}",
        f"ResetOnDisconnect={reset}",
        "SocketNodelay=Y",
        "SocketReuseAddress=Y",
        "LogonTimeout=5",
        "LogoutTimeout=2",
        # By default sequence numbers restart at every logon, so nothing sent on one
        # connection is ever resent on another; within a connection TCP loses nothing,
        # and a stray ResendRequest gets a gap fill. Kept, every message sent would stay
        # in memory for the life of the session (quickfix's MemoryStore never trims).
        f"PersistMessages={'Y' if store.persist_messages else 'N'}",
    ]
    if store.send_next_expected:
        lines.append("SendNextExpectedMsgSeqNum=Y")
    if store.path:
        lines.append(f"FileStorePath={store.path}")
    if log_dir:
        lines.append(f"FileLogPath={log_dir}")
    for spec in sessions:
        lines += [
            "[SESSION]",
            f"BeginString={BEGIN_STRING}",
            f"SenderCompID={spec.sender_comp_id}",
            f"TargetCompID={spec.target_comp_id}",
            f"HeartBtInt={spec.heartbeat_seconds}",
            f"TimestampPrecision={spec.timestamp_precision}",
        ]
        if initiator:
            lines += [
                f"SessionQualifier={INITIATOR_QUALIFIER}",
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


def session_settings(initiator: bool, sessions: list[SessionSpec], log_dir: str | None = None,
                     store: SessionStore = SessionStore()) -> fix.SessionSettings:
    """quickfix's settings for these sessions (`settings_text`)."""
    settings = fix.SessionSettings()
    settings.setFromString(settings_text(initiator, sessions, log_dir, store))
    return settings


def build_message(msg_type: str, pairs: Pairs, dictionary: fix.DataDictionary) -> fix.Message:
    """One quickfix message from tag-value pairs, in a single call into quickfix (the
    header's CompIDs, sequence number, length and checksum are quickfix's to fill in)."""
    body = "".join(f"{tag}={value}{SOH}" for tag, value in pairs)
    return fix.Message(f"8={BEGIN_STRING}{SOH}9=0{SOH}35={msg_type}{SOH}{body}10=000{SOH}",
                       dictionary, False)


class BareApplication(fix.Application):
    """A quickfix Application whose every callback does nothing: subclass it and
    override what you need (quickfix's callbacks are pure virtual)."""

    def onCreate(self, session_id):  # noqa: N802 - quickfix's names
        pass

    def onLogon(self, session_id):  # noqa: N802
        pass

    def onLogout(self, session_id):  # noqa: N802
        pass

    def toAdmin(self, message, session_id):  # noqa: N802
        pass

    def fromAdmin(self, message, session_id):  # noqa: N802
        pass

    def toApp(self, message, session_id):  # noqa: N802
        pass

    def fromApp(self, message, session_id):  # noqa: N802
        pass


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
        self._never_resend = endpoint.store.never_resend
        self._adopt_when_fresh = endpoint.store.adopt_when_fresh

    def onCreate(self, session_id):  # noqa: N802 - quickfix's names
        pass

    def onLogon(self, session_id):  # noqa: N802
        try:
            endpoint = self._endpoint
            session = endpoint.name_of(session_id)
            endpoint._queue(session, endpoint._logon, session)
        except Exception as exc:  # noqa: BLE001 - must not escape into quickfix
            self._endpoint.errors.add(exc)

    def onLogout(self, session_id):  # noqa: N802
        try:
            endpoint = self._endpoint
            session = endpoint.name_of(session_id)
            endpoint._queue(session, endpoint._logout, session)
        except Exception as exc:  # noqa: BLE001
            self._endpoint.errors.add(exc)

    def toAdmin(self, message, session_id):  # noqa: N802
        try:
            endpoint = self._endpoint
            if endpoint.has_logon_fields and message.getHeader().getField(35) == "A":
                spec = endpoint._specs.get(endpoint.name_of(session_id))
                for tag, value in spec.logon_fields.items() if spec else ():
                    message.setField(tag, value)
        except Exception as exc:  # noqa: BLE001
            self._endpoint.errors.add(exc)

    def fromAdmin(self, message, session_id):  # noqa: N802
        try:
            endpoint = self._endpoint
            raw = message.toString()
            session = endpoint.name_of(session_id)
            if f"{SOH}35=3{SOH}" in raw:
                endpoint._post(endpoint._session_reject, session, raw)
            if f"{SOH}35=A{SOH}" in raw:
                refusal = endpoint._logon_refusal(session, raw)
                if refusal is not None:
                    endpoint._post(endpoint._refused, session, refusal)
                    raise fix.RejectLogon(refusal)
                if self._adopt_when_fresh:
                    adopt_numbering(session_id, raw)
        except fix.RejectLogon:
            raise  # quickfix's own: refuses the logon with this text
        except Exception as exc:  # noqa: BLE001
            self._endpoint.errors.add(exc)

    def toApp(self, message, session_id):  # noqa: N802
        never_resend = self._never_resend
        if not never_resend:
            return  # the common case: toApp runs on every send
        try:
            header = message.getHeader()
            skip = (header.isSetField(43) and header.getField(43) == "Y"
                    and header.getField(35) in never_resend)
        except Exception as exc:  # noqa: BLE001
            self._endpoint.errors.add(exc)
            return
        if skip:
            raise fix.DoNotSend()  # quickfix's own: it gap-fills this one instead

    def fromApp(self, message, session_id):  # noqa: N802
        try:
            endpoint = self._endpoint
            raw = message.toString()
            bad_tag = undecodable_tag(raw)
            if bad_tag is None and field_text(raw, 43) == "Y" and not field_text(raw, 122):
                endpoint._refuse_poss_dup(session_id, raw)
                return
            if bad_tag is None:
                session = endpoint.peers.get(field_text(raw, 49)) or endpoint.name_of(session_id)
                endpoint._queue(session, endpoint._receive, session, raw, time.time_ns())
        except Exception as exc:  # noqa: BLE001
            self._endpoint.errors.add(exc)
            return
        if bad_tag is not None:
            # quickfix answers with a session Reject: SessionRejectReason 6 (incorrect
            # data format for value) and RefTagID; nothing of the message goes further.
            raise fix.IncorrectDataFormat(bad_tag, "value is not UTF-8")


def adopt_numbering(session_id: fix.SessionID, raw: str) -> None:
    """On quickfix's thread, from ``fromAdmin`` on a Logon: a fresh store (both numbers
    at 1) takes over the counterparty's numbering, its MsgSeqNum (34) as the next one
    expected and its NextExpectedMsgSeqNum (789) as the next one sent. quickfix's
    ``Session::nextLogon`` calls ``fromAdmin`` (from ``verify``) after its too-low check,
    which a fresh store cannot fail, and before it compares the Logon's 34 and 789 with
    its own numbers, so neither a ResendRequest nor a disconnect follows. A Logon with
    ResetSeqNumFlag (141=Y) restarts both sides at 1 anyway: left alone."""
    if field_text(raw, 141) == "Y":
        return
    found = fix.Session.lookupSession(session_id)
    if found is None or found.getExpectedSenderNum() != 1 or found.getExpectedTargetNum() != 1:
        return
    found.setNextTargetMsgSeqNum(int(field_text(raw, 34)))
    next_expected = field_text(raw, 789)
    if next_expected:
        found.setNextSenderMsgSeqNum(int(next_expected))


WireTap = Callable[[str, str, str, int], None]
"""Sees a FIX message on the wire: direction ("in"/"out"), session, the message text and
the time (ns) it crossed. Called from whichever thread saw it (quickfix's, for what a
session log sees), so it must be quick and thread-safe: queue the message and do the
work later, on the loop and off the path of the orders (the daemon's audit trail)."""
HEARTBEATS = frozenset({"0", "1"})
"""Heartbeats and test requests: never tapped."""
UNTAPPED = HEARTBEATS | {"W", "X", "Y", "V"}
"""Besides, market data: not order messages, left out on venue sessions. A session log
(the OMS's) taps market data too: an OMS has no business sending it, so it is kept."""


class _SessionLog(fix.Log):
    """A session's quickfix log: to quickfix's file log when there is one, and, with a
    wire tap, every message the session reads or writes (garbage included, heartbeats and
    test requests excepted) handed to the tap, on quickfix's thread. Both get the text
    `masked`: no password reaches either."""

    def __init__(self, file_log: fix.Log | None, endpoint: FixEndpoint | None = None,
                 session: str = "") -> None:
        super().__init__()
        self._file = file_log
        self._wire_tap = endpoint._tap_log if endpoint is not None else None
        self._errors = endpoint.errors if endpoint is not None else None
        self._session = session

    def _tap(self, direction: str, text: str) -> None:
        tap = self._wire_tap
        if tap is None:
            return
        try:
            if field_text(text, 35) not in HEARTBEATS:
                tap(direction, self._session, readable(text), time.time_ns())
        except Exception as exc:  # noqa: BLE001 - must not escape into quickfix
            if self._errors is not None:
                self._errors.add(exc)

    def clear(self):
        if self._file is not None:
            self._file.clear()

    def backup(self):
        if self._file is not None:
            self._file.backup()

    def onIncoming(self, text):  # noqa: N802 - quickfix's names
        text = masked(text)
        self._tap("in", text)
        if self._file is not None:
            self._file.onIncoming(text)

    def onOutgoing(self, text):  # noqa: N802
        text = masked(text)
        self._tap("out", text)
        if self._file is not None:
            self._file.onOutgoing(text)

    def onEvent(self, text):  # noqa: N802
        if self._file is not None:
            self._file.onEvent(masked(text))  # some events quote a whole message


class _EngineLog(_SessionLog):
    """The acceptor's own log: the one place quickfix tells of a logon for a CompID it has
    no session for (1.16 has no dynamic sessions; it drops the connection unanswered)."""

    def __init__(self, file_log: fix.Log | None, endpoint: FixEndpoint) -> None:
        super().__init__(file_log)
        self._endpoint = endpoint

    def onEvent(self, text):  # noqa: N802
        try:
            text = masked(text)
            if text.startswith(UNKNOWN_SESSION):
                self._endpoint._post(self._endpoint._unknown_session,
                                     text[len(UNKNOWN_SESSION):])
            super().onEvent(text)
        except Exception as exc:  # noqa: BLE001 - must not escape into quickfix
            self._endpoint.errors.add(exc)


class _LogFactory(fix.LogFactory):
    def __init__(self, endpoint: FixEndpoint, files: fix.FileLogFactory | None) -> None:
        super().__init__()
        self._endpoint = endpoint
        self._files = files
        self._logs: list[fix.Log] = []  # quickfix holds raw pointers: keep them alive

    def create(self, *session_id):
        try:
            file_log = self._files.create(*session_id) if self._files is not None else None
            log = (_SessionLog(file_log, self._endpoint,
                               self._endpoint.name_of(session_id[0]))
                   if session_id else _EngineLog(file_log, self._endpoint))
        except Exception as exc:  # noqa: BLE001
            self._endpoint.errors.add(exc)
            log = _SessionLog(None)
        log.__disown__()  # quickfix owns it now; returned still owned by Python, it crashes
        self._logs.append(log)
        return log

    def destroy(self, log):
        pass


UNKNOWN_SESSION = "Session not found for incoming message: "
POSS_DUP_WITHOUT_ORIG_TIME = ("Required tag missing: OrigSendingTime (122) must accompany "
                              "PossDupFlag (43) Y; the message was not processed")


class LogonEvents(Protocol):
    """What an acceptor that checks logons tells its owner, on the loop thread."""

    def on_logon_refused(self, session: str, reason: str) -> None: ...

    def on_unknown_session(self, raw: str) -> None: ...


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
        logon_check: Callable[[str, FixMessage], str | None] | None = None,
        logon_events: LogonEvents | None = None,
        tap: WireTap | None = None,
        store: SessionStore = SessionStore(),
        backlog: Callable[[str, bool], None] | None = None,
    ) -> None:
        """``store``: how sequence numbers and sent messages are kept (`SessionStore`).
        ``logon_check`` (acceptors) sees each Logon on quickfix's thread and returns why
        it is refused, or None; it must be quick and thread-safe. ``logon_events`` hears of
        refused logons and of logons for CompIDs without a session. ``tap`` sees the
        messages on the wire: with ``logon_events``, every one quickfix logs (what it
        refused at session level too); otherwise the application messages sent and
        received, and session Rejects received. ``backlog`` is told, on the loop, when
        a session's inbound events pile up (False: stop reading from it) and when they
        have drained (True)."""
        self.name = name
        self.store = store
        self.errors = CallbackErrors(name)
        self._handler = handler
        self._initiator = initiator
        self._specs = {spec.name: spec for spec in sessions}
        qualifier = INITIATOR_QUALIFIER if initiator else ""
        self._session_ids = {
            spec.name: fix.SessionID(BEGIN_STRING, spec.sender_comp_id, spec.target_comp_id,
                                     qualifier)
            for spec in sessions
        }
        self._names = {sid.toString(): name for name, sid in self._session_ids.items()}
        peers = [spec.target_comp_id for spec in sessions]
        self.peers = ({spec.target_comp_id: spec.name for spec in sessions}
                      if len(set(peers)) == len(peers) else {})
        """Our session name by the peer's CompID, when that alone tells the session: found
        from a message's text, with no call into quickfix (each call hands the GIL over)."""
        self._logged_on: set[str] = set()
        self._inbox: dict[str, deque[tuple[Callable[..., None], tuple[str | int, ...]]]] = {
            name: deque() for name in self._specs}
        """Inbound events by session, queued on quickfix's threads and handled on the loop
        in turn, one session after the other (`_drain`): a flood on one session does not
        queue ahead of another's messages."""
        self._drain_scheduled = False
        self._backlog = backlog
        self._held: set[str] = set()
        """Sessions whose owner was told to stop reading (`backlog`)."""
        self.last_seq: dict[str, int] = {}
        """The MsgSeqNum (34) of the last application message handed to the handler, by
        session: what a journal records as applied."""
        self.session_rejects: deque[FixMessage] = deque(maxlen=1000)
        """Session-level Rejects (35=3) the counterparty sent us, newest last."""
        self._on_error = on_error
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_change = 0.0
        self.logon_refusal: str | None = None
        """While set, logons are refused with this text (read on quickfix's thread)."""
        self._dictionary = fix.DataDictionary(data_dictionary_path())
        settings = session_settings(initiator, sessions, log_dir, store)
        self._settings = settings
        self._app = _Application(self)
        if store.path:
            os.makedirs(store.path, exist_ok=True)
        self._store_factory = (fix.FileStoreFactory(settings) if store.path
                               else fix.MemoryStoreFactory())
        self._logon_check = logon_check
        self._logon_events = logon_events
        self._tap_app = tap if logon_events is None else None
        """Tapped here, not in the session log."""
        self._tap_log = tap if logon_events is not None else None
        """Tapped in the session log (`_SessionLog`)."""
        self.has_logon_fields = any(spec.logon_fields for spec in sessions)
        files = fix.FileLogFactory(settings) if log_dir else None
        # quickfix's file log is written through `_SessionLog`, which masks passwords:
        # never handed to quickfix directly, which would write every message as it is.
        self._log = (_LogFactory(self, files) if logon_events is not None or files is not None
                     else None)
        self._engine: fix.ThreadedSocketAcceptor | fix.SocketInitiator | None = None

    @property
    def sessions(self) -> list[str]:
        return list(self._specs)

    def name_of(self, session_id: fix.SessionID) -> str:
        """Our name of a quickfix session (`SessionSpec.name`: no qualifier)."""
        text = session_id.toString()
        return self._names.get(text, text)

    def _refuse_poss_dup(self, session_id: fix.SessionID, raw: str) -> None:
        """On quickfix's thread, from ``fromApp``: a message with PossDupFlag (43) Y and
        no OrigSendingTime (122), which FIX requires with it, gets a session Reject
        (SessionRejectReason 1, required tag missing, RefTagID 122) and goes no further.
        quickfix 1.16 checks 122 only on a PossDup below the expected MsgSeqNum, and
        cannot be asked to here: `RequiredTagMissing` raised from ``fromApp`` would end
        the process (its binding passes on only the four exceptions ``fromApp`` declares),
        and the `FieldNotFound` it does pass on becomes a BusinessMessageReject."""
        reject = build_message("3", [
            (45, field_text(raw, 34)), (371, "122"), (372, field_text(raw, 35)), (373, "1"),
            (58, POSS_DUP_WITHOUT_ORIG_TIME)], self._dictionary)
        fix.Session.sendToTarget(reject, session_id)

    def _logon_refusal(self, session: str, raw: str) -> str | None:
        """On quickfix's thread: why a Logon is refused, or None. Fails closed: a check
        that raises refuses the logon."""
        if self.logon_refusal is not None:
            return self.logon_refusal
        bad_tag = undecodable_tag(raw)
        if bad_tag is not None:
            return f"Logon field {bad_tag} is not UTF-8"
        if self._logon_check is None:
            return None
        try:
            return self._logon_check(session, parse(raw))
        except Exception as exc:  # noqa: BLE001 - counted, and the logon refused
            self.errors.add(exc)
            return "logon could not be checked"

    def is_logged_on(self, session: str) -> bool:
        return session in self._logged_on

    async def start(self, rewind: Mapping[str, int] | None = None) -> None:
        """Create the engine (its sessions load their store) and start it. ``rewind``: by
        session, the next inbound MsgSeqNum to expect, where lower than the store's: the
        peer is then asked to resend from there (what was received before a crash but
        never applied; see `last_seq`)."""
        self._loop = asyncio.get_running_loop()
        engine_type = fix.SocketInitiator if self._initiator else fix.ThreadedSocketAcceptor
        if self._log is not None:
            self._engine = engine_type(self._app, self._store_factory, self._settings,
                                       self._log)
        else:
            self._engine = engine_type(self._app, self._store_factory, self._settings)
        for session, target in (rewind or {}).items():
            self._rewind(session, target)
        await asyncio.to_thread(self._engine.start)

    def _rewind(self, session: str, target: int) -> None:
        if session not in self._session_ids:  # another endpoint's
            return
        found = fix.Session.lookupSession(self._session_ids[session])
        if found is not None and target < found.getExpectedTargetNum():
            found.setNextTargetMsgSeqNum(target)

    def seq_nums(self, session: str) -> SeqNums | None:
        """The session's next outbound and next expected inbound MsgSeqNum, as its store
        has them; None while the engine does not exist."""
        if self._engine is None:
            return None
        found = fix.Session.lookupSession(self._session_ids[session])
        if found is None:
            return None
        return SeqNums(found.getExpectedSenderNum(), found.getExpectedTargetNum())

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

    def set_enabled(self, session: str, enabled: bool) -> None:
        """Let an initiator's session connect (quickfix tries every ReconnectInterval), or
        not; an acceptor's session accept logons, or not."""
        found = fix.Session.lookupSession(self._session_ids[session])
        if found is not None:
            if enabled:
                found.logon()
            else:
                found.logout("reconnect backoff")

    def enable_all(self) -> None:
        """Re-enable every session after `logout_all` (quickfix's logout disables it)."""
        for session in self._session_ids:
            self.set_enabled(session, True)

    async def wait_logged_out(self, timeout: float) -> bool:
        return await wait_until(lambda: not self._logged_on, timeout)

    async def wait_logged_on(self, session: str | None = None, timeout: float = 10.0) -> bool:
        names = [session] if session else self.sessions
        return await wait_until(lambda: all(n in self._logged_on for n in names), timeout)

    def send(self, session: str, msg_type: str, pairs: Pairs) -> bool:
        """Send from the loop. While the session is down: with ``persist_messages``
        quickfix numbers and stores the message without writing it, and resends it when
        the peer, back, asks; otherwise False, nothing stored or sent."""
        if session not in self._logged_on and not (
                self.store.persist_messages and self._engine is not None
                and session in self._session_ids):
            return False
        message = build_message(msg_type, pairs, self._dictionary)
        sent = bool(fix.Session.sendToTarget(message, self._session_ids[session]))
        if sent and self._tap_app is not None and msg_type not in UNTAPPED:
            self._tap_app("out", session, message.toString(), time.time_ns())
        return sent

    # ------------------------------------------------------------ loop side

    def _post(self, callback: Callable[..., None], *args: str | int) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(callback, *args)

    def _queue(self, session: str, callback: Callable[..., None], *args: str | int) -> None:
        """On quickfix's thread: queue an inbound event of ``session`` for the loop."""
        queue = self._inbox.get(session)
        if queue is None:
            queue = self._inbox.setdefault(session, deque())
        queue.append((callback, args))
        if not self._drain_scheduled:
            self._drain_scheduled = True
            self._post(self._drain)

    def _drain(self) -> None:
        """Handle queued inbound events, taking the sessions in turn, one event each, at
        most `DRAIN_BATCH` before the loop sees to anything else; then tell the owner of
        sessions whose queue is long to stop reading from them, or to read again."""
        self._drain_scheduled = False
        loop = self._loop
        assert loop is not None
        budget = DRAIN_BATCH
        queues = [q for q in self._inbox.values() if q]
        while queues and budget > 0:
            for queue in queues:
                callback, args = queue.popleft()
                try:
                    callback(*args)
                except Exception as exc:  # noqa: BLE001 - the others' events go on
                    loop.call_exception_handler({
                        "message": f"{self.name}: inbound event failed", "exception": exc})
                budget -= 1
            queues = [q for q in queues if q]
        if queues and not self._drain_scheduled:
            self._drain_scheduled = True
            loop.call_soon(self._drain)
        if self._backlog is not None:
            self._hold_back()

    def _hold_back(self) -> None:
        assert self._backlog is not None
        for session, queue in self._inbox.items():
            if session in self._held:
                if len(queue) < BACKLOG_LOW:
                    self._held.discard(session)
                    self._backlog(session, True)
            elif len(queue) > BACKLOG_HIGH:
                self._held.add(session)
                self._backlog(session, False)

    def _logon(self, session: str) -> None:
        self._last_change = asyncio.get_running_loop().time()
        self._logged_on.add(session)
        self._handler.on_logon(session)

    def _logout(self, session: str) -> None:
        self._last_change = asyncio.get_running_loop().time()
        if session in self._logged_on:
            self._logged_on.discard(session)
            self._handler.on_logout(session)

    def _refused(self, session: str, reason: str) -> None:
        if self._logon_events is not None:
            self._logon_events.on_logon_refused(session, reason)

    def _unknown_session(self, raw: str) -> None:
        if self._logon_events is not None:
            self._logon_events.on_unknown_session(raw)

    def _session_reject(self, session: str, raw: str) -> None:
        if self._tap_app is not None:
            self._tap_app("in", session, readable(raw), time.time_ns())
        SESSION_REJECTS.labels(self.name).inc()
        self.session_rejects.append(parse(raw))

    def _receive(self, session: str, raw: str, received_ns: int = 0) -> None:
        """Parse and dispatch one inbound message (``received_ns``: when quickfix handed it
        over); a failure is reported, never raised."""
        if self._tap_app is not None and field_text(raw, 35) not in UNTAPPED:
            self._tap_app("in", session, raw, time.time_ns())
        self.last_seq[session] = int(field_text(raw, 34))
        try:
            self._handler.on_message(session, parse(raw, received_ns))
        except Exception as exc:  # one bad message must not stop the loop
            if self._on_error is None:
                raise
            self._on_error(session, raw, exc)
