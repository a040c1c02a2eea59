"""Risk and control through the real stack: the admin socket, the kill switch, logon
security, the per-session throttle, and the audit trail of real FIX traffic."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from sor_daemon.config import SorConfig
from sor_daemon.core.domain import OrdRejReason, OrdStatus, OrdType, Side, TimeInForce
from sor_daemon.fix.endpoint import wait_until
from sor_daemon.fix.metrics import LOGON_REJECTS
from sor_daemon.service import admin
from sor_daemon.service.metrics import KILL_SWITCH
from sor_daemon.tools.oms_client import OmsClient
from sor_daemon.tools.reports.audit import lifecycle, read_trail
from tests.conftest import default_config_data
from tests.integration.conftest import Stack, running_stack

FAR_BID = Decimal("180.00")  # rests: the market is ~190


def config_with(**changes) -> SorConfig:
    data = default_config_data()
    for path, value in changes.items():
        *parents, key = path.split("__")
        node = data
        for part in parents:
            node = node[part]
        node[key] = value
    return SorConfig.model_validate(data)


async def ask(stack: Stack, command: str, **fields) -> dict:
    """The admin command, over the real socket (the client blocks: off the loop)."""
    return await asyncio.to_thread(admin.request, stack.config.admin.socket, command, 10.0,
                                   **fields)


async def test_admin_socket_halt_resume_and_cancel_all(stack: Stack):
    path = Path(stack.config.admin.socket)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_ISSOCK(path.stat().st_mode)
    resting = stack.oms.new_order("AAPL", Side.BUY, 300, OrdType.LIMIT, FAR_BID)
    assert await stack.oms.wait_for(lambda: resting.status is OrdStatus.NEW)
    status = (await ask(stack, "status"))["status"]
    assert status["halts"] == [] and status["open_count"] == 1
    assert status["open_orders"][0]["cl_ord_id"] == resting.cl_ord_id
    assert {s["name"] for s in status["sessions"] if s["up"]} >= {"oms:OMS", "XNAS", "BRKA"}

    reply = await ask(stack, "halt", reason="fat finger on the desk")
    assert reply["ok"] and "1 working children" in reply["message"]
    assert KILL_SWITCH._value.get() == 1
    parent = stack.daemon.engine.parent(stack.session, resting.cl_ord_id)
    assert await wait_until(lambda: not parent.live_children())
    assert resting.status is OrdStatus.NEW, "the parent stays open while halted"
    refused = stack.oms.new_order("AAPL", Side.BUY, 100, OrdType.LIMIT, FAR_BID)
    assert await stack.oms.wait_for(lambda: refused.is_terminal)
    assert refused.status is OrdStatus.REJECTED
    assert refused.text == ("kill switch engaged (fat finger on the desk, by operator): new "
                            "orders are refused until an operator resumes")
    assert not (await ask(stack, "halt"))["ok"], "already engaged"
    status = (await ask(stack, "status"))["status"]
    assert [(h["scope"], h["by"]) for h in status["halts"]] == [("*", "operator")]

    assert (await ask(stack, "resume"))["ok"]
    assert KILL_SWITCH._value.get() == 0
    assert await wait_until(lambda: len(parent.live_children()) == 1), "routed again"

    reply = await ask(stack, "cancel-all", reason="end of day")
    assert reply["ok"] and reply["message"] == "cancelling 1 open orders"
    assert await stack.oms.wait_for(lambda: resting.is_terminal)
    assert resting.status is OrdStatus.CANCELED
    assert resting.text == "canceled by operator: end of day"
    assert (await ask(stack, "status"))["status"]["open_count"] == 0

    # The CLI prints the status table.
    out = await asyncio.to_thread(subprocess.run, [
        sys.executable, "-m", "sor_daemon", "admin", "status", "--socket", str(path)],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "kill switch: off" in out.stdout and "Open orders: 0" in out.stdout


async def test_pre_trade_limit_breach_is_rejected_with_reason_and_text(stack: Stack):
    order = stack.oms.new_order("SPY", Side.BUY, 60_000, OrdType.LIMIT, Decimal("560.00"))
    assert await stack.oms.wait_for(lambda: order.is_terminal)
    assert order.status is OrdStatus.REJECTED
    assert order.reports[-1].ord_rej_reason is OrdRejReason.ORDER_EXCEEDS_LIMIT
    assert order.text == "risk limit: OrderQty (38) 60000 is above max_order_qty 50000"
    fat = stack.oms.new_order("AAPL", Side.BUY, 100, OrdType.LIMIT, Decimal("209.00"))
    assert await stack.oms.wait_for(lambda: fat.is_terminal)
    assert fat.text == ("risk limit: Price (44) 209 is 1000 bps above the NBBO mid 190.005 "
                        "(price_collar_bps 500)")


def _unknown_comp_id_logon(port: int) -> bytes:
    body = "35=A\x0149=EVIL\x0156=SOR\x0134=1\x0152=20260101-00:00:00\x0198=0\x01108=30\x01"
    head = f"8=FIX.4.4\x019={len(body)}\x01{body}"
    frame = (head + f"10={sum(head.encode()) % 256:03d}\x01").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(frame)
        return conn.recv(4096)  # quickfix has no session for it: closed unanswered


async def test_logon_needs_the_configured_credentials(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path):
    monkeypatch.setenv("SOR_TEST_OMS_PASSWORD", "s3cret-pa55")
    secret = tmp_path / "desk2.secret"
    secret.write_text("another-s3cret\n")
    # Two sessions: the stack's client logs on to the first (one quickfix SessionID per
    # process), the intruder tries the second.
    config = config_with(oms__sessions=[
        {"comp_id": "OMS", "username": "desk1", "password_env": "SOR_TEST_OMS_PASSWORD"},
        {"comp_id": "OMS2", "username": "desk2", "password_file": str(secret)}])
    bad = LOGON_REJECTS.labels("bad_credentials")
    unknown = LOGON_REJECTS.labels("unknown_comp_id")
    before_bad, before_unknown = bad._value.get(), unknown._value.get()
    async with running_stack(config=config) as stack:  # its OMS client logs on: good secret
        intruder = OmsClient.for_config(config, session=1, password="another-s3cre")
        try:
            assert not await intruder.start(timeout=3), "a wrong password must not log on"
        finally:
            await intruder.stop()
        assert bad._value.get() >= before_bad + 1
        desk2 = OmsClient.for_config(config, session=1)  # the secret from its file
        try:
            assert await desk2.start(), "the right password logs on"
        finally:
            await desk2.stop()
        assert await asyncio.to_thread(_unknown_comp_id_logon, config.oms.port) == b""
        assert await wait_until(lambda: unknown._value.get() == before_unknown + 1)
        order = stack.oms.new_order("AAPL", Side.BUY, 100, OrdType.LIMIT, Decimal("190.05"),
                                    TimeInForce.IOC)
        assert await stack.oms.wait_for(lambda: order.is_terminal), "the desk still trades"


async def test_a_flood_from_one_session_is_throttled_without_starving_another():
    sessions = [{"comp_id": "OMS", "limits": {"messages_per_second": 100, "burst": 50}},
                {"comp_id": "OMS2"}]
    config = config_with(oms__sessions=sessions)
    async with running_stack(config=config) as stack:
        calm = OmsClient.for_config(config, session=1)
        assert await calm.start()
        try:
            flood = [stack.oms.new_order("AAPL", Side.BUY, 100, OrdType.LIMIT, FAR_BID,
                                         TimeInForce.IOC) for _ in range(1500)]
            steady = []
            for _ in range(20):  # while the flood is being worked through
                steady.append(calm.new_order("AAPL", Side.BUY, 100, OrdType.LIMIT, FAR_BID,
                                             TimeInForce.IOC))
                await asyncio.sleep(0.02)
            assert await calm.wait_for(lambda: all(o.is_terminal for o in steady), 30)
            assert await stack.oms.wait_for(lambda: all(o.is_terminal for o in flood), 60)
        finally:
            await calm.stop()
    throttled = [o for o in flood if (o.text or "").startswith("throttled")]
    assert len(throttled) >= 1000, f"only {len(throttled)} of 1500 throttled"
    assert all(o.reports[-1].ord_rej_reason is OrdRejReason.ORDER_EXCEEDS_LIMIT
               for o in throttled)
    assert not any((o.text or "").startswith("throttled") for o in steady)
    assert all(o.status is OrdStatus.CANCELED for o in steady), "worked, not refused"


async def test_audit_trail_reconstructs_an_order_from_real_traffic(tmp_path: Path):
    trail = tmp_path / "audit.jsonl"
    config = config_with(audit__path=str(trail), audit__durability="fsync")
    async with running_stack(config=config) as stack:
        order = stack.oms.new_order("AAPL", Side.BUY, 300, OrdType.LIMIT, FAR_BID)
        assert await stack.oms.wait_for(lambda: order.status is OrdStatus.NEW)
        stack.oms.replace(order, 400, FAR_BID)
        assert await stack.oms.wait_for(lambda: order.current != order.cl_ord_id
                                        and order.status is OrdStatus.NEW)
        cancel_id = stack.oms.cancel(order)
        assert await stack.oms.wait_for(lambda: order.is_terminal)
        assert stat.S_IMODE(os.stat(trail).st_mode) == 0o600
    found = lifecycle(read_trail(trail), cancel_id)
    assert found.chain[0] == order.cl_ord_id and found.chain[-1] == cancel_id
    assert found.status == "Canceled"
    oms_types = [e.record.get("msg_type") for e in found.entries
                 if e.record.get("cpty") == "oms:OMS" and e.record.get("dir") == "in"]
    assert oms_types == ["D", "G", "F"]
    assert len(found.children) >= 2, "one child before the replace, one after"
    assert any(e.record.get("kind") == "decision" for e in found.entries)
    out = subprocess.run([sys.executable, "-m", "sor_daemon", "audit", order.cl_ord_id,
                          "--trail", str(trail)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "OrderCancelReplaceRequest" in out.stdout and cancel_id in out.stdout
