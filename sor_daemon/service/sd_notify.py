"""systemd's service notification protocol (sd_notify), with the standard library only.

Under a ``Type=notify`` unit, systemd passes a Unix datagram socket in ``NOTIFY_SOCKET``
and, with ``WatchdogSec=``, the watchdog period in ``WATCHDOG_USEC``. The daemon says
``READY=1`` once it can serve, keeps ``STATUS=`` current for `systemctl status`, pings
``WATCHDOG=1`` from a task on its event loop (a loop that stops turning stops the pings,
and systemd restarts the service), and says ``STOPPING=1`` when it starts shutting down.
Without ``NOTIFY_SOCKET`` (a shell, a container, a test) every call does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable, Mapping, MutableMapping

STATUS_SECONDS = 2.0
"""How often the status line is looked at (sent only when it changed)."""


def watchdog_period(environ: Mapping[str, str]) -> float | None:
    """The watchdog period in seconds that systemd asks for, or None (no watchdog, or it
    is meant for another process: ``WATCHDOG_PID``)."""
    usec, pid = environ.get("WATCHDOG_USEC", ""), environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 1e6


class Notifier:
    """One service's link to systemd. ``address``: the ``NOTIFY_SOCKET`` value (a path,
    or ``@name`` for the abstract namespace); None: notifications are dropped."""

    def __init__(self, address: str | None, watchdog_s: float | None = None) -> None:
        self.address = address
        self.watchdog_s = watchdog_s if address else None
        self._socket: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None
        self._status = ""

    @classmethod
    def from_environment(cls, environ: MutableMapping[str, str] | None = None) -> Notifier:
        """Read, then remove, systemd's variables, so that child processes (the demo's
        daemon and venues) do not report as this service."""
        env = os.environ if environ is None else environ
        notifier = cls(env.get("NOTIFY_SOCKET") or None, watchdog_period(env))
        for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
            env.pop(name, None)
        return notifier

    def notify(self, *fields: str) -> bool:
        """Send ``KEY=value`` lines in one datagram; False if there is no socket or the
        send failed (systemd gone: nothing to do about it)."""
        if not self.address:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._socket.sendto("\n".join(fields).encode(), target)
        except OSError:
            return False
        return True

    def ready(self, status: Callable[[], str]) -> None:
        """Say READY=1 with the first status line, then, on the running loop, ping the
        watchdog (every third of its period) and keep the status line current."""
        self._status = status()
        self.notify("READY=1", f"STATUS={self._status}", f"MAINPID={os.getpid()}")
        if self.address:
            self._task = asyncio.get_running_loop().create_task(self._serve(status))

    def stopping(self, status: str = "stopping: logging out of every FIX session") -> None:
        """Say STOPPING=1 and stop the watchdog pings (systemd stops expecting them)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self.notify("STOPPING=1", f"STATUS={status}")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    async def _serve(self, status: Callable[[], str]) -> None:
        every = min(self.watchdog_s / 3, STATUS_SECONDS) if self.watchdog_s else STATUS_SECONDS
        while True:
            await asyncio.sleep(every)
            fields = ["WATCHDOG=1"] if self.watchdog_s else []
            with contextlib.suppress(Exception):  # a status that fails is not a frozen loop
                line = status()
                if line != self._status:
                    self._status = line
                    fields.append(f"STATUS={line}")
            if fields:
                self.notify(*fields)
