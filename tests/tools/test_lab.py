"""The routing lab end to end on the `normal` scenario: structure and invariants only
(never specific numbers)."""

from __future__ import annotations

import math
from pathlib import Path

import orjson
import pytest

from sor_daemon.tools.cli import main
from sor_daemon.tools.lab.report import bootstrap_ci, summarise
from sor_daemon.tools.lab.run import run

pytestmark = pytest.mark.timeout(300)  # the module's run takes ~40 s alone, more when shared

CONFIG = "config/sor.toml"
NORMAL = "config/scenarios/normal.toml"
STRATEGIES = ("best-price", "round-robin")
PARENTS = 100


@pytest.fixture(scope="module")
def smoke() -> dict:
    return run(CONFIG, [NORMAL], parents=PARENTS, strategies=STRATEGIES, seed=3,
               horizon_s=5.0, jobs=1)


def test_every_parent_runs_under_every_strategy_without_overfill(smoke: dict) -> None:
    rows = smoke["rows"]
    by_parent: dict[str, dict[str, dict]] = {}
    for row in rows:
        assert "error" not in row, row
        by_parent.setdefault(row["parent"], {})[row["strategy"]] = row
    assert len(by_parent) == PARENTS
    kinds = set()
    for runs in by_parent.values():
        assert set(runs) == set(STRATEGIES)  # pairs complete
        specs = {orjson.dumps(r["spec"]) for r in runs.values()}
        assert len(specs) == 1  # the same parent for every strategy
        arrival = {r["arrival_mid"] for r in runs.values()}
        assert len(arrival) == 1  # the same market at its arrival
        for row in runs.values():
            kinds.add(row["kind"])
            assert not row["unfinished"]
            assert 0 <= row["filled"] <= row["qty"]  # no overfill
            assert row["engine_filled"] == row["filled"]  # the engine saw every fill
            assert 0 <= row["fill_rate"] <= 1
            assert math.isfinite(row["is_bps"])
            for share in ("dark_share", "trade_through_share"):
                assert row[share] is None or 0 <= row[share] <= 1
            if row["filled"]:
                assert row["time_to_fill_s"] >= 0
                assert row["markout_1s_bps"] is not None
    assert {"market", "ioc", "day-at", "day-outside"} <= kinds


def test_paired_differences_have_well_formed_intervals(smoke: dict) -> None:
    summary = summarise(smoke["rows"], STRATEGIES)
    stats = summary["normal"]
    assert set(stats) == set(STRATEGIES)
    for strategy, s in stats.items():
        assert s["parents"] == PARENTS
        for base in ("best-price", "round-robin"):
            d = s.get(f"is_vs_{base}")
            if strategy == base:
                assert d is None
                continue
            assert d["pairs"] == PARENTS
            assert d["low"] <= d["mean"] <= d["high"]
    speed = smoke["speed"]
    assert speed["simulated_s"] > PARENTS and speed["cpu_s"] > 0


def test_the_same_seed_gives_the_same_rows_in_one_process_or_several() -> None:
    one = run(CONFIG, [NORMAL], parents=6, strategies=STRATEGIES, seed=5, jobs=1)
    two = run(CONFIG, [NORMAL], parents=6, strategies=STRATEGIES, seed=5, jobs=2)
    assert one["rows"] == two["rows"]
    other = run(CONFIG, [NORMAL], parents=6, strategies=STRATEGIES, seed=6, jobs=1)
    assert other["rows"] != one["rows"]


def test_bootstrap_interval_contains_the_mean() -> None:
    mean, low, high = bootstrap_ci([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and low <= mean <= high
    assert bootstrap_ci([7.0]) == (7.0, 7.0, 7.0)


def test_cli_writes_the_results_and_a_chart(tmp_path: Path, capsys) -> None:
    code = main(["lab", "--scenario", "normal", "--parents", "2", "--strategies",
                 "best-price,round-robin", "--jobs", "1", "--out", str(tmp_path)])
    assert code == 0
    result = orjson.loads((tmp_path / "lab.json").read_bytes())
    assert len(result["rows"]) == 4 and "normal" in result["summary"]
    assert (tmp_path / "lab-is-vs-best-price.png").stat().st_size > 0
    assert "round-robin" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "message"), [
    (["--scenario", "nowhere"], "no scenario 'nowhere'"),
    (["--strategies", "best-price,teleport"], "unknown strategy 'teleport'"),
    (["--parents", "0"], "--parents must be at least 1"),
])
def test_cli_names_what_is_wrong(args: list[str], message: str, capsys) -> None:
    assert main(["lab", "--jobs", "1", *args]) == 1
    assert message in capsys.readouterr().err
