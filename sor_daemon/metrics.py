"""Prometheus metrics (base units, low-cardinality labels: venue, msg_type, reason, strategy)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()  # no *_created series: they double the scrape for no use here

LATENCY_BUCKETS = (
    25e-6, 50e-6, 100e-6, 250e-6, 500e-6,
    1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3,
    1.0, 2.5, 5.0,
)

FIX_MESSAGES = Counter(
    "sor_fix_messages_total", "FIX application messages by direction and counterparty.",
    ["direction", "counterparty", "msg_type"],
)
SESSION_UP = Gauge(
    "sor_fix_session_up", "1 while the FIX session to the counterparty is logged on.",
    ["counterparty"],
)
PARENT_ORDERS = Counter(
    "sor_parent_orders_total", "Parent orders accepted, by routing strategy.", ["strategy"]
)
REJECTS = Counter(
    "sor_rejects_total", "Parent orders and amendments refused, by reason.", ["reason"]
)
CHILD_ORDERS = Counter("sor_child_orders_total", "Child orders sent, by venue.", ["venue"])
FILLS = Counter("sor_fills_total", "Fills received, by venue.", ["venue"])
FILLED_SHARES = Counter("sor_filled_shares_total", "Shares filled, by venue.", ["venue"])
DECISION_LATENCY = Histogram(
    "sor_routing_decision_seconds",
    "Parent order received on the loop -> its first child handed to quickfix.",
    buckets=LATENCY_BUCKETS,
)
CHILD_ACK_LATENCY = Histogram(
    "sor_child_ack_latency_seconds", "Child order sent -> venue acknowledgement.",
    ["venue"], buckets=LATENCY_BUCKETS,
)
ANOMALIES = Counter(
    "sor_anomalies_total", "Events that must not happen (illegal transitions, unknown "
    "orders, duplicate fills, handler errors), by reason.", ["reason"],
)
UNDELIVERED = Counter(
    "sor_undelivered_reports_total", "Reports to the OMS dropped because its session was down."
)
CALLBACK_ERRORS = Counter(
    "sor_fix_callback_errors_total", "Errors caught inside quickfix callbacks.", ["endpoint"]
)
SESSION_REJECTS = Counter(
    "sor_fix_session_rejects_received_total",
    "Session-level Rejects (35=3) received: the counterparty refused one of our messages.",
    ["endpoint"],
)
