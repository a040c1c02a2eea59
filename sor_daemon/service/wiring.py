"""Wiring: the core's objects built from the config (the core itself never reads it)."""

from __future__ import annotations

from collections.abc import Mapping

from sor_daemon.config import RiskConfig, SessionLimits
from sor_daemon.core.risk import Burst, KillSwitch, Limits, RiskChecks, SessionRules


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
