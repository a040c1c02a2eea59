"""The chaos suite, short form: one trial of each kind (a SIGKILLed daemon, SIGKILLed
venues, a dropped OMS session), each checked for overfills, lost and doubled fills and
orders left hanging. `make chaos` runs many more (TRIALS=N)."""

from __future__ import annotations

from sor_daemon.config import load_config
from sor_daemon.tools.chaos import (
    KINDS,
    ChaosOptions,
    report,
    run_chaos,
    summary_line,
    trial_config,
)
from tests.conftest import DEFAULT_CONFIG


def test_trials_run_the_shipped_brokers_and_kill_the_venues_too(tmp_path):
    shipped = load_config(DEFAULT_CONFIG)
    config = load_config(trial_config(tmp_path))
    assert [b.name for b in config.brokers] == [b.name for b in shipped.brokers] != []
    assert {b.port for b in config.brokers}.isdisjoint(b.port for b in shipped.brokers)
    assert ChaosOptions().kinds == KINDS and "venue" in KINDS


async def test_nothing_is_lost_when_the_daemon_the_venues_or_the_oms_link_die(tmp_path):
    results = await run_chaos(ChaosOptions(trials=3, orders=20, seed=5), tmp_path,
                              progress=False)
    print("\n" + "\n".join(summary_line(r) for r in results) + "\n" + report(results))
    assert [r.kind for r in results] == ["daemon", "venue", "oms"]
    assert all(r.orders == 20 for r in results)
    assert sum(r.filled_oms for r in results) > 0, "the flow must trade"
    assert [f for r in results for f in r.failures] == []
