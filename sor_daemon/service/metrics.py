"""Prometheus metrics (base units, low-cardinality labels: venue, msg_type, reason, strategy).

The FIX sessions' own are in `sor_daemon.fix.metrics`. Every name in both is what
`deploy/prometheus` alerts on and `deploy/grafana` charts; change one and change them too
(the real-Prometheus test evaluates every expression).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from sor_daemon.fix.metrics import memoise_labels

LATENCY_BUCKETS = (
    25e-6, 50e-6, 100e-6, 250e-6, 500e-6,
    1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3,
    1.0, 2.5, 5.0,
)
BPS_BUCKETS = (-50.0, -20.0, -10.0, -5.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 5.0, 10.0,
               20.0, 50.0)
"""Basis points, positive = cost; symmetric so that price improvement shows too."""

# ----------------------------------------------------------------- orders and fills
PARENT_ORDERS = Counter(
    "sor_parent_orders_total", "Parent orders accepted, by routing strategy.", ["strategy"]
)
PARENT_DONE = Counter(
    "sor_parent_orders_done_total", "Parent orders that reached a final state, by strategy "
    "and state (filled, canceled, rejected, expired).", ["strategy", "status"],
)
REJECTS = Counter(
    "sor_rejects_total", "Parent orders and amendments refused, by reason.", ["reason"]
)
CHILD_ORDERS = Counter(
    "sor_child_orders_total", "Child orders sent, by venue and strategy.", ["venue", "strategy"]
)
CHILD_SHARES = Counter(
    "sor_child_shares_total", "Shares sent in child orders, by venue (the fill-rate "
    "denominator).", ["venue"],
)
CHILD_REJECTS = Counter(
    "sor_child_rejects_total", "Child orders a venue rejected (or that could not be sent), "
    "by venue.", ["venue"],
)
FILLS = Counter("sor_fills_total", "Fills received, by venue and strategy.",
                ["venue", "strategy"])
FILLED_SHARES = Counter("sor_filled_shares_total", "Shares filled, by venue.", ["venue"])
UNDELIVERED = Counter(
    "sor_undelivered_reports_total", "Reports to the OMS dropped because its session was down."
)
ANOMALIES = Counter(
    "sor_anomalies_total", "Events that must not happen (illegal transitions, unknown "
    "orders, duplicate fills, handler errors), by reason.", ["reason"],
)
KILL_SWITCH = Gauge(
    "sor_kill_switch_engaged", "1 while the kill switch stops all new routing."
)
HALTED_SYMBOLS = Gauge(
    "sor_halted_symbols", "Symbols halted on their own (e.g. all their market data lost)."
)
KILL_SWITCH_EVENTS = Counter(
    "sor_kill_switch_events_total", "Halts engaged, by who: operator, reject breaker, venue "
    "error breaker, market data breaker.", ["by"],
)

# ----------------------------------------------------------------- latency
DECISION_BUCKETS = (
    5e-6, 10e-6, 15e-6, 20e-6, 25e-6, 30e-6, 40e-6, 50e-6, 60e-6, 75e-6, 100e-6, 150e-6,
    250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 100e-3,
)
"""Finer below 100 us than LATENCY_BUCKETS: a decision is tens of microseconds."""
DECISION_LATENCY = Histogram(
    "sor_routing_decision_seconds",
    "Parent order received on the loop -> its first child handed to quickfix.",
    ["strategy"], buckets=DECISION_BUCKETS,
)
PARENT_ACK_LATENCY = Histogram(
    "sor_parent_ack_latency_seconds",
    "Parent order received on the loop -> its New (or first fill) handed to the OMS session.",
    buckets=LATENCY_BUCKETS,
)
CHILD_ACK_LATENCY = Histogram(
    "sor_child_ack_latency_seconds", "Child order sent -> venue acknowledgement (New).",
    ["venue"], buckets=LATENCY_BUCKETS,
)
CHILD_FILL_LATENCY = Histogram(
    "sor_child_fill_latency_seconds", "Child order sent -> its first fill.",
    ["venue"], buckets=LATENCY_BUCKETS,
)

# ----------------------------------------------------------------- execution quality
FILL_SLIPPAGE = Histogram(
    "sor_fill_slippage_bps", "Each fill's price against its parent's arrival mid, bps, "
    "positive = cost.", ["venue"], buckets=BPS_BUCKETS,
)
PRICE_IMPROVEMENT = Histogram(
    "sor_price_improvement_bps", "Each fill's price against the NBBO far touch when it "
    "filled, bps, positive = better than the quote.", ["venue"], buckets=BPS_BUCKETS,
)
MARKOUT = Histogram(
    "sor_markout_bps", "Mid move after each fill, bps, positive = the market moved in the "
    "fill's favour (negative = adverse selection).", ["venue", "horizon"], buckets=BPS_BUCKETS,
)
PARENT_SLIPPAGE = Histogram(
    "sor_parent_arrival_slippage_bps", "Finished parents' average fill price against the "
    "arrival mid, bps, positive = cost.", ["strategy"], buckets=BPS_BUCKETS,
)
PARENT_SHORTFALL = Histogram(
    "sor_parent_shortfall_bps", "Finished parents' implementation shortfall (fees and the "
    "opportunity cost of unfilled shares included), bps, positive = cost.", ["strategy"],
    buckets=BPS_BUCKETS,
)

# ----------------------------------------------------------------- venue scorecards
SCORE_FILL_RATE = Gauge(
    "sor_venue_fill_ratio", "Scorecard: shares filled / shares sent over the rolling window.",
    ["venue"],
)
SCORE_REJECT_RATE = Gauge(
    "sor_venue_reject_ratio", "Scorecard: children rejected / children sent over the window.",
    ["venue"],
)
SCORE_SLIPPAGE = Gauge(
    "sor_venue_slippage_bps", "Scorecard: share-weighted fill slippage against arrival over "
    "the window, bps.", ["venue"],
)
SCORE_MARKOUT = Gauge(
    "sor_venue_markout_bps", "Scorecard: share-weighted markout over the window, bps.",
    ["venue", "horizon"],
)
SCORE_ACK_LATENCY = Gauge(
    "sor_venue_ack_latency_seconds", "Scorecard: mean child ack latency over the window.",
    ["venue"],
)


# ----------------------------------------------------------------- resilience
JOURNAL_WRITE_LATENCY = Histogram(
    "sor_journal_write_seconds", "One event's changes committed to the journal (before its "
    "messages go out).", buckets=DECISION_BUCKETS,
)
UNKNOWN_CHILDREN = Gauge(
    "sor_children_unknown_outcome", "Children whose outcome is unknown (their session "
    "dropped or the daemon restarted while they worked); not routed again until the venue "
    "says.",
)
RECOVERED_PARENTS = Gauge(
    "sor_recovered_parents", "Working parents taken back from the journal at start.",
)


memoise_labels(list(globals().values()))
