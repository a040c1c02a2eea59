"""sd_notify's reading of systemd's environment, and its datagrams (abstract socket too)."""

from __future__ import annotations

import os
import socket

from sor_daemon.service.sd_notify import Notifier, watchdog_period


def test_watchdog_period_from_systemd_variables() -> None:
    assert watchdog_period({}) is None
    assert watchdog_period({"WATCHDOG_USEC": "30000000"}) == 30.0
    assert watchdog_period({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_period({"WATCHDOG_USEC": "soon"}) is None
    mine = {"WATCHDOG_USEC": "1500000", "WATCHDOG_PID": str(os.getpid())}
    assert watchdog_period(mine) == 1.5
    assert watchdog_period({**mine, "WATCHDOG_PID": str(os.getpid() + 1)}) is None


def test_variables_are_taken_out_of_the_environment() -> None:
    env = {"NOTIFY_SOCKET": "/run/systemd/notify", "WATCHDOG_USEC": "30000000",
           "WATCHDOG_PID": str(os.getpid()), "HOME": "/var/lib/sor-daemon"}
    notifier = Notifier.from_environment(env)
    assert (notifier.address, notifier.watchdog_s) == ("/run/systemd/notify", 30.0)
    assert env == {"HOME": "/var/lib/sor-daemon"}


def test_without_a_socket_nothing_is_sent() -> None:
    notifier = Notifier.from_environment({"WATCHDOG_USEC": "30000000"})
    assert notifier.watchdog_s is None
    assert not notifier.notify("READY=1")
    notifier.stopping()


def test_abstract_socket_address() -> None:
    name = f"sor-notify-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind("\0" + name)
        listener.settimeout(5)
        notifier = Notifier("@" + name)
        try:
            assert notifier.notify("STATUS=starting", "EXTEND_TIMEOUT_USEC=1")
            assert listener.recv(4096) == b"STATUS=starting\nEXTEND_TIMEOUT_USEC=1"
        finally:
            notifier.close()
