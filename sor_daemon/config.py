"""Configuration: frozen pydantic models that reject unknown keys, loaded from TOML.

`load_config` returns a validated `SorConfig` or raises `ConfigError` carrying every
problem as ``path: message`` lines (``venues[1].port: ...``), never a traceback.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from sor_daemon.core.routing.registry import STRATEGY_NAMES
from sor_sim.config import MarketConfig

CompID = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]{1,32}$")]
Port = Annotated[int, Field(strict=True, ge=1, le=65535)]
Seconds = Annotated[int, Field(strict=True, ge=1, le=300)]
Host = Annotated[str, Field(min_length=1)]
Symbol = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9.\-]{0,15}$")]
TimestampPrecision = Literal[0, 3, 6, 9]
"""Decimals of a second in the SendingTime (52) and OrigSendingTime (122) of a session:
FIX 4.4 has seconds or milliseconds (the default, 3); 6 and 9 for counterparties that
accept finer ones."""
PositivePrice = Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=8)]


class Strict(BaseModel):
    """Base for every config section: immutable, unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


PositiveInt = Annotated[int, Field(strict=True, ge=1)]
Money = Annotated[Decimal, Field(gt=0, max_digits=20, decimal_places=4)]


class SessionLimits(Strict):
    """Pre-trade limits of one OMS session (each unset one falls back to ``[risk]``)."""

    max_order_qty: PositiveInt | None = None
    """Shares in one order (and in a replace)."""
    max_notional: Money | None = None
    """Quantity x limit price (a market order: x the far touch) of one order."""
    max_open_orders: PositiveInt | None = None
    """Parents working at once for the session."""
    messages_per_second: PositiveInt | None = None
    """NewOrderSingle and OrderCancelReplaceRequest per second."""
    burst: PositiveInt | None = None
    """Messages allowed at once above the rate (the token bucket's depth)."""
    cancels_per_second: PositiveInt | None = None
    """OrderCancelRequest and OrderStatusRequest per second, an allowance of their own.
    Past it, status requests and cancels of orders that are not working are refused; a
    cancel of a working order never is (it only reduces risk)."""
    cancel_burst: PositiveInt | None = None
    restricted_symbols: list[str] = []
    """Symbols this session may not trade, besides ``[risk] restricted_symbols``."""


def oms_counterparty(comp_id: str) -> str:
    """An OMS session's name in metrics, the audit trail and `admin status`."""
    return f"oms:{comp_id}"


class OmsSessionConfig(Strict):
    """One OMS allowed to log on: its CompID and, optionally, a username and password."""

    comp_id: CompID
    """The OMS's SenderCompID (our TargetCompID); logons naming another are refused."""
    username: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    """Required in Username (553) on Logon when set."""
    password_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] | None = None
    """The environment variable holding the Password (554) the Logon must carry."""
    password_file: str | None = None
    """Or a file holding it (the first line; keep it mode 0600)."""
    limits: SessionLimits = SessionLimits()

    @model_validator(mode="after")
    def _one_secret(self) -> OmsSessionConfig:
        if self.password_env and self.password_file:
            raise ValueError("set password_env or password_file, not both")
        if (self.password_env or self.password_file) and not self.username:
            raise ValueError("a password needs a username")
        return self


class OmsConfig(Strict):
    """The FIX acceptor that upstream OMS sessions log on to.

    The router listens on ``port`` itself and hands quickfix's acceptor (on a loopback
    port of its own) only connections from ``allowed_remote_addresses`` (empty: from
    anywhere) that log on for the CompID of one of ``sessions`` within the limits below.
    """

    port: Port = 9878
    host: Host | None = None
    """The address to listen on (unset: every interface)."""
    allowed_remote_addresses: list[Annotated[str, Field(min_length=1)]] = ["127.0.0.1"]
    logon_timeout_seconds: Seconds = 5
    """A connection that has not been answered a Logon this long after connecting is
    closed."""
    max_logon_bytes: Annotated[int, Field(strict=True, ge=256, le=65536)] = 4096
    """The largest first message (the Logon) a connection may send."""
    max_pending_connections: Annotated[int, Field(strict=True, ge=1, le=1024)] = 16
    """Connections at once that have not logged on yet; more are closed at once."""
    max_backlog_kib: Annotated[int, Field(strict=True, ge=64, le=1 << 20)] = 4096
    """Reports written to a session and not yet read by its OMS (beyond the kernel's
    buffers), in KiB; past it the session is cut, and its reports resent when it logs on
    again (with a journal)."""
    sender_comp_id: CompID = "SOR"
    sessions: Annotated[list[OmsSessionConfig], Field(min_length=1)] = [
        OmsSessionConfig(comp_id="OMS")]
    heartbeat_seconds: Seconds = 30
    timestamp_precision: TimestampPrecision = 3
    send_pending_new: bool = False
    cancel_on_disconnect: bool = False
    """True: an OMS session that drops has its working orders cancelled (each reported
    Canceled when it logs on again); False: they keep working while it is away."""

    @field_validator("sessions")
    @classmethod
    def _unique_comp_ids(cls, sessions: list[OmsSessionConfig]) -> list[OmsSessionConfig]:
        seen = [s.comp_id for s in sessions]
        duplicates = sorted({c for c in seen if seen.count(c) > 1})
        if duplicates:
            raise ValueError(f"duplicate comp_id {', '.join(duplicates)}")
        return sessions


class SymbolLimits(Strict):
    """Limits for one symbol; the tighter of these and the session's apply."""

    max_order_qty: PositiveInt | None = None
    max_notional: Money | None = None
    price_collar_bps: Annotated[float, Field(gt=0, le=10_000)] | None = None
    restricted: bool = False


class BreakerConfig(Strict):
    """When the kill switch engages by itself. Resuming is always an operator's call."""

    reject_burst: Annotated[int, Field(strict=True, ge=0)] = 50
    """Child orders rejected by venues within ``reject_window_s``; 0: off."""
    reject_window_s: Seconds = 10
    venue_error_burst: Annotated[int, Field(strict=True, ge=0)] = 20
    """Venue session drops and undecodable venue messages within the window; 0: off."""
    venue_error_window_s: Seconds = 30
    market_data_loss: bool = True
    """Halt a symbol once no lit venue publishes a book for it any more."""


class RiskConfig(Strict):
    """Pre-trade checks (defaults for every OMS session), per-symbol limits, the kill switch."""

    max_order_qty: PositiveInt | None = 100_000
    max_notional: Money | None = Decimal("10000000")
    price_collar_bps: Annotated[float, Field(gt=0, le=10_000)] | None = 500.0
    """A limit price this far through the NBBO mid (bps) is a fat finger: a buy above
    mid x (1 + collar), a sell below mid x (1 - collar)."""
    max_open_orders: PositiveInt | None = 5_000
    messages_per_second: PositiveInt | None = 1_000
    burst: PositiveInt | None = 200
    cancels_per_second: PositiveInt | None = 5_000
    cancel_burst: PositiveInt | None = 1_000
    restricted_symbols: list[str] = []
    symbols: dict[str, SymbolLimits] = {}
    cancel_children_on_halt: bool = True
    """Engaging the kill switch cancels every working child (parents stay open and are
    routed again on resume); false: children keep working, only new orders are refused."""
    breakers: BreakerConfig = BreakerConfig()


class AdminConfig(Strict):
    socket: str = "var/sor-admin.sock"
    """The control socket (`sor-daemon admin`): a Unix socket created mode 0600."""


class AuditConfig(Strict):
    path: str | None = "var/audit.jsonl"
    """The append-only audit trail (`sor-daemon audit CLORDID`); empty: none."""
    durability: Literal["fsync", "batch", "none"] = "batch"
    """fsync: every record on disk before the daemon goes on; batch: written and fsynced
    every 100 ms; none: left to the OS."""
    max_mb: Annotated[int, Field(strict=True, ge=1, le=100_000)] = 100
    """Rotate past this size (audit.jsonl -> audit.jsonl.1 ...)."""
    keep: Annotated[int, Field(strict=True, ge=1, le=1000)] = 10


class MetricsConfig(Strict):
    host: Host = "127.0.0.1"
    port: Port = 9464


class MonitorConfig(Strict):
    records: str | None = "var/tca.jsonl"
    """Where every fill, markout and finished parent is appended as a JSON line (for
    `sor-daemon tca`), relative to the working directory; empty: nowhere."""
    scorecard_window_s: Annotated[int, Field(strict=True, ge=1, le=86_400)] = 300
    """The rolling window of the venue scorecards."""


class LogConfig(Strict):
    level: Literal["debug", "info", "warning", "error"] = "info"
    fix_message_dir: str | None = None
    """Where quickfix writes its raw message and event logs; none when unset."""


class RoutingConfig(Strict):
    default_strategy: str = "best-price"
    passive_child_ttl_ms: Annotated[int, Field(strict=True, ge=0, le=3_600_000)] = 5_000
    """A child posted at the touch (behind the parent's limit) is withdrawn after this
    long and its quantity routed again with fresh market data; 0: it stays until the
    market moves away from it."""
    miss_hold_ms: Annotated[int, Field(strict=True, ge=0, le=60_000)] = 1_000
    """A venue where a parent's child missed (an IOC found nothing) is left out of that
    parent's routing until the venue publishes another book (most misses are a quote
    that moved) or for this long at most; 0: until it publishes. Rejects leave it out
    for the parent's life."""
    completed_orders_kept: Annotated[int, Field(strict=True, ge=0, le=10_000_000)] = 10_000
    """How many completed parents (and their children) stay in memory after their last
    report: duplicate ClOrdID detection covers working orders plus the last this many
    completed ones, as do status requests and the recognition of late or duplicate venue
    reports. Older ones are forgotten, so memory stays flat."""

    @field_validator("default_strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        if value not in STRATEGY_NAMES:
            raise ValueError(f"unknown strategy {value!r}; known: {', '.join(STRATEGY_NAMES)}")
        return value


class SymbolConfig(Strict):
    tick_size: PositivePrice = Decimal("0.01")


VenueName = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{0,15}$")]


class SessionConfig(Strict):
    """A FIX session the daemon dials as an initiator (a venue or a broker)."""

    name: VenueName
    host: Host = "127.0.0.1"
    port: Port
    sender_comp_id: CompID = "SOR"
    target_comp_id: CompID
    heartbeat_seconds: Seconds = 30
    timestamp_precision: TimestampPrecision = 3
    reconnect_seconds: Seconds = 1
    expected_latency_ms: Annotated[float, Field(ge=0, le=10_000)] = 0.0
    """Until acknowledgements are measured: breaks price ties, the quicker route first."""
    cancel_on_disconnect: bool = False
    """True: the counterparty cancels our working orders when the session drops, so their
    unfilled quantity is routed elsewhere at once. False: it may still be working; it is
    routed again only once the counterparty has said what became of it (after logon, in
    answer to an OrderStatusRequest)."""


class VenueConfig(SessionConfig):
    """One venue the daemon connects to directly."""

    kind: Literal["lit", "dark"] = "lit"
    """Dark pools publish no market data; lit venues are subscribed to on logon."""
    market_depth: Annotated[int, Field(strict=True, ge=1, le=50)] = 5
    taker_fee: Annotated[Decimal, Field(ge=-1, le=1)] = Decimal("0")
    """Per share paid for taking liquidity here (negative: a rebate); routing costs."""
    maker_rebate: Annotated[Decimal, Field(ge=-1, le=1)] = Decimal("0")
    """Per share earned for adding liquidity here (negative: a fee)."""
    min_qty: Annotated[int, Field(strict=True, ge=0)] = 0
    """A dark pool's minimum execution size; dark children are never smaller."""
    max_quote_age_ms: Annotated[int, Field(strict=True, ge=0)] = 0
    """A book not updated for this long is stale and not routed to; 0: never stale (for
    feeds that publish only on change, as the simulator's do)."""


class BrokerConfig(SessionConfig):
    """A broker: one FIX session that reaches several venues (ExDestination (100) names
    the venue on each child), for a commission on top of the venue's own fees."""

    commission_per_share: Annotated[Decimal, Field(ge=0, le=1)] = Decimal("0")
    venues: Annotated[list[VenueName], Field(min_length=1)]
    """The configured venues this broker reaches."""


class JournalConfig(Strict):
    """The durable record of orders (SQLite, WAL mode) and of FIX sequence numbers."""

    path: str | None = "var/journal.db"
    """None: nothing survives a restart (sessions reset their sequence numbers on logon)."""
    session_dir: str = "var/fix-store"
    """quickfix's FileStore: sequence numbers and the messages sent to each OMS."""
    synchronous: Literal["full", "normal"] = "normal"
    """SQLite's: ``full`` syncs to disk at every commit (survives power loss); ``normal``
    syncs at checkpoints (survives a crash of the process, the case SIGKILL tests)."""


class ShutdownConfig(Strict):
    """What SIGTERM does once intake has stopped."""

    cancel_working: bool = False
    """True: every working order is cancelled (and reported so) before the sessions log
    out; False: children stay working at their venues and are picked up on restart."""
    timeout_s: Annotated[float, Field(gt=0, le=600)] = 10.0
    """How long to wait for those cancels to be confirmed."""


class SimConfig(Strict):
    market: str = "sim-market.toml"
    """The simulated market file, relative to this config file."""


class SorConfig(Strict):
    oms: OmsConfig = OmsConfig()
    metrics: MetricsConfig = MetricsConfig()
    monitor: MonitorConfig = MonitorConfig()
    log: LogConfig = LogConfig()
    routing: RoutingConfig = RoutingConfig()
    risk: RiskConfig = RiskConfig()
    admin: AdminConfig = AdminConfig()
    audit: AuditConfig = AuditConfig()
    journal: JournalConfig = JournalConfig()
    shutdown: ShutdownConfig = ShutdownConfig()
    symbols: Annotated[dict[Symbol, SymbolConfig], Field(min_length=1)]
    venues: Annotated[list[VenueConfig], Field(min_length=1)]
    brokers: list[BrokerConfig] = []
    sim: SimConfig | None = None
    """Present when the venues are the bundled simulator (`sor-daemon sim`)."""

    @model_validator(mode="wrap")
    @classmethod
    def _unique_venues(cls, data: Any, handler: Any) -> SorConfig:
        """Venue and broker names and FIX sessions must be unique, and brokers must reach
        configured venues; reported with every other error."""
        duplicates = (_duplicate_sessions(data) + _unknown_broker_venues(data)
                      + _unknown_risk_symbols(data))
        try:
            config = handler(data)
        except ValidationError as exc:
            if not duplicates:
                raise
            raise ValidationError.from_exception_data(
                cls.__name__, [*_line_errors(exc), *duplicates]) from None
        if duplicates:
            raise ValidationError.from_exception_data(cls.__name__, duplicates)
        return config

    def venue(self, name: str) -> VenueConfig:
        return next(v for v in self.venues if v.name == name)


def _duplicate_sessions(data: Any) -> list[InitErrorDetails]:
    if not isinstance(data, dict):
        return []
    errors: list[InitErrorDetails] = []
    seen: dict[tuple[Any, ...], str] = {}
    for section in ("venues", "brokers"):
        entries = data.get(section)
        for i, entry in enumerate(entries if isinstance(entries, list) else []):
            if not isinstance(entry, dict):
                continue
            name = entry.get("name")
            session = (entry.get("sender_comp_id", "SOR"), entry.get("target_comp_id"))
            for key, field, what in (
                (("name", name), "name", f"name {name!r}"),
                (("session", *session), "target_comp_id",
                 f"FIX session {session[0]}->{session[1]}"),
            ):
                if not all(isinstance(part, str) for part in key[1:]):
                    continue  # a missing or mistyped value: reported by its own field
                if key in seen:
                    errors.append(InitErrorDetails(
                        type=PydanticCustomError("duplicate", "duplicate {what} (also {other})",
                                                 {"what": what, "other": seen[key]}),
                        loc=(section, i, field), input=entry.get(field)))
                seen.setdefault(key, f"{section}[{i}]")
    return errors


def _unknown_broker_venues(data: Any) -> list[InitErrorDetails]:
    if not isinstance(data, dict) or not isinstance(data.get("brokers"), list):
        return []
    venues = data.get("venues")
    known = {v.get("name") for v in venues if isinstance(v, dict)
             and isinstance(v.get("name"), str)} if isinstance(venues, list) else set()
    errors: list[InitErrorDetails] = []
    for i, broker in enumerate(data["brokers"]):
        reached = broker.get("venues") if isinstance(broker, dict) else None
        for j, venue in enumerate(reached if isinstance(reached, list) else []):
            if isinstance(venue, str) and venue not in known:
                errors.append(InitErrorDetails(
                    type=PydanticCustomError("unknown_venue", "unknown venue; venues: {known}",
                                             {"known": ", ".join(sorted(map(str, known)))}),
                    loc=("brokers", i, "venues", j), input=venue))
    return errors


def _unknown_risk_symbols(data: Any) -> list[InitErrorDetails]:
    """Risk limits and restrictions must name configured symbols (a typo would silently
    leave a symbol unrestricted)."""
    if not isinstance(data, dict):
        return []
    symbols = data.get("symbols")
    known = set(symbols) if isinstance(symbols, dict) else set()
    places: list[tuple[tuple[int | str, ...], Any]] = []
    risk = data.get("risk")
    if isinstance(risk, dict):
        if isinstance(risk.get("symbols"), dict):
            places += [(("risk", "symbols", name), name) for name in risk["symbols"]]
        if isinstance(risk.get("restricted_symbols"), list):
            places += [(("risk", "restricted_symbols", i), name)
                       for i, name in enumerate(risk["restricted_symbols"])]
    oms = data.get("oms")
    sessions = oms.get("sessions") if isinstance(oms, dict) else None
    for i, session in enumerate(sessions if isinstance(sessions, list) else []):
        limits = session.get("limits") if isinstance(session, dict) else None
        names = limits.get("restricted_symbols") if isinstance(limits, dict) else None
        places += [(("oms", "sessions", i, "limits", "restricted_symbols", j), name)
                   for j, name in enumerate(names if isinstance(names, list) else [])]
    return [InitErrorDetails(
        type=PydanticCustomError("unknown_symbol", "unknown symbol; symbols: {known}",
                                 {"known": ", ".join(sorted(map(str, known)))}),
        loc=loc, input=name) for loc, name in places if isinstance(name, str) and name not in known]


def _line_errors(exc: ValidationError) -> list[InitErrorDetails]:
    """A ValidationError's errors in the form ``from_exception_data`` takes back."""
    return [
        InitErrorDetails(type=e["type"], loc=e["loc"], input=e["input"], ctx=e.get("ctx", {}))
        for e in exc.errors(include_url=False)
    ]


class ConfigError(Exception):
    """A config file that cannot be used; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{_key(part)}" if out else _key(str(part))
    return out or "(top level)"


_MESSAGES = {
    "extra_forbidden": "unknown key",
    "missing": "required setting is missing",
}


def format_validation_error(error: ValidationError, prefix: str = "") -> list[str]:
    """One ``path: message`` line per pydantic error, with the offending value."""
    lines = []
    for err in error.errors(include_url=False):
        loc = _format_loc(tuple(part for part in err["loc"] if not _is_internal(part)))
        message = _MESSAGES.get(err["type"], err["msg"].removeprefix("Value error, "))
        value = err.get("input")
        if err["type"] not in ("missing", "model_type", "duplicate") and not isinstance(
                value, dict | list):
            message += f" (got {_shown(value)})"
        lines.append(f"{prefix}{loc}: {message}")
    return lines


def _shown(value: Any) -> str:
    try:
        return repr(value)
    except ValueError:  # an int past Python's digit limit
        return f"an integer of {value.bit_length()} bits"


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(part: str) -> str:
    """A key as TOML would write it: quoted unless bare (so '' or 'a.b' stay readable)."""
    return part if _BARE_KEY.match(part) else json.dumps(part)


_VALIDATOR_LOC = re.compile(r"^(function-(after|before|wrap|plain)\[|\[key\]$)")


def _is_internal(part: int | str) -> bool:
    """pydantic adds validator names ('function-after[...]') and '[key]' (the dict key
    itself is invalid) to some locations; the user's path is clearer without them."""
    return isinstance(part, str) and _VALIDATOR_LOC.match(part) is not None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: invalid TOML: {exc}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not UTF-8 text"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    except (RecursionError, ValueError) as exc:  # nesting too deep, a huge int, a NUL byte
        raise ConfigError([f"{path}: invalid TOML: {exc}"]) from None


def load_config(path: str | Path) -> SorConfig:
    path = Path(path)
    try:
        return SorConfig.model_validate(_read_toml(path))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None


def market_path(config: SorConfig, config_path: str | Path) -> Path | None:
    if config.sim is None:
        return None
    return Path(config_path).parent / config.sim.market


def load_market(path: str | Path, config: SorConfig | None = None) -> MarketConfig:
    """Load the simulated market; with ``config``, check it covers the daemon's config."""
    path = Path(path)
    try:
        market = MarketConfig.model_validate(_read_toml(path))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, prefix=f"{path.name}: ")) from None
    if config is not None:
        problems = _market_mismatches(market, config)
        if problems:
            raise ConfigError([f"{path.name}: {line}" for line in problems])
    return market


def _market_mismatches(market: MarketConfig, config: SorConfig) -> list[str]:
    """Where a simulated market does not fit the daemon config that runs against it."""
    kinds = {v.name: v.kind for v in config.venues}
    problems = [f"symbols.{symbol}: missing (the daemon config trades it)"
                for symbol in config.symbols if symbol not in market.symbols]
    for table, kind in (("venues", "lit"), ("dark", "dark")):
        for name in getattr(market, table):
            if kinds.get(name) != kind:
                actual = kinds.get(name)
                problems.append(f"{table}.{name}: the daemon config has no {kind} venue {name}"
                                + (f" (it is {actual})" if actual else ""))
    problems += [f"outages[{i}].venue: unknown venue {o.venue!r}"
                 for i, o in enumerate(market.outages) if o.venue not in kinds]
    problems += [f"shocks[{i}].symbol: unknown symbol {s.symbol!r}"
                 for i, s in enumerate(market.shocks)
                 if s.symbol is not None and s.symbol not in market.symbols]
    return problems


def oms_credentials(config: SorConfig) -> dict[str, tuple[str, str | None]]:
    """Username and password of each OMS session that has a username, by CompID, read from
    the environment or the file named; a secret that cannot be read is a ConfigError."""
    found: dict[str, tuple[str, str | None]] = {}
    problems = []
    for i, session in enumerate(config.oms.sessions):
        if session.username is None:
            continue
        password = None
        where = f"oms.sessions[{i}]"
        if session.password_env is not None:
            password = os.environ.get(session.password_env)
            if not password:
                problems.append(f"{where}.password_env: environment variable "
                                f"{session.password_env} is not set")
        elif session.password_file is not None:
            try:
                password = Path(session.password_file).read_text().splitlines()[0].strip()
            except (OSError, UnicodeDecodeError, IndexError) as exc:
                why = exc.strerror if isinstance(exc, OSError) else "empty or not text"
                problems.append(f"{where}.password_file: cannot read "
                                f"{session.password_file}: {why}")
        found[session.comp_id] = (session.username, password)
    if problems:
        raise ConfigError(problems)
    return found


def check_config(path: str | Path) -> list[str]:
    """Every problem in a daemon config and the simulated market it names (empty if none)."""
    try:
        config = load_config(path)
        market = market_path(config, path)
        if market is not None:
            load_market(market, config)
    except ConfigError as exc:
        return exc.problems
    return []


def toml_text(data: dict[str, Any], prefix: str = "") -> str:
    """A config as TOML (tables, arrays of tables, scalars and lists): what tools that
    write configs (`sor-daemon chaos`, the tests) need, not a general TOML writer."""
    lines, tables = [], []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append(f"\n[{prefix}{key}]\n" + toml_text(value, f"{prefix}{key}."))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                tables.append(f"\n[[{prefix}{key}]]\n" + toml_text(item, f"{prefix}{key}."))
        else:
            lines.append(f"{key} = {_scalar(value)}")
    return "\n".join(lines) + "\n" + "".join(tables)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    return json.dumps(str(value))
