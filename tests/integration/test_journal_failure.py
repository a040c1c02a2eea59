"""A journal that cannot be written, through real FIX sessions: what it did not take is
not carried out, what it took is, and the kill switch engages either way."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest

from sor_daemon.config import SorConfig
from sor_daemon.core.domain import ExecType, OrdStatus, OrdType, Side, TimeInForce
from sor_daemon.core.risk import ALL
from sor_daemon.service import journal as journal_module
from sor_daemon.service.daemon import Daemon
from sor_daemon.service.journal import Journal, open_read_only
from tests.conftest import default_config_data
from tests.integration.conftest import Stack, running_stack

pytestmark = pytest.mark.integration


def journaled(tmp_path: Path) -> SorConfig:
    data = default_config_data()
    data["journal"] = {"path": str(tmp_path / "journal.db"),
                       "session_dir": str(tmp_path / "fix-store")}
    return SorConfig.model_validate(data)


def marketable_ioc(stack: Stack):
    return stack.oms.new_order("AAPL", Side.BUY, 100, OrdType.LIMIT, Decimal("190.05"),
                               TimeInForce.IOC)


def filled_at_venues(stack: Stack) -> int:
    sim = stack.sim
    return sum(sim.filled_shares(name) for name in [*sim.lit, *sim.dark])


def redo_log_on_a_full_device(daemon: Daemon) -> None:
    """From now on each append to the redo log fails as on a full disk (ENOSPC)."""
    assert daemon.journal is not None and daemon.journal._redo is not None
    full = os.open("/dev/full", os.O_WRONLY)
    try:
        os.dup2(full, daemon.journal._redo)
    finally:
        os.close(full)


async def test_an_order_the_journal_could_not_take_is_not_routed_but_rejected(tmp_path):
    config = journaled(tmp_path)
    async with running_stack(config=config) as stack:
        daemon = stack.daemon
        redo_log_on_a_full_device(daemon)
        order = marketable_ioc(stack)
        assert await stack.oms.wait_for(lambda: order.is_terminal, 5)
        assert [(r.exec_type, r.ord_status) for r in order.reports] == [
            (ExecType.REJECTED, OrdStatus.REJECTED)], "one definite answer, nothing else"
        assert "journal unwritable" in order.text and "No space left" in order.text
        assert order.cum_qty == 0 and filled_at_venues(stack) == 0, "no child went out"
        parent = daemon.engine.parent(stack.session, order.cl_ord_id)
        assert parent is not None and parent.status is OrdStatus.REJECTED
        assert parent.children and all(c.status is OrdStatus.REJECTED
                                       for c in parent.children.values())
        assert ALL in daemon.engine.kill_switch.halts
        assert "journal unwritable" in daemon.engine.kill_switch.halts[ALL].reason

        after = marketable_ioc(stack)  # the journal stays failed: refused, not routed
        assert await stack.oms.wait_for(lambda: after.is_terminal, 5)
        assert after.status is OrdStatus.REJECTED and filled_at_venues(stack) == 0
    journal = open_read_only(config.journal.path)
    try:
        assert journal.find(order.cl_ord_id) == [] and journal.find(after.cl_ord_id) == []
    finally:
        journal.close()


async def test_an_order_in_the_redo_log_is_carried_out_though_the_database_fails(
        tmp_path, monkeypatch):
    """The redo log is the point of durability: a failed apply to the database halts
    trading, and the next start applies what the log holds."""
    config = journaled(tmp_path)
    async with running_stack(config=config) as stack:
        with monkeypatch.context() as patched:
            patched.setattr(journal_module, "_APPLY",
                            (("parents", "INSERT INTO nowhere VALUES (?)"),))
            order = marketable_ioc(stack)
            assert await stack.oms.wait_for(lambda: order.is_terminal, 5)
            assert order.status is OrdStatus.FILLED and filled_at_venues(stack) == 100
            assert ALL in stack.daemon.engine.kill_switch.halts
            await stack.daemon.stop()  # its journal cannot apply at close either
    journal = Journal(config.journal.path)
    try:
        assert journal.replayed > 0
        [parent] = journal.find(order.cl_ord_id)
        assert (parent.status, parent.cum_qty) == (OrdStatus.FILLED, 100)
    finally:
        journal.close()
