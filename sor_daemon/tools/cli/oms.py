"""`sor-daemon oms`: a small FIX OMS client."""

from __future__ import annotations

import argparse
import sys

from sor_daemon.config import ConfigError, SorConfig
from sor_daemon.core.domain import OrdType, Side, TimeInForce
from sor_daemon.tools.cli.common import (
    DEFAULT_CONFIG,
    Subparsers,
    configured,
    decimal_arg,
    load,
    problems,
    serve,
)


def add(sub: Subparsers) -> None:
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
        p.add_argument("--price", type=decimal_arg, help="limit price (omit for market)")
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
            p.add_argument("--price", type=decimal_arg, help="new limit price")
            p.add_argument("--tif", choices=["day", "ioc"], default="day")
    flow = actions.add_parser("flow", help="send the demo order flow to a running daemon")
    flow.add_argument("--orders", type=int, default=300)
    flow.add_argument("--seed", type=int, default=7)
    oms.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    try:
        config, _, _ = load(args.config, credentials=True)
    except ConfigError as exc:
        return problems(exc)
    configured(config)
    return serve(lambda stop: _oms(args, config))


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
