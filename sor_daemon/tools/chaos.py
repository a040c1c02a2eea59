"""`sor-daemon chaos`: kill things mid-flow, many times, and prove nothing was lost.

Each trial starts the simulated venues (with the shipped config's brokers) and the daemon
as processes (a living market, so resting orders fill while something is down), an OMS
in this process with a durable FIX session, and an order flow. At a random moment it
kills one of them:

- ``daemon``: SIGKILL, restarted after a random pause (restart recovery, FIX resend both
  ways, status requests to the venues);
- ``venue``: SIGKILL of the simulated venues' process, brokers included, restarted empty
  (venue failover: unknown outcomes, status requests answered "unknown order" by venues
  and brokers, residuals re-routed);
- ``oms``: the OMS session drops and comes back (reports missed while away are resent).

Then every order still working is cancelled, and the trial checks, from three
independent records (the OMS's reports, the daemon's journal, and the fills ledger the
venues write before they report a fill):

- no parent is overfilled, every parent is terminal, and OMS and journal agree on it;
- the OMS's fills add up to its CumQty, and every journal fill appears once;
- per child, the shares applied equal the shares its venue filled (lost fills): only
  fills a killed venue process made and never got out before it died may be missing,
  counted apart (``unreported``: nobody was told of them, so nothing was lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from sor_daemon.config import SorConfig, load_config, load_market, toml_text
from sor_daemon.core.domain import OrdType, Side, TimeInForce
from sor_daemon.fix.endpoint import SessionStore, wait_until
from sor_daemon.service.journal import open_read_only
from sor_daemon.tools.bench.run import free_port
from sor_daemon.tools.demo import stop_process, wait_ready
from sor_daemon.tools.oms_client import OmsClient, OmsOrder

ROOT = Path(__file__).resolve().parents[2]
BASE_CONFIG = ROOT / "config" / "sor.toml"
MARKET = ROOT / "config" / "scenarios" / "normal.toml"
KINDS = ("daemon", "venue", "oms")


@dataclass(frozen=True)
class ChaosOptions:
    trials: int = 3
    orders: int = 30
    """Parent orders per trial."""
    seed: int = 1
    kinds: tuple[str, ...] = KINDS
    """Trials cycle through these."""
    kills: int = 2
    """Kills (each followed by a restart) per trial, at random moments of the flow."""
    keep: bool = False
    """Keep each trial's directory (logs, journal, ledger) even when it passed."""


@dataclass
class TrialResult:
    number: int
    kind: str
    kills: list[tuple[float, float]]
    """(seconds into the flow, seconds down) of each kill."""
    orders: int = 0
    filled_oms: int = 0
    filled_journal: int = 0
    filled_venues: int = 0
    unreported: int = 0
    """Shares a killed venue process filled but never reported (not a loss)."""
    duplicate_reports: int = 0
    """Reports the OMS had already had (resends), ignored by ExecID."""
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    directory: str = ""


def trial_config(directory: Path) -> Path:
    """The shipped config on free ports (its brokers too), with its journal, FIX stores
    and logs in the trial's directory, and the living `normal` market."""
    with BASE_CONFIG.open("rb") as fh:
        data: dict[str, Any] = tomllib.load(fh)
    data["oms"]["port"] = free_port()
    data["metrics"]["port"] = free_port()
    data["monitor"]["records"] = ""
    data["audit"]["path"] = str(directory / "audit.jsonl")
    data["admin"]["socket"] = str(directory / "admin.sock")
    data["journal"] = {"path": str(directory / "journal.db"),
                       "session_dir": str(directory / "fix-store")}
    data["risk"]["breakers"] = {"reject_burst": 0, "venue_error_burst": 0,
                                "market_data_loss": False}
    for session in [*data["venues"], *data.get("brokers", [])]:
        session["port"] = free_port()
    data["sim"] = {"market": str(MARKET)}
    path = directory / "sor.toml"
    path.write_text(toml_text(data))
    return path


class Process:
    """One `sor-daemon` subcommand as a child process, its output appended to a log."""

    def __init__(self, name: str, args: list[str], log: Path) -> None:
        self.name, self.args, self.log = name, args, log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "sor_daemon", *self.args,
                stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def kill(self) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        await self.proc.wait()

    async def stop(self) -> int:
        return 0 if self.proc is None else await stop_process(self.proc)


class Flow:
    """Parent orders of every kind, sent whenever the OMS session is up (an order the
    session refused is tried again later under a new ClOrdID)."""

    def __init__(self, oms: OmsClient, config: SorConfig, rng: random.Random) -> None:
        self.oms, self.rng = oms, rng
        market = load_market(MARKET, config)
        self.reference = {s: c.reference_price for s, c in market.symbols.items()}

    def _one(self) -> OmsOrder:
        rng, symbol = self.rng, self.rng.choice(sorted(self.reference))
        side = rng.choice((Side.BUY, Side.SELL))
        qty = rng.choice((100, 200, 300, 500, 800, 1200))
        ref = self.reference[symbol]
        tick = Decimal("0.01")
        kind = rng.random()
        if kind < 0.15:
            return self.oms.new_order(symbol, side, qty, OrdType.MARKET, None,
                                      TimeInForce.IOC)
        if kind < 0.45:  # marketable IOC
            through = ref * Decimal("0.002")
            price = (ref + through if side is Side.BUY else ref - through).quantize(tick)
            return self.oms.new_order(symbol, side, qty, OrdType.LIMIT, price, TimeInForce.IOC)
        # Day limits near the touch: rest, fill over time as the market trades into them
        offset = tick * rng.randint(-2, 3)
        price = (ref + offset if side is Side.BUY else ref - offset).quantize(tick)
        return self.oms.new_order(symbol, side, qty, OrdType.LIMIT, price, TimeInForce.DAY)

    async def run(self, count: int, pace_s: float) -> list[OmsOrder]:
        sent: list[OmsOrder] = []
        while len(sent) < count:
            try:
                sent.append(self._one())
            except ConnectionError:
                self.oms.orders.popitem()  # registered before the send failed
                await asyncio.sleep(0.2)
                continue
            if self.rng.random() < 0.1 and len(sent) > 3:
                target = self.rng.choice(sent[-5:])
                if not target.is_terminal:
                    with contextlib.suppress(ConnectionError):
                        self.oms.cancel(target)
            await asyncio.sleep(self.rng.uniform(0, 2 * pace_s))
        return sent


async def run_trial(number: int, kind: str, options: ChaosOptions, root: Path,
                    rng: random.Random) -> TrialResult:
    directory = root / f"trial-{number:03d}-{kind}"
    directory.mkdir(parents=True)
    started = time.monotonic()
    moments = sorted(rng.uniform(0.3, 3.0) for _ in range(options.kills))
    result = TrialResult(number, kind, [(at, rng.uniform(0.2, 2.0)) for at in moments],
                         directory=str(directory))
    config_path = trial_config(directory)
    config = load_config(config_path)
    ledger = directory / "venue-fills.jsonl"
    sim = Process("sim", ["sim", "--config", str(config_path), "--fill-ledger", str(ledger)],
                  directory / "sim.log")
    daemon = Process("daemon", ["run", "--config", str(config_path)], directory / "daemon.log")
    oms = OmsClient.for_config(
        config, id_prefix=f"T{number}-",
        store=SessionStore(path=str(directory / "oms-store"), persist_messages=True,
                           reset_on_logon=False))
    killed_pids: set[int] = set()
    orders: list[OmsOrder] = []
    try:
        await sim.start()
        await daemon.start()
        assert sim.proc is not None and daemon.proc is not None
        try:
            await wait_ready(config, [sim.proc, daemon.proc])
        except RuntimeError as exc:
            result.failures.append(str(exc))
            return result
        if not await oms.start():
            result.failures.append("the OMS could not log on")
            return result
        flow = asyncio.ensure_future(Flow(oms, config, rng).run(options.orders, 0.08))
        began = asyncio.get_running_loop().time()
        for at, down in result.kills:
            await asyncio.sleep(max(0.0, began + at - asyncio.get_running_loop().time()))
            if kind == "daemon":
                await daemon.kill()
                await asyncio.sleep(down)
                await daemon.start()
            elif kind == "venue":
                killed_pids.add(sim.pid)
                await sim.kill()
                await asyncio.sleep(down)
                await sim.start()
            else:
                oms.endpoint.logout_all("chaos: the OMS goes away")
                await asyncio.sleep(down)
                oms.endpoint.enable_all()
        orders = await flow
        result.orders = len(orders)
        await _settle(oms, orders, result)
    finally:
        with contextlib.suppress(Exception):
            await oms.stop()
        await daemon.stop()
        await sim.stop()
    _check(oms, orders, directory, ledger, killed_pids, result)
    result.seconds = time.monotonic() - started
    if not result.failures and not options.keep:
        shutil.rmtree(directory, ignore_errors=True)
    return result


async def _settle(oms: OmsClient, orders: list[OmsOrder], result: TrialResult) -> None:
    """Cancel what still works once everything is back, and wait for every order to end."""
    if not await wait_until(lambda: oms.endpoint.is_logged_on(oms.session), 30):
        result.failures.append("the OMS session did not come back")
        return
    await oms.wait_for(lambda: all(o.order_id or o.is_terminal for o in orders), 10)
    for _ in range(3):
        for order in orders:
            if not order.is_terminal and order.order_id:
                with contextlib.suppress(ConnectionError):
                    oms.cancel(order)
        if await oms.wait_for(lambda: all(o.is_terminal for o in orders), 15):
            return
    for order in orders:
        if not order.is_terminal:
            result.failures.append(f"{order.cl_ord_id} never ended: {order.status.name} "
                                   f"{order.cum_qty}/{order.qty}")


def _check(oms: OmsClient, orders: list[OmsOrder], directory: Path, ledger: Path,
           killed: set[int], result: TrialResult) -> None:
    fail = result.failures.append
    result.duplicate_reports = oms.duplicates
    venue_fills: dict[tuple[str, str], tuple[int, int]] = {}
    if ledger.exists():
        for line in ledger.read_bytes().splitlines():
            entry = orjson.loads(line)
            venue_fills[(entry["child"], entry["exec_id"])] = (entry["qty"], entry["pid"])
    journal = open_read_only(directory / "journal.db")
    try:
        journal_fills: dict[tuple[str, str], int] = {}
        for order in orders:
            if not order.order_id:
                continue
            oms_filled = sum(q for q, _, _ in order.fills)
            if oms_filled != order.cum_qty:
                fail(f"{order.cl_ord_id}: OMS fills add up to {oms_filled}, CumQty says "
                     f"{order.cum_qty}")
            if order.cum_qty > order.qty:
                fail(f"{order.cl_ord_id} overfilled: {order.cum_qty} of {order.qty}")
            found = journal.find(order.order_id)
            if len(found) != 1:
                fail(f"{order.cl_ord_id}: {len(found)} journal records")
                continue
            parent = found[0]
            fills = journal.fills(parent.order_id)
            for fill in fills:
                journal_fills[(fill.child, fill.exec_id)] = fill.qty
            if sum(f.qty for f in fills) != parent.cum_qty:
                fail(f"{order.cl_ord_id}: journal fills add up to "
                     f"{sum(f.qty for f in fills)}, parent has {parent.cum_qty}")
            if (parent.cum_qty, parent.status) != (order.cum_qty, order.status):
                fail(f"{order.cl_ord_id}: OMS has {order.status.name} {order.cum_qty}, the "
                     f"journal {parent.status.name} {parent.cum_qty}")
            result.filled_oms += order.cum_qty
        result.filled_journal = sum(journal_fills.values())
    finally:
        journal.close()
    result.filled_venues = sum(q for q, _ in venue_fills.values())
    # Per child: a fill the venue could not resend (its session was reset, e.g. at the
    # day boundary) is applied from its status, keyed by the status reply's ExecID (0) and
    # CumQty.
    journal_by_child: dict[str, int] = {}
    for (child, _), qty in journal_fills.items():
        journal_by_child[child] = journal_by_child.get(child, 0) + qty
    venue_by_child: dict[str, int] = {}
    excusable: dict[str, int] = {}
    for (child, exec_id), (qty, pid) in venue_fills.items():
        venue_by_child[child] = venue_by_child.get(child, 0) + qty
        if pid in killed and (child, exec_id) not in journal_fills:
            excusable[child] = excusable.get(child, 0) + qty
    for child in sorted(journal_by_child.keys() | venue_by_child.keys()):
        applied, filled = journal_by_child.get(child, 0), venue_by_child.get(child, 0)
        if applied > filled:
            fail(f"{child}: {applied} shares applied, the venue filled {filled}")
        elif filled - applied > excusable.get(child, 0):
            fail(f"lost fill: {child} filled {filled} at its venue, {applied} applied")
        else:
            result.unreported += filled - applied


async def run_chaos(options: ChaosOptions, root: Path | None = None,
                    progress: bool = True) -> list[TrialResult]:
    root = root or Path(tempfile.mkdtemp(prefix="sor-chaos-"))
    rng = random.Random(options.seed)
    results = []
    for number in range(options.trials):
        kind = options.kinds[number % len(options.kinds)]
        result = await run_trial(number, kind, options, root, rng)
        results.append(result)
        if progress:
            print(summary_line(result), flush=True)
    return results


def summary_line(r: TrialResult) -> str:
    status = "ok" if not r.failures else f"FAILED ({len(r.failures)})"
    kills = ", ".join(f"{at:.1f}s (down {down:.1f}s)" for at, down in r.kills)
    text = (f"trial {r.number:3d} {r.kind:<6} killed at {kills}: {r.orders} orders, "
            f"filled OMS {r.filled_oms} / journal "
            f"{r.filled_journal} / venues {r.filled_venues}")
    if r.unreported:
        text += f" (unreported by the killed venue: {r.unreported})"
    if r.duplicate_reports:
        text += f", {r.duplicate_reports} resent reports ignored"
    text += f", {r.seconds:.0f}s: {status}"
    for failure in r.failures[:10]:
        text += f"\n    {failure}"
    if r.failures:
        text += f"\n    kept: {r.directory}"
    return text


def report(results: list[TrialResult]) -> str:
    failed = [r for r in results if r.failures]
    by_kind: dict[str, int] = {}
    for r in results:
        by_kind[r.kind] = by_kind.get(r.kind, 0) + 1
    return (f"{len(results)} trials ({', '.join(f'{k}: {n}' for k, n in by_kind.items())}), "
            f"{sum(r.orders for r in results)} orders, "
            f"{sum(r.filled_oms for r in results)} shares filled; "
            f"{len(failed)} trials failed, {sum(len(r.failures) for r in failed)} failures")
