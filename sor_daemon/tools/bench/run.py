"""`sor-daemon bench`: every path on this machine, in one run, in turn.

Besides this one (the OMS), three processes: the echo (`sor_daemon.tools.bench.echo`), the
relays (`sor_daemon.tools.bench.relay`) and the daemon as `sor-daemon run` starts it, with a
config written here (one lit venue: the echo; limits that let a benchmark through;
everything else as shipped: JSON logs at info, the audit trail in batch mode, metrics).
The baseline is this OMS -> echo; the daemon path is this OMS -> daemon -> echo -> daemon
-> this OMS; the two relay paths take the daemon's route through a relay with no logic,
on quickfix's thread or through an event loop: the floors under the daemon. Each round
runs every measurement on every path, their order rotated every round, so drift of the
machine falls on all.

Measurements (per path): ping-pong (one order in flight) ack and fill round trips;
throughput with ``window`` orders in flight; latency at half of that round's throughput;
the daemon's decision latency from its own histogram; peak RSS. A soak runs the daemon
path alone at a fixed rate and reports latency and memory over time.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sor_daemon.tools.bench.driver import BenchDriver, Sample
from sor_daemon.tools.bench.relay import ON_LOOP, ON_THREAD, RELAYS
from sor_daemon.tools.bench.stats import (
    QUANTILES,
    Buckets,
    add,
    histogram_buckets,
    histogram_quantile,
    peak_rss_mb,
    rss_mb,
    subtract,
    summary_us,
)

PATHS = ("baseline", "relay_thread", "relay_loop", "daemon")
FLOORS = ("relay_thread", "relay_loop")
"""Paths through a relay with no logic (`sor_daemon.tools.bench.relay`): what two FIX hops
cost in Python on quickfix's thread, and through an event loop as in the daemon."""
ROUND_TRIPS = ("pingpong_ack", "pingpong_fill", "half_load_ack", "half_load_fill")
"""The round trips measured on every path (``<name>_us`` in its result)."""
DECISION_HISTOGRAM = "sor_routing_decision_seconds"
TARGETS = {"ack_p50": 2.2, "ack_p99": 2.5, "throughput": 0.33, "decision_p50_us": 25.0}
"""Daemon/baseline ratios (throughput: at least; latency: at most) and the decision
latency's p50 ceiling, microseconds."""


@dataclass(frozen=True)
class BenchOptions:
    orders: int = 2000
    """Orders per round and path in ping-pong, and again at half load."""
    rounds: int = 5
    window: int = 32
    """Orders in flight for throughput."""
    throughput_orders: int = 4000
    warmup: int = 500
    journal: bool = True
    """The daemon journals every event (as in production); False measures without."""


@dataclass(frozen=True)
class SoakOptions:
    seconds: float = 180.0
    rate: float = 1000.0
    interval: float = 10.0
    max_orders: int = 0
    """Stop after this many orders (0: after ``seconds``)."""
    journal: bool = True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def daemon_config(directory: Path, oms_port: int, metrics_port: int, echo_port: int,
                  journal: bool = True) -> str:
    return f"""# written by `sor-daemon bench`
[oms]
port = {oms_port}
sender_comp_id = "SOR"
[[oms.sessions]]
comp_id = "BENCH"
[metrics]
port = {metrics_port}
[monitor]
records = "{directory / 'tca.jsonl'}"
[risk]                       # a benchmark is a flood: let it through
messages_per_second = 10000000
burst = 1000000
max_open_orders = 1000000
[admin]
socket = "{directory / 'admin.sock'}"
[audit]
path = "{directory / 'audit.jsonl'}"
[journal]
path = "{directory / 'journal.db' if journal else ''}"
session_dir = "{directory / 'fix-store'}"
[symbols.AAPL]
tick_size = "0.01"
[[venues]]
name = "ECHO"
kind = "lit"
port = {echo_port}
target_comp_id = "ECHO"
market_depth = 1
"""


@dataclass
class Processes:
    directory: Path
    echo: subprocess.Popen[bytes]
    daemon: subprocess.Popen[bytes]
    oms_port: int
    echo_port: int
    metrics_port: int
    relay: subprocess.Popen[bytes] | None = None
    relay_port: int = 0

    def targets(self) -> dict[str, tuple[str, int]]:
        """The OMS's sessions by path: (TargetCompID, port)."""
        targets = {"baseline": ("ECHO", self.echo_port), "daemon": ("SOR", self.oms_port)}
        if self.relay is not None:
            targets |= {"relay_thread": (ON_THREAD, self.relay_port),
                        "relay_loop": (ON_LOOP, self.relay_port)}
        return targets

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.read().decode()

    def decisions(self) -> Buckets:
        """The daemon's decision-latency histogram as scraped now (cumulative buckets)."""
        return histogram_buckets(self.metrics(), DECISION_HISTOGRAM)

    def daemon_log_tail(self, lines: int = 20) -> str:
        path = self.directory / "daemon.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _stop(process: subprocess.Popen[bytes], timeout: float = 15.0) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def _spawn(directory: Path, name: str, module: str, *args: str) -> subprocess.Popen[bytes]:
    """``python -m module args``, once it has printed "ready" (its stderr in
    ``directory/name.log``)."""
    log_path = directory / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", module, *args],
                                   stdout=subprocess.PIPE, stderr=log)
    assert process.stdout is not None
    if process.stdout.readline().strip() != b"ready":
        _stop(process)
        raise RuntimeError(f"the {name} did not start: {log_path.read_text()}")
    return process


@contextlib.contextmanager
def processes(journal: bool = True, floors: bool = False) -> Iterator[Processes]:
    """The echo, the daemon and, with ``floors``, the relays, on free loopback ports,
    stopped (bounded) on exit."""
    with tempfile.TemporaryDirectory(prefix="sor-bench-") as tmp, \
            contextlib.ExitStack() as running:
        directory = Path(tmp)
        echo_port, oms_port, metrics_port = free_port(), free_port(), free_port()
        echo = _spawn(directory, "echo", "sor_daemon.tools.bench.echo", "--port", str(echo_port),
                      *(f"--session=ECHO:{peer}" for peer in ("BENCH", "SOR", *RELAYS)))
        running.callback(_stop, echo)
        relay, relay_port = None, 0
        if floors:
            relay_port = free_port()
            relay = _spawn(directory, "relay", "sor_daemon.tools.bench.relay",
                           "--port", str(relay_port), "--echo-port", str(echo_port))
            running.callback(_stop, relay)
        config = directory / "sor.toml"
        config.write_text(daemon_config(directory, oms_port, metrics_port, echo_port,
                                        journal))
        with (directory / "daemon.log").open("wb") as log:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "sor_daemon", "run", "--config", str(config)],
                stdout=log, stderr=log)
        try:
            yield Processes(directory, echo, daemon, oms_port, echo_port, metrics_port,
                            relay, relay_port)
        finally:
            if _stop(daemon) != 0:
                print(f"the daemon exited {daemon.returncode}", file=sys.stderr)


@contextlib.contextmanager
def driving(procs: Processes) -> Iterator[BenchDriver]:
    driver = BenchDriver("BENCH", procs.targets())
    try:
        driver.start()
        _until_routing(driver, procs)
        yield driver
    finally:
        driver.stop()


def _until_routing(driver: BenchDriver, procs: Processes, timeout: float = 30.0) -> None:
    """Until the daemon fills an order (logged on to the echo, with its book), and the
    relays relay one (logged on to the echo)."""
    deadline = time.monotonic() + timeout
    while driver.run("daemon", 1, timeout=10).failed:
        if time.monotonic() > deadline or procs.daemon.poll() is not None:
            raise RuntimeError("the daemon did not fill an order within "
                               f"{timeout:.0f} s:\n{procs.daemon_log_tail()}")
        time.sleep(0.2)
    if procs.relay is not None:
        for path in FLOORS:
            driver.run(path, 1, timeout=max(deadline - time.monotonic(), 1.0))


# ------------------------------------------------------------------- bench


@dataclass
class Pooled:
    pingpong: list[Sample] = field(default_factory=list)
    throughput: list[Sample] = field(default_factory=list)
    half_load: list[Sample] = field(default_factory=list)
    half_load_rates: list[float] = field(default_factory=list)


def _rate(sample: Sample) -> float:
    return (len(sample.fills) + sample.failed) / (sample.elapsed_ns / 1e9)


def run_bench(options: BenchOptions, progress: bool = True) -> dict[str, Any]:
    """Every measurement, every path in turn; the result as written to JSON."""
    pooled = {path: Pooled() for path in PATHS}

    def say(text: str) -> None:
        if progress:
            print(text, file=sys.stderr, flush=True)

    with processes(options.journal, floors=True) as procs, driving(procs) as driver:
        for path in PATHS:
            driver.run(path, options.warmup, window=options.window)
        before = procs.decisions()
        pingpong_decision: Buckets = {}
        for r in range(options.rounds):
            order = PATHS[r % len(PATHS):] + PATHS[:r % len(PATHS)]
            for path in order:
                start = procs.decisions() if path == "daemon" else {}
                pooled[path].pingpong.append(driver.run(path, options.orders))
                if path == "daemon":
                    pingpong_decision = add(pingpong_decision,
                                            subtract(procs.decisions(), start))
            for path in order:
                pooled[path].throughput.append(
                    driver.run(path, options.throughput_orders, window=options.window))
            for path in order:
                rate = _rate(pooled[path].throughput[-1]) / 2
                pooled[path].half_load_rates.append(rate)
                pooled[path].half_load.append(driver.run(
                    path, options.orders, window=10 * options.window, rate=rate))
            say(f"round {r + 1}/{options.rounds}: " + ", ".join(
                f"{p} {_rate(pooled[p].throughput[-1]):,.0f} orders/s" for p in PATHS))
        decision = subtract(procs.decisions(), before)
        memory = {"daemon_peak_rss_mb": peak_rss_mb(procs.daemon.pid),
                  "echo_peak_rss_mb": peak_rss_mb(procs.echo.pid),
                  "oms_peak_rss_mb": peak_rss_mb()}
    return _result(options, pooled, decision, pingpong_decision, memory)


def _quantiles_us(buckets: Buckets) -> dict[str, float]:
    result = {f"p{q:g}": histogram_quantile(q, buckets) * 1e6 for q in (50, 99)}
    result["count"] = buckets.get(math.inf, 0.0)
    return result


def _ratios(path: dict[str, Any], over: dict[str, Any]) -> dict[str, float]:
    """``path``'s figures over ``over``'s: every round trip's quantiles, and throughput."""
    ratios = {f"{measure}_{q}": path[f"{measure}_us"][q] / over[f"{measure}_us"][q]
              for measure in ROUND_TRIPS for q in (f"p{q:g}" for q in QUANTILES)}
    ratios["throughput"] = path["throughput_orders_per_s"] / over["throughput_orders_per_s"]
    return ratios


def _result(options: BenchOptions, pooled: dict[str, Pooled], decision: Buckets,
            pingpong_decision: Buckets, memory: dict[str, float]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for path, p in pooled.items():
        paths[path] = {
            "pingpong_ack_us": summary_us(v for s in p.pingpong for v in s.acks),
            "pingpong_fill_us": summary_us(v for s in p.pingpong for v in s.fills),
            "throughput_orders_per_s": statistics.median(_rate(s) for s in p.throughput),
            "throughput_by_round": [round(_rate(s), 1) for s in p.throughput],
            "half_load_rate": statistics.median(p.half_load_rates),
            "half_load_ack_us": summary_us(v for s in p.half_load for v in s.acks),
            "half_load_fill_us": summary_us(v for s in p.half_load for v in s.fills),
            "failed": sum(s.failed for s in p.pingpong + p.throughput + p.half_load),
        }
    base, daemon = paths["baseline"], paths["daemon"]
    ratios = _ratios(daemon, base)
    floors = {floor: {"over_baseline": _ratios(paths[floor], base),
                      "daemon_over_floor": _ratios(daemon, paths[floor])}
              for floor in FLOORS}
    decision_us = _quantiles_us(decision)
    pingpong_decision_us = _quantiles_us(pingpong_decision)
    verdicts = {
        "ack_p50": ratios["pingpong_ack_p50"] <= TARGETS["ack_p50"],
        "ack_p99": ratios["pingpong_ack_p99"] <= TARGETS["ack_p99"],
        "throughput": ratios["throughput"] >= TARGETS["throughput"],
        "decision_p50_us": pingpong_decision_us["p50"] <= TARGETS["decision_p50_us"],
    }
    return {
        "kind": "bench",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform()},
        "options": asdict(options),
        "paths": paths,
        "ratios": ratios,
        "floors": floors,
        "decision_us": decision_us,
        "decision_pingpong_us": pingpong_decision_us,
        "memory": memory,
        "targets": TARGETS,
        "met": verdicts,
    }


# -------------------------------------------------------------------- soak


def run_soak(options: SoakOptions, progress: bool = True) -> dict[str, Any]:
    """The daemon path at a fixed rate, one slice of ``interval`` seconds at a time."""
    slices: list[dict[str, Any]] = []
    per_slice = max(int(options.rate * options.interval), 1)
    with processes(options.journal) as procs, driving(procs) as driver:
        driver.run("daemon", 2000, window=32)
        start_rss = rss_mb(procs.daemon.pid)
        started = time.monotonic()
        total = 0
        while time.monotonic() - started < options.seconds and (
                not options.max_orders or total < options.max_orders):
            sample = driver.run("daemon", per_slice, window=100_000, rate=options.rate,
                                timeout=options.interval * 10 + 60)
            total += per_slice
            row = {"t_s": round(time.monotonic() - started, 1), "orders": total,
                   "ack_us": summary_us(sample.acks), "fill_us": summary_us(sample.fills),
                   "failed": sample.failed, "rss_mb": round(rss_mb(procs.daemon.pid), 1)}
            slices.append(row)
            if progress:
                print(f"{row['t_s']:7.1f} s {total:>9,} orders  ack p50 "
                      f"{row['ack_us']['p50']:7.0f} us p99 {row['ack_us']['p99']:7.0f} us  "
                      f"rss {row['rss_mb']:6.1f} MB", file=sys.stderr, flush=True)
        peak = peak_rss_mb(procs.daemon.pid)
    first, middle, last = slices[0], slices[len(slices) // 2], slices[-1]
    steady = last["rss_mb"] - middle["rss_mb"]
    return {
        "kind": "soak",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "options": asdict(options),
        "orders": total,
        "slices": slices,
        "rss_start_mb": round(start_rss, 1),
        "rss_growth_mb": round(last["rss_mb"] - first["rss_mb"], 1),
        "rss_growth_second_half_mb": round(steady, 1),
        "rss_growth_second_half_mb_per_million": round(
            steady / max(last["orders"] - middle["orders"], 1) * 1e6, 1),
        "daemon_peak_rss_mb": round(peak, 1),
        "failed": sum(s["failed"] for s in slices),
    }


def write_json(result: dict[str, Any], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{result['kind']}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return path
