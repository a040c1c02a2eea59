"""The execution monitor through the whole stack: metrics with their types and labels,
scorecards from real fills, and the TCA record file."""

from __future__ import annotations

import asyncio
import urllib.request
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sor_daemon.config import SorConfig
from sor_daemon.core.analytics.monitor import from_json
from sor_daemon.core.domain import OrdType, Side, TimeInForce
from sor_daemon.core.routing.registry import STRATEGIES
from tests.conftest import default_config_data
from tests.integration.conftest import running_stack

pytestmark = pytest.mark.integration


def scrape(port: int) -> dict[str, tuple[str, list]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {f.name: (f.type, f.samples) for f in text_string_to_metric_families(text)}


async def test_metrics_scorecards_and_records_after_a_flow(tmp_path: Path):
    data = default_config_data()
    records = tmp_path / "tca.jsonl"
    data["monitor"]["records"] = str(records)
    async with running_stack(config=SorConfig.model_validate(data)) as stack:
        before = scrape(stack.config.metrics.port)  # counters are per process: use deltas
        orders = [
            stack.oms.new_order("AAPL", Side.BUY if i % 2 else Side.SELL, 400, OrdType.LIMIT,
                                Decimal("190.05") if i % 2 else Decimal("189.95"),
                                TimeInForce.IOC, target_strategy=code)
            for i, code in enumerate([STRATEGIES["sweep"].code, STRATEGIES["dark-first"].code,
                                      STRATEGIES["cost-based"].code] * 2)
        ]
        assert await stack.oms.wait_for(lambda: all(o.is_terminal for o in orders), 15)
        filled = sum(o.cum_qty for o in orders)
        assert filled > 0
        # The scorecards are exported every second.
        await asyncio.sleep(1.2)
        metrics = scrape(stack.config.metrics.port)

    def samples(name: str) -> list:
        return metrics[name][1]

    def total(name: str, sample: str) -> float:
        return (sum(s.value for s in metrics[name][1] if s.name == sample)
                - sum(s.value for s in before.get(name, ("", []))[1] if s.name == sample))

    assert metrics["sor_fills"][0] == "counter"
    assert total("sor_fills", "sor_fills_total") == sum(len(o.fills) for o in orders)
    assert {"sweep", "dark-first", "cost-based"} & {
        s.labels["strategy"] for s in samples("sor_fills")}
    assert total("sor_filled_shares", "sor_filled_shares_total") == filled
    for histogram in ("sor_child_ack_latency_seconds", "sor_child_fill_latency_seconds",
                      "sor_fill_slippage_bps", "sor_parent_ack_latency_seconds",
                      "sor_parent_arrival_slippage_bps", "sor_routing_decision_seconds"):
        assert metrics[histogram][0] == "histogram", histogram
        assert total(histogram, f"{histogram}_count") > 0, histogram
    assert total("sor_parent_orders_done", "sor_parent_orders_done_total") == len(orders)
    assert metrics["sor_venue_fill_ratio"][0] == "gauge"
    ratios = {s.labels["venue"]: s.value for s in samples("sor_venue_fill_ratio")}
    assert "XNAS" in ratios and 0 < ratios["XNAS"] <= 1
    assert metrics["sor_kill_switch_engaged"][1][0].value == 0
    up = {s.labels["counterparty"] for s in samples("sor_fix_session_up")}
    assert {"XNAS", "DARKA", "BRKA", "oms:OMS"} <= up
    # No high-cardinality labels anywhere.
    labels = {key for name, (_, found) in metrics.items() if name.startswith("sor_")
              for s in found for key in s.labels}
    assert labels <= {"venue", "strategy", "reason", "counterparty", "direction", "msg_type",
                      "endpoint", "horizon", "status", "by", "le"}

    lines = [from_json(orjson.loads(line)) for line in records.read_bytes().splitlines()]
    parents = [r for r in lines if r.type == "parent"]
    fill_records = [r for r in lines if r.type == "fill"]
    assert len(parents) == len(orders)
    assert sum(r.qty for r in fill_records) == filled
    assert all(r.arrival_mid is not None and r.shortfall_bps is not None for r in parents)
    # A buy at or above the arrival mid is a cost; the sign convention holds for each fill.
    for r in fill_records:
        mid = Decimal(next(p.arrival_mid for p in parents if p.parent == r.parent))
        expected = (Decimal(r.price) - mid) / mid * 10_000 * (1 if r.side == "buy" else -1)
        assert r.slippage_bps == pytest.approx(float(expected))
