"""The `sor-daemon` command and its subcommands."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path

from sor_daemon.config import (
    ConfigError,
    SorConfig,
    check_config,
    load_config,
    load_market,
    market_path,
    oms_counterparty,
    oms_credentials,
)
from sor_daemon.core.domain import OrdType, Side, TimeInForce
from sor_daemon.service.files import PRIVATE_UMASK
from sor_daemon.tools.reports.bestex import parse_when
from sor_sim.config import MarketConfig

DEFAULT_CONFIG = os.environ.get("SOR_CONFIG") or "config/sor.toml"
"""Every subcommand's --config unless given: $SOR_CONFIG (set in the container image)."""


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sor-daemon",
        description="Smart order router: FIX in from the OMS, FIX out to venues.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the daemon until SIGTERM/SIGINT",
                         description="Run the router daemon until SIGTERM or SIGINT, then log "
                                     "out every FIX session and exit 0.")
    run.add_argument("--config", default=DEFAULT_CONFIG, help="daemon config (TOML)")
    run.add_argument("--accept-empty-journal", action="store_true",
                     help="start with an empty (or missing) journal even though the FIX "
                          "store has session history (the orders it held are forgotten)")

    check = sub.add_parser("check-config", help="validate a config file",
                           description="Validate a daemon config and the simulated market it "
                                       "names; print every problem, exit 1 if any.")
    check.add_argument("file", help="daemon config (TOML)")

    sim = sub.add_parser("sim", help="run the simulated venues of a config",
                         description="Start, as FIX acceptors, the simulated venues that the "
                                     "daemon config connects to; run until SIGTERM/SIGINT.")
    sim.add_argument("--config", default=DEFAULT_CONFIG, help="daemon config (TOML)")
    sim.add_argument("--fill-ledger", metavar="FILE",
                     help="append every fill to FILE (JSON lines) before reporting it")
    sim.add_argument("--market", help="simulated market file (default: the config's "
                                      "[sim] market)")

    demo = sub.add_parser("demo", help="simulated venues + daemon + a demo order flow",
                          description="Start the simulated venues and the daemon, send a demo "
                                      "order flow from the OMS client, print fills and a "
                                      "summary, stop everything.")
    demo.add_argument("--config", default=DEFAULT_CONFIG, help="daemon config (TOML)")
    demo.add_argument("--market", help="simulated market or scenario file (default: the "
                                       "config's [sim] market), e.g. config/scenarios/normal.toml")
    demo.add_argument("--orders", type=int, default=300, help="orders in the flow")
    demo.add_argument("--seed", type=int, default=7, help="random seed of the flow")
    demo.add_argument("--quiet", action="store_true", help="print only the summary")

    from sor_daemon.tools.lab.cli import add_parser as add_lab

    add_lab(sub, DEFAULT_CONFIG)

    tca = sub.add_parser("tca", help="TCA tables and charts from the daemon's records",
                         description="Per-strategy and per-route tables (slippage, shortfall, "
                                     "price improvement, markouts, latency) from the records "
                                     "the daemon appended ([monitor] records), and PNG charts.")
    tca.add_argument("--records", default="var/tca.jsonl", help="the daemon's record file")
    tca.add_argument("--out", default="var/tca", help="directory for the PNG charts")

    bestex = sub.add_parser(
        "bestex", help="best-execution report per venue (RTS 28 top-venues shape)",
        description="Per-venue execution quality over a period, in the shape of the MiFID II "
                    "RTS 28 top-five-venues table (share of volume and orders, passive vs "
                    "aggressive), with average slippage, price improvement, markouts, fill "
                    "and reject rates, from the records the daemon appended.")
    bestex.add_argument("--records", default="var/tca.jsonl", help="the daemon's record file")
    bestex.add_argument("--since", type=parse_when,
                        help="UTC, inclusive: 2026-11-24 or 2026-11-24T10:00[:00Z]")
    bestex.add_argument("--until", type=parse_when, help="UTC, exclusive")
    bestex.add_argument("--top", type=int, default=5, help="venues listed")

    admin = sub.add_parser(
        "admin", help="control a running daemon: status, halt, resume, cancel-all",
        description="Talk to a running daemon over its control socket ([admin] socket, a Unix "
                    "socket of mode 0600). status: sessions, kill switch, open orders, venue "
                    "health. halt: engage the kill switch (new orders refused; working "
                    "children cancelled if [risk] cancel_children_on_halt). resume: lift every "
                    "halt and route open orders again. cancel-all: cancel every open order.")
    admin.add_argument("action", choices=["status", "halt", "resume", "cancel-all"])
    admin.add_argument("--reason", help="why (logged and kept in the audit trail)")
    admin.add_argument("--config", default=DEFAULT_CONFIG, help="daemon config (TOML)")
    admin.add_argument("--socket", help="control socket (default: the config's)")

    audit = sub.add_parser(
        "audit", help="one order's full lifecycle from the audit trail",
        description="Reconstruct a parent order from the audit trail ([audit] path): every "
                    "OMS message in and out, routing decisions, children, venue messages and "
                    "fills, in time order. Any ClOrdID of the order works (original, "
                    "replacement, cancel) and so does a child's.")
    audit.add_argument("cl_ord_id", metavar="CLORDID")
    audit.add_argument("--config", default=DEFAULT_CONFIG, help="daemon config (TOML)")
    audit.add_argument("--trail", help="audit trail file (default: the config's)")
    audit.add_argument("--session", help="OMS CompID, when two sessions used the ClOrdID")

    chaos = sub.add_parser(
        "chaos", help="kill the daemon, the venues, the OMS link mid-flow; check nothing "
                      "is lost",
        description="Trials on loopback, each with its own simulated venues and brokers, "
                    "daemon (with a journal) and OMS: an order flow, a SIGKILL of the daemon "
                    "or of the venues and brokers (or an OMS disconnect) at a random "
                    "moment, a restart, then checks: no overfill, every fill the venues "
                    "reported applied once and reported to the OMS, every order ended. Exit 1 "
                    "if any trial failed; a failed trial's directory (logs, journal, ledger) "
                    "is kept.")
    chaos.add_argument("--trials", type=int, default=9, help="trials (kinds in turn)")
    chaos.add_argument("--orders", type=int, default=30, help="parent orders per trial")
    chaos.add_argument("--seed", type=int, default=1, help="random seed (timings, flow)")
    chaos.add_argument("--kills", type=int, default=2,
                       help="kills (each then restarted) per trial, at random moments")
    chaos.add_argument("--kinds", default="daemon,venue,oms",
                       help="what to kill, in turn: daemon, venue, oms")
    chaos.add_argument("--keep", action="store_true", help="keep every trial's directory")

    orders = sub.add_parser(
        "orders", help="an order as the journal recorded it (working or completed)",
        description="Look a parent order up in the journal ([journal] path) by OrderID or "
                    "by any ClOrdID it has had: its state, its children and every fill "
                    "with the venue's ExecID. Without an ID: totals. Safe while the "
                    "daemon runs (read-only).")
    orders.add_argument("key", metavar="ID", nargs="?", help="OrderID (37) or ClOrdID (11)")
    orders.add_argument("--config", default=DEFAULT_CONFIG, help="daemon config (TOML)")
    orders.add_argument("--journal", help="journal file (default: the config's)")

    bench = sub.add_parser(
        "bench", help="latency and throughput against a bare quickfix echo",
        description="Start a bare quickfix echo, the daemon (with the echo as its one "
                    "venue) and two relays with no logic on the daemon's route (the "
                    "floors) on loopback, and time every path from one OMS, in turn: "
                    "ack and fill round trips in ping-pong and at half load, throughput, "
                    "the daemon's decision latency and peak RSS, with the ratios daemon / "
                    "baseline. Writes bench.json and bench.png. With --soak: the daemon "
                    "path alone at a fixed rate, latency and memory over time "
                    "(soak.json, soak.png).")
    bench.add_argument("--rounds", type=int, default=5, help="rounds (each path per round)")
    bench.add_argument("--orders", type=int, default=2000,
                       help="orders per round and path, in ping-pong and at half load")
    bench.add_argument("--throughput-orders", type=int, default=4000,
                       help="orders per round and path for throughput")
    bench.add_argument("--window", type=int, default=32, help="orders in flight for throughput")
    bench.add_argument("--no-journal", action="store_true",
                       help="run the daemon without its journal (to measure what it costs)")
    bench.add_argument("--out", default="var/bench", help="directory for the JSON and PNG")
    bench.add_argument("--soak", type=float, metavar="SECONDS",
                       help="run the soak for this long instead")
    bench.add_argument("--rate", type=float, default=1000.0, help="soak: orders per second")
    bench.add_argument("--soak-orders", type=int, default=0,
                       help="soak: stop after this many orders (0: after SECONDS)")

    oms = sub.add_parser("oms", help="a small FIX OMS client",
                         description="Log on to the daemon as the OMS, send one request and "
                                     "print every ExecutionReport that comes back.")
    oms.add_argument("--config", default=DEFAULT_CONFIG, help="daemon config (TOML)")
    oms.add_argument("--host", default="127.0.0.1", help="daemon host")
    actions = oms.add_subparsers(dest="action", required=True, metavar="ACTION")

    def wait_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--wait", type=float, default=2.0,
                       help="seconds to keep printing reports (a new order: until it is done)")

    def order_args(p: argparse.ArgumentParser, new: bool) -> None:
        p.add_argument("--symbol", required=True)
        p.add_argument("--side", required=True, choices=["buy", "sell"])
        p.add_argument("--qty", type=int, required=new, help="shares")
        p.add_argument("--price", type=_decimal, help="limit price (omit for market)")
        p.add_argument("--tif", choices=["day", "ioc"], default="day")

    new = actions.add_parser("new", help="send a NewOrderSingle (D)")
    order_args(new, True)
    wait_arg(new)
    new.add_argument("--venue", help="pin to a venue (ExDestination, 100)")
    new.add_argument("--strategy", type=int, help="TargetStrategy (847) code")
    new.add_argument("--id", help="ClOrdID (default: generated)")
    for name, text in (("cancel", "send an OrderCancelRequest (F)"),
                       ("replace", "send an OrderCancelReplaceRequest (G)"),
                       ("status", "send an OrderStatusRequest (H)")):
        p = actions.add_parser(name, help=text)
        wait_arg(p)
        p.add_argument("--id", required=True, help="ClOrdID of the order")
        p.add_argument("--symbol", required=True)
        p.add_argument("--side", required=True, choices=["buy", "sell"])
        if name == "replace":
            p.add_argument("--qty", type=int, required=True, help="new total quantity")
            p.add_argument("--price", type=_decimal, help="new limit price")
            p.add_argument("--tif", choices=["day", "ioc"], default="day")
    flow = actions.add_parser("flow", help="send the demo order flow to a running daemon")
    flow.add_argument("--orders", type=int, default=300)
    flow.add_argument("--seed", type=int, default=7)
    return parser


def _serve(body: Callable[[asyncio.Event], Awaitable[int | None]]) -> int:
    """Run ``body`` on uvloop with SIGTERM/SIGINT setting its stop event."""
    import uvloop

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        # After `import quickfix` (which resets SIGINT), so these stick.
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await body(stop) or 0

    return uvloop.run(main())


def _load(path: str, with_market: bool = False) -> tuple[SorConfig, MarketConfig | None]:
    config = load_config(path)
    market = None
    if with_market:
        location = market_path(config, path)
        if location is None:
            raise ConfigError([f"{path}: no [sim] section: nothing to simulate"])
        market = load_market(location, config)
    return config, market


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check-config":
        problems = check_config(args.file)
        for line in problems:
            print(line, file=sys.stderr)
        if not problems:
            print(f"{args.file}: ok")
        return 1 if problems else 0
    if args.command == "tca":
        from sor_daemon.tools.reports.tca import ReportError, report

        try:
            charts = report(Path(args.records), Path(args.out))
        except ReportError as exc:
            print(exc, file=sys.stderr)
            return 1
        print("charts: " + ", ".join(str(c) for c in charts))
        return 0
    if args.command == "bestex":
        from sor_daemon.tools.reports.bestex import main as bestex

        return bestex(Path(args.records), args.since, args.until, args.top)
    if args.command == "bench":
        return _bench(args)
    if args.command == "lab":
        from sor_daemon.tools.lab.cli import main as lab

        return lab(args)
    if args.command == "chaos":
        return _chaos(args)
    if args.command == "admin" and args.socket:
        return _admin(args, args.socket)
    if args.command == "audit" and args.trail:
        return _audit(args, Path(args.trail))
    if args.command == "orders" and args.journal:
        return _orders(args.key, Path(args.journal))
    try:
        config, market = _load(args.config, with_market=args.command in ("sim", "demo"))
        if args.command in ("sim", "demo") and args.market:
            market = load_market(args.market, config)
        # A secret that cannot be read: said before anything starts (read once, for run).
        credentials = oms_credentials(config) if args.command in ("run", "demo",
                                                                  "oms") else None
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 1

    if args.command == "admin":
        return _admin(args, config.admin.socket)
    if args.command == "audit":
        if not config.audit.path:
            print(f"{args.config}: [audit] path is empty: no audit trail", file=sys.stderr)
            return 1
        return _audit(args, Path(config.audit.path))
    if args.command == "orders":
        if not config.journal.path:
            print(f"{args.config}: [journal] path is empty: no journal", file=sys.stderr)
            return 1
        return _orders(args.key, Path(config.journal.path))

    from sor_daemon.service.logs import configure_logging

    configure_logging(config.log.level)
    # What the daemon and the venues write (quickfix's and SQLite's files too): owner only.
    os.umask(PRIVATE_UMASK)
    if args.command == "run":
        import faulthandler

        from sor_daemon.service.daemon import Daemon, quiet_gc

        # A frozen loop killed by systemd's watchdog (SIGABRT) leaves every thread's
        # Python stack on stderr (the journal): where the loop was stuck.
        faulthandler.enable()

        def daemon(stop: asyncio.Event) -> Awaitable[int | None]:
            running = Daemon(config, credentials, args.accept_empty_journal)
            quiet_gc()  # once what lives as long as the process exists
            return running.run(stop)

        from sor_daemon.service.journal import JournalError

        try:
            return _serve(daemon)
        except JournalError as exc:
            print(f"refusing to start: {exc}", file=sys.stderr)
            return 2
    if args.command == "sim":
        from sor_sim.runner import run_sim

        assert market is not None
        return _serve(lambda stop: run_sim(config, market, stop, args.fill_ledger))
    if args.command == "demo":
        from sor_daemon.tools.demo import run_demo

        assert market is not None
        return _serve(lambda stop: run_demo(Path(args.config), config, market, args.orders,
                                            args.seed, stop, verbose=not args.quiet,
                                            market_path=args.market))
    return _serve(lambda stop: _oms(args, config))


def _bench(args: argparse.Namespace) -> int:
    from sor_daemon.tools.bench import report
    from sor_daemon.tools.bench.run import (
        BenchOptions,
        SoakOptions,
        run_bench,
        run_soak,
        write_json,
    )

    out = Path(args.out)
    try:
        if args.soak is not None:
            result = run_soak(SoakOptions(seconds=args.soak, rate=args.rate,
                                          max_orders=args.soak_orders,
                                          journal=not args.no_journal))
            print(report.soak_text(result))
            chart = report.soak_chart(result, out / "soak.png")
        else:
            result = run_bench(BenchOptions(
                orders=args.orders, rounds=args.rounds, window=args.window,
                throughput_orders=args.throughput_orders, journal=not args.no_journal))
            print(report.bench_text(result))
            chart = report.bench_chart(result, out / "bench.png")
    except (RuntimeError, TimeoutError) as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    print(f"\nwrote {write_json(result, out)} and {chart}")
    return 0


def _admin(args: argparse.Namespace, socket: str) -> int:
    from sor_daemon.service.admin import AdminError, print_reply, request

    try:
        reply = request(socket, args.action, **({"reason": args.reason} if args.reason else {}))
    except AdminError as exc:
        print(exc, file=sys.stderr)
        return 1
    return print_reply(args.action, reply)


def _chaos(args: argparse.Namespace) -> int:
    from sor_daemon.service.logs import configure_logging
    from sor_daemon.tools.chaos import KINDS, ChaosOptions, report, run_chaos

    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds or min(args.trials, args.orders, args.kills) < 1:
        print(f"--kinds takes {', '.join(KINDS)}; --trials, --orders, --kills at least 1",
              file=sys.stderr)
        return 2
    configure_logging("warning")
    options = ChaosOptions(trials=args.trials, orders=args.orders, seed=args.seed,
                           kinds=kinds, kills=args.kills, keep=args.keep)
    import uvloop

    results = uvloop.run(run_chaos(options))
    print(report(results))
    return 1 if any(r.failures for r in results) else 0


def _orders(key: str | None, path: Path) -> int:
    from sor_daemon.service.journal import JournalError, describe_parent, open_read_only

    try:
        journal = open_read_only(path)
    except JournalError as exc:
        print(exc, file=sys.stderr)
        return 1
    try:
        if journal.unapplied:
            print(f"{path}: {journal.unapplied} transactions in its redo log are not "
                  "applied yet (the daemon is busy, or stopped abruptly: its next start "
                  "applies them)", file=sys.stderr)
        if key is None:
            parents, shares = journal.totals()
            print(f"{path}: {parents} parent orders, {shares} shares filled")
            return 0
        found = journal.find(key)
        if not found:
            print(f"no order with OrderID or ClOrdID {key!r} in {path}", file=sys.stderr)
            return 1
        for parent in found:
            print(describe_parent(parent, journal.fills(parent.order_id)))
        return 0
    finally:
        journal.close()


def _audit(args: argparse.Namespace, trail: Path) -> int:
    from sor_daemon.tools.reports.audit import main as audit

    return audit(trail, args.cl_ord_id, args.session and oms_counterparty(args.session))


async def _oms(args: argparse.Namespace, config: SorConfig) -> int:
    from sor_daemon.tools.oms_client import OmsClient, OmsOrder, describe

    def show(order: OmsOrder | None, message) -> None:
        print(describe(message), flush=True)

    client = OmsClient.for_config(config, args.host, show)
    if not await client.start():
        print(f"could not log on to the daemon at {args.host}:{config.oms.port}",
              file=sys.stderr)
        await client.stop()
        return 1
    try:
        if args.action == "flow":
            from sor_daemon.tools.demo import load_flow_market, run_flow

            market = load_flow_market(args.config, config)
            summary = await run_flow(client, config, market, args.orders, args.seed,
                                     verbose=True)
            print(summary.render())
            return 0
        side = Side.BUY if args.side == "buy" else Side.SELL
        price = getattr(args, "price", None)
        ord_type = OrdType.LIMIT if price is not None else OrdType.MARKET
        tif = TimeInForce.IOC if getattr(args, "tif", "day") == "ioc" else TimeInForce.DAY
        if args.action == "new":
            order = client.new_order(args.symbol, side, args.qty, ord_type, price, tif,
                                     args.venue, args.strategy, args.id)
            await client.wait_for(lambda: order.is_terminal, args.wait)
            return 0
        order = OmsOrder(args.id, args.symbol, side, getattr(args, "qty", None) or 0,
                         ord_type, price, tif, current=args.id)
        client.orders[args.id] = order
        if args.action == "cancel":
            client.cancel(order)
        elif args.action == "replace":
            client.replace(order, args.qty, price)
        else:
            client.status(order)
        await client.wait_for(lambda: False, args.wait)
        return 0
    finally:
        await client.stop()
