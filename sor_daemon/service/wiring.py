"""Wiring: what the daemon is made of, built from the config (the core never reads it).

The engine and its risk checks, the journal and how the FIX sessions keep their
sequence numbers; the daemon (`sor_daemon.service.daemon`) puts them together.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sor_daemon.config import JournalConfig, RiskConfig, SessionLimits, SorConfig
from sor_daemon.core.engine import Engine, IdSource
from sor_daemon.core.risk import Burst, KillSwitch, Limits, RiskChecks, SessionRules
from sor_daemon.core.routing.routes import Broker
from sor_daemon.core.routing.strategy import VenueState
from sor_daemon.fix.endpoint import SessionStore
from sor_daemon.service.files import private_dir
from sor_daemon.service.journal import REDO_SUFFIX, Journal, JournalError


def build_engine(config: SorConfig, oms_sessions: Mapping[str, str], ids: IdSource,
                 track_changes: bool) -> Engine:
    """The engine a config describes; ``oms_sessions``: quickfix session name -> the OMS
    CompID it serves (whose limits apply); ``track_changes``: a journal keeps them."""
    limits = {s.comp_id: s.limits for s in config.oms.sessions}
    risk, kill_switch = risk_from_config(
        config.risk, {name: limits[comp_id] for name, comp_id in oms_sessions.items()})
    return Engine(
        ticks={s: c.tick_size for s, c in config.symbols.items()},
        venues=[VenueState(v.name, v.kind, False, v.taker_fee, v.maker_rebate,
                           v.expected_latency_ms, v.max_quote_age_ms * 1_000_000,
                           v.min_qty)
                for v in config.venues],
        default_strategy=config.routing.default_strategy,
        ids=ids,
        send_pending_new=config.oms.send_pending_new,
        brokers=[Broker(b.name, b.commission_per_share, b.expected_latency_ms,
                        frozenset(b.venues)) for b in config.brokers],
        passive_ttl_ns=config.routing.passive_child_ttl_ms * 1_000_000,
        risk=risk, kill_switch=kill_switch,
        cancel_children_on_halt=config.risk.cancel_children_on_halt,
        completed_orders_kept=config.routing.completed_orders_kept,
        cancel_on_disconnect=frozenset(
            s.name for s in [*config.venues, *config.brokers] if s.cancel_on_disconnect),
        track_changes=track_changes,
        miss_hold_ns=config.routing.miss_hold_ms * 1_000_000,
    )


def id_prefix(now_ns: int) -> str:
    """A short prefix from the start time, so IDs stay unique across restarts."""
    value, digits = now_ns // 1_000_000, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    text = ""
    while value:
        value, rem = divmod(value, 36)
        text = digits[rem] + text
    return text + "-"


def fix_store_history(root: Path) -> list[str]:
    """The sessions of quickfix's FileStore under ``root`` that have exchanged messages
    (a sequence number past 1)."""
    found = []
    for seqnums in sorted(root.rglob("*.seqnums")) if root.is_dir() else []:
        try:
            numbers = [int(n) for n in seqnums.read_text().split(":")]
        except (OSError, ValueError):
            numbers = [0]  # unreadable: not taken as empty
        if any(n != 1 for n in numbers):
            found.append(seqnums.stem)
    return found


def open_journal(config: JournalConfig, accept_empty: bool) -> Journal:
    """The journal; an empty one (no database, no redo log) beside a FIX store whose
    sessions have history is refused unless ``accept_empty``: it was lost or replaced,
    and starting from it would forget every order those sessions carried."""
    assert config.path is not None
    files = [Path(config.path), Path(f"{config.path}{REDO_SUFFIX}")]
    if not accept_empty and not any(f.exists() and f.stat().st_size for f in files):
        history = fix_store_history(Path(config.session_dir))
        if history:
            raise JournalError(
                f"journal {config.path} is empty, but the FIX store {config.session_dir} "
                f"has sessions with history ({', '.join(history[:3])}): their orders "
                "would be forgotten. Restore the journal, or start with "
                "--accept-empty-journal to start afresh")
    return Journal(config.path, config.synchronous)


def session_stores(config: JournalConfig, journal: Journal | None,
                   ) -> tuple[SessionStore | None, SessionStore | None]:
    """How the OMS and the venue sessions keep their sequence numbers: with a
    journal, on disk, never reset at logon. Reports to an OMS are kept and resent
    when it asks (a report missed while it was away comes back); orders to venues are
    never resent (what became of them is asked, not assumed), and our Logon tells
    the venue where to resume (NextExpectedMsgSeqNum), so that it resends the reports
    we missed."""
    if journal is None:
        return None, None
    root = Path(config.session_dir)
    for kind in ("oms", "venues"):  # before quickfix makes them
        private_dir(root / kind)
    return (SessionStore(path=str(root / "oms"), persist_messages=True,
                         reset_on_logon=False),
            SessionStore(path=str(root / "venues"), reset_on_logon=False,
                         send_next_expected=True))


def risk_from_config(risk: RiskConfig, sessions: Mapping[str, SessionLimits],
                     ) -> tuple[RiskChecks, KillSwitch]:
    """The checks and kill switch a config describes; ``sessions``: name -> its limits."""
    def rules(own: SessionLimits | None) -> SessionRules:
        own = own or SessionLimits()
        return SessionRules(
            Limits(_first(own.max_order_qty, risk.max_order_qty),
                   _first(own.max_notional, risk.max_notional),
                   risk.price_collar_bps,
                   _first(own.max_open_orders, risk.max_open_orders)),
            frozenset(risk.restricted_symbols) | frozenset(own.restricted_symbols),
            _first(own.messages_per_second, risk.messages_per_second),
            _first(own.burst, risk.burst),
            _first(own.cancels_per_second, risk.cancels_per_second),
            _first(own.cancel_burst, risk.cancel_burst))

    symbols = {name: Limits(s.max_order_qty, s.max_notional, s.price_collar_bps, None,
                            s.restricted) for name, s in risk.symbols.items()}
    checks = RiskChecks({name: rules(own) for name, own in sessions.items()}, rules(None),
                        symbols)
    breakers = risk.breakers
    switch = KillSwitch(Burst(breakers.reject_burst, breakers.reject_window_s),
                        Burst(breakers.venue_error_burst, breakers.venue_error_window_s),
                        breakers.market_data_loss)
    return checks, switch


def _first(own, default):
    """A session's own setting, else the default."""
    return default if own is None else own
