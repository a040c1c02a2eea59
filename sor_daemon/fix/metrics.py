"""Prometheus metrics of the FIX sessions: what the adapters count themselves.

The daemon's other metrics are in `sor_daemon.service.metrics`, which exports these too;
`deploy/prometheus` alerts on and `deploy/grafana` charts both.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()  # no *_created series: they double the scrape for no use here

# ----------------------------------------------------------------- FIX sessions
FIX_MESSAGES = Counter(
    "sor_fix_messages_total", "FIX application messages by direction and counterparty.",
    ["direction", "counterparty", "msg_type"],
)
SESSION_UP = Gauge(
    "sor_fix_session_up", "1 while the FIX session to the counterparty (a venue, or 'oms') "
    "is logged on.", ["counterparty"],
)
VENUE_OUTAGES = Counter(
    "sor_venue_outages_total", "Times a venue session went down after being up.", ["venue"]
)
CALLBACK_ERRORS = Counter(
    "sor_fix_callback_errors_total", "Errors caught inside quickfix callbacks.", ["endpoint"]
)
LOGON_REJECTS = Counter(
    "sor_logon_rejects_total", "OMS connections and logons refused: address, pending_limit, "
    "logon_timeout, logon_too_large, not_a_logon, unknown_comp_id, missing_credentials, "
    "bad_credentials.", ["reason"],
)
SESSION_DROPS = Counter(
    "sor_fix_session_drops_total", "Logged-on OMS connections the router cut: "
    "slow_consumer (its unread backlog passed the limit).", ["reason"],
)
SESSION_REJECTS = Counter(
    "sor_fix_session_rejects_received_total",
    "Session-level Rejects (35=3) received: the counterparty refused one of our messages.",
    ["endpoint"],
)


def memoise_labels(metrics: Iterable[object]) -> None:
    """Make every labelled metric's ``labels`` a dict lookup after its first call.

    prometheus_client's ``labels`` validates the values and takes a lock on every call
    (~2 us); the hot path makes a dozen such calls per order. A label child, once made,
    stays the same object (nothing here removes children), so caching it is exact."""
    for metric in metrics:
        if (isinstance(metric, Counter | Gauge | Histogram) and metric._labelnames
                and not hasattr(metric.labels, "cache_info")):
            metric.labels = functools.cache(metric.labels)  # type: ignore[method-assign]


memoise_labels(list(globals().values()))
