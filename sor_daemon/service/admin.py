"""The operator's control channel: a Unix domain socket, mode 0600, one JSON line each way.

No network listener: whoever can open the socket file (its owner, by default) controls
the router. `sor-daemon admin status|halt|resume|cancel-all` is the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

COMMANDS = ("status", "halt", "resume", "cancel-all")
MAX_REQUEST = 64 * 1024


class AdminError(Exception):
    """The control socket cannot be used; the message says why, in one line."""


Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class AdminServer:
    def __init__(self, path: str | Path, handler: Handler) -> None:
        self.path = Path(path)
        self._handler = handler
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() or self.path.is_symlink():
            if not stat.S_ISSOCK(self.path.lstat().st_mode):
                raise AdminError(f"{self.path}: exists and is not a socket; not replacing it")
            if _answers(self.path):
                raise AdminError(f"{self.path}: another daemon is listening there")
            self.path.unlink()  # left by a daemon that did not stop cleanly
        old = os.umask(0o177)  # created 0600: no window where others could connect
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.path),
                                                           limit=MAX_REQUEST)
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5.0)
            try:
                request = orjson.loads(line)
                if not isinstance(request, dict) or request.get("command") not in COMMANDS:
                    raise ValueError
            except ValueError:
                reply: dict[str, Any] = {
                    "ok": False, "error": f"expected one JSON object line with a command "
                                          f"({', '.join(COMMANDS)})"}
            else:
                reply = await self._handler(request)
            writer.write(orjson.dumps(reply) + b"\n")
            await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass  # a client that said nothing useful, or went away
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


def _answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def request(path: str | Path, command: str, timeout: float = 10.0,
            **fields: Any) -> dict[str, Any]:
    """Send one command to a running daemon and return its reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        try:
            conn.connect(str(path))
        except FileNotFoundError:
            raise AdminError(f"{path}: no control socket (is the daemon running with this "
                             "config's [admin] socket?)") from None
        except PermissionError:
            raise AdminError(f"{path}: permission denied (the socket is mode 0600: run as "
                             "the daemon's user)") from None
        except OSError as exc:
            raise AdminError(f"{path}: cannot connect: {exc.strerror or exc}") from None
        conn.sendall(orjson.dumps({"command": command, **fields}) + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                raise AdminError(f"{path}: no reply within {timeout:g} s") from None
            if not chunk:
                break
            data += chunk
    try:
        reply = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise AdminError(f"{path}: the daemon closed the connection without a reply") from None
    return reply


def print_reply(command: str, reply: dict[str, Any]) -> int:
    """Print a reply for people; 0 if the command was carried out."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not reply.get("ok"):
        console.print(f"[bold red]refused:[/] {reply.get('error', 'no reason given')}")
        return 1
    if command != "status":
        console.print(reply.get("message", "done"))
        return 0
    status = reply["status"]
    halts = status["halts"]
    if halts:
        for halt in halts:
            scope = "ALL ORDERS" if halt["scope"] == "*" else halt["scope"]
            console.print(f"[bold red]HALTED[/] {scope}: {halt['reason']} "
                          f"(by {halt['by']}, since {halt['since']})")
    else:
        console.print("[bold green]kill switch: off[/] (routing)")

    def table(title: str, header: list[str], rows: list[list[Any]]) -> None:
        out = Table(title=title, title_justify="left")
        for i, name in enumerate(header):
            out.add_column(name, justify="left" if i == 0 else "right", no_wrap=i == 0)
        for row in rows:
            out.add_row(*("" if v is None else str(v) for v in row))
        console.print(out)

    table("Sessions", ["session", "kind", "state"],
          [[s["name"], s["kind"], "up" if s["up"] else "[red]down[/]"]
           for s in status["sessions"]])
    table("Venue health (rolling scorecard)",
          ["route", "fill rate %", "reject rate %", "ack ms", "outages", "children"],
          [[v["route"], _pct(v["fill_rate"]), _pct(v["reject_rate"]),
            None if v["ack_latency_s"] is None else f"{v['ack_latency_s'] * 1e3:.2f}",
            v["outages"], v["children"]] for v in status["venues"]])
    orders = status["open_orders"]
    table(f"Open orders: {status['open_count']}"
          + (f" (first {len(orders)} shown)" if len(orders) < status["open_count"] else ""),
          ["ClOrdID", "session", "symbol", "side", "qty", "filled", "status", "strategy",
           "children working"],
          [[o["cl_ord_id"], o["session"], o["symbol"], o["side"], o["qty"], o["filled"],
            o["status"], o["strategy"], o["working_children"]] for o in orders])
    return 0


def _pct(value: float | None) -> str | None:
    return None if value is None else f"{value * 100:.1f}"
