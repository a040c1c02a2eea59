"""`sor-daemon lab`: the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sor_daemon.config import ConfigError

SCENARIOS = Path("config/scenarios")


def add_parser(sub: argparse._SubParsersAction, default_config: str) -> None:
    lab = sub.add_parser(
        "lab", help="every routing strategy on the same parents in a simulated market",
        description="Run the routing engine in-process against the simulated market on a "
                    "simulated clock: each parent is run once per strategy on a copy of "
                    "the market taken at its arrival, so strategies are compared on exact "
                    "pairs. Prints a table per scenario; writes lab.json and charts.")
    lab.add_argument("--config", default=default_config, help="daemon config (TOML)")
    lab.add_argument("--scenario", action="append", metavar="NAME",
                     help="a scenario of config/scenarios (its name, or a file); "
                          "repeatable; default: every one")
    lab.add_argument("--parents", type=int, default=200, help="parents per scenario")
    lab.add_argument("--strategies", help="comma-separated (default: every strategy)")
    lab.add_argument("--seed", type=int, default=1, help="seed of the order flow")
    lab.add_argument("--horizon", type=float, default=10.0, metavar="SECONDS",
                     help="Day parents are cancelled this long after arrival; unfilled "
                          "shares are valued at the mid then")
    lab.add_argument("--gap", type=float, default=1.0, metavar="SECONDS",
                     help="simulated time between parent arrivals")
    lab.add_argument("--jobs", type=int, default=0, help="local processes (0: one per CPU)")
    lab.add_argument("--out", default="var/lab", help="where lab.json and the charts go")
    lab.add_argument("--markdown", action="store_true",
                     help="print the tables as Markdown too")


def scenario_paths(names: list[str] | None) -> list[str]:
    if not names:
        return [str(p) for p in sorted(SCENARIOS.glob("*.toml"))]
    out = []
    for name in names:
        path = Path(name) if name.endswith(".toml") else SCENARIOS / f"{name}.toml"
        if not path.is_file():
            known = ", ".join(p.stem for p in sorted(SCENARIOS.glob("*.toml")))
            raise ConfigError([f"no scenario {name!r} ({path} not found); known: {known}"])
        out.append(str(path))
    return out


def main(args: argparse.Namespace) -> int:
    from sor_daemon.core.routing.registry import STRATEGY_NAMES
    from sor_daemon.tools.lab.report import markdown, print_tables, write
    from sor_daemon.tools.lab.run import run

    if args.parents < 1:
        print(f"--parents must be at least 1, got {args.parents}", file=sys.stderr)
        return 1
    strategies = (tuple(s.strip() for s in args.strategies.split(",") if s.strip())
                  if args.strategies else STRATEGY_NAMES)
    try:
        result = run(args.config, scenario_paths(args.scenario), args.parents, strategies,
                     args.seed, args.horizon, args.gap, args.jobs or None)
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 1
    summary, paths = write(result, Path(args.out))
    print_tables(summary)
    if args.markdown:
        print(markdown(summary))
    speed = result["speed"]
    print(f"{len(result['rows'])} parent runs in {speed['cpu_s']:.1f} CPU s "
          f"({speed['wall_s']:.1f} s wall): {speed['simulated_s_per_cpu_s']:.0f} simulated s "
          f"per CPU s, {speed['parent_runs_per_cpu_s']:.1f} parent runs per CPU s")
    print(f"results: {Path(args.out) / 'lab.json'}; charts: "
          + ", ".join(str(p) for p in paths))
    return 0
