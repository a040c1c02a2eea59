"""`sor-daemon lab`: every strategy over the same parents on the same markets, paired.

A run is split into shards, one per (scenario, symbol): each shard keeps a base world (the
market with no order of ours, the engine following its market data) and, every
``gap_s`` of simulated time, draws a parent, copies the whole world once per strategy and
runs the parent to its end on each copy. Shards run in local processes.
"""

from __future__ import annotations

import os
import pickle
import random
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sor_daemon.config import ConfigError, load_config, load_market
from sor_daemon.core.routing.registry import STRATEGY_NAMES
from sor_daemon.tools.lab.parents import draw_parent, run_parent
from sor_daemon.tools.lab.world import S, World

WARMUP_S = 5.0
"""Simulated time before the first parent: books and queues form, the engine sees them."""


@dataclass(frozen=True, slots=True)
class Shard:
    config: str
    scenario: str
    symbol: str
    parents: int
    strategies: tuple[str, ...]
    seed: int
    horizon_s: float
    gap_s: float


def _seed(seed: int, *parts: str) -> int:
    value = seed
    for part in parts:
        for char in part:
            value = (value * 1_000_003 + ord(char)) % (2**61 - 1)
    return value


def run_shard(shard: Shard) -> dict[str, object]:
    """The shard's rows (one per parent and strategy) and what it cost."""
    started = time.process_time()
    config = load_config(shard.config)
    market = load_market(shard.scenario, config)
    name = Path(shard.scenario).stem
    lot = market.symbols[shard.symbol].lot_size
    world = World(config, market, [shard.symbol])
    world.advance(int(WARMUP_S * S))
    rng = random.Random(_seed(shard.seed, name, shard.symbol))
    rows: list[dict[str, object]] = []
    simulated_ns = world.now
    learned: dict[str, tuple] = {}
    """What each strategy's engine learned from its own children (venue scorecards, the
    dark pools' fill estimates), carried from one parent to its next: the base world's
    engine never trades, so a copy alone would always start from nothing."""
    for i in range(shard.parents):
        spec = draw_parent(rng, world, shard.symbol, lot)
        state = pickle.dumps(world)
        for strategy in shard.strategies:
            copy: World = pickle.loads(state)
            context = copy.engine.context
            if strategy in learned:
                context.scores, context.dark = learned[strategy]
            row = run_parent(copy, spec, strategy, shard.horizon_s, f"{shard.symbol}-{i}")
            learned[strategy] = (context.scores, context.dark)
            simulated_ns += copy.now - world.now
            row.update(scenario=name, parent=f"{name}/{shard.symbol}/{i}")
            rows.append(row)
        before = world.now
        world.advance(world.now + int(shard.gap_s * S))
        simulated_ns += world.now - before
    return {"rows": rows, "cpu_s": time.process_time() - started,
            "simulated_s": simulated_ns / S, "runs": shard.parents * len(shard.strategies)}


def shards(config: str, scenarios: Sequence[str], parents: int, strategies: Sequence[str],
           seed: int, horizon_s: float, gap_s: float) -> list[Shard]:
    """``parents`` per scenario, spread over the symbols both the config and the
    scenario know."""
    out = []
    cfg = load_config(config)
    for scenario in scenarios:
        market = load_market(scenario, cfg)
        symbols = [s for s in cfg.symbols if s in market.symbols]
        if not symbols:
            raise ConfigError([f"{scenario}: no symbol of {config} is simulated"])
        for k, symbol in enumerate(symbols):
            share = parents // len(symbols) + (1 if k < parents % len(symbols) else 0)
            if share:
                out.append(Shard(config, scenario, symbol, share, tuple(strategies), seed,
                                 horizon_s, gap_s))
    return out


def run(config: str, scenarios: Sequence[str], parents: int,
        strategies: Sequence[str] = STRATEGY_NAMES, seed: int = 1, horizon_s: float = 10.0,
        gap_s: float = 1.0, jobs: int | None = None) -> dict[str, object]:
    """Every shard, in ``jobs`` local processes (1: in this process)."""
    unknown = [s for s in strategies if s not in STRATEGY_NAMES]
    if unknown:
        raise ConfigError([f"unknown strategy {unknown[0]!r}; known: "
                           f"{', '.join(STRATEGY_NAMES)}"])
    work = shards(config, scenarios, parents, strategies, seed, horizon_s, gap_s)
    jobs = jobs or os.cpu_count() or 1
    started = time.monotonic()
    if jobs == 1 or len(work) == 1:
        results = [run_shard(s) for s in work]
    else:
        with ProcessPoolExecutor(max_workers=min(jobs, len(work))) as pool:
            results = list(pool.map(run_shard, work))
    rows = [row for result in results for row in result["rows"]]
    rows.sort(key=lambda r: (r["parent"], strategies.index(r["strategy"])))
    cpu = sum(r["cpu_s"] for r in results)
    simulated = sum(r["simulated_s"] for r in results)
    runs = sum(r["runs"] for r in results)
    return {
        "settings": {"config": config, "scenarios": list(scenarios), "parents": parents,
                     "strategies": list(strategies), "seed": seed, "horizon_s": horizon_s,
                     "gap_s": gap_s, "jobs": jobs},
        "speed": {"cpu_s": cpu, "wall_s": time.monotonic() - started,
                  "simulated_s": simulated,
                  "simulated_s_per_cpu_s": simulated / cpu if cpu else None,
                  "parent_runs_per_cpu_s": runs / cpu if cpu else None},
        "rows": rows,
    }
