"""`sor-daemon sim` and `sor-daemon run` as real processes under umask 022: every file
and directory they write (journal, redo log, WAL, TCA records, audit trail, quickfix's
FileStore and FileLog) is the owner's alone."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from sor_daemon.config import SorConfig, toml_text
from sor_daemon.core.domain import OrdStatus, OrdType, Side, TimeInForce
from sor_daemon.tools.oms_client import OmsClient
from tests.conftest import DEFAULT_MARKET, ROOT, default_config_data
from tests.integration.conftest import wait_until

pytestmark = pytest.mark.integration


def _umask_022() -> None:
    os.umask(0o022)


async def _process(args: list[str], log: Path) -> asyncio.subprocess.Process:
    with log.open("wb") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sor_daemon", *args, cwd=ROOT, stdout=out, stderr=out,
            preexec_fn=_umask_022)


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()


async def test_every_state_file_and_directory_is_owner_only_under_umask_022(tmp_path):
    var = tmp_path / "var"
    data = default_config_data()
    data["sim"]["market"] = str(DEFAULT_MARKET)
    data["journal"] = {"path": str(var / "state" / "journal.db"),
                       "session_dir": str(var / "fix-store")}
    data["monitor"]["records"] = str(var / "tca" / "tca.jsonl")
    data["audit"]["path"] = str(var / "audit" / "audit.jsonl")
    data["log"]["fix_message_dir"] = str(var / "fix-log")
    config_path = tmp_path / "sor.toml"
    config_path.write_text(toml_text(data))
    config = SorConfig.model_validate(data)
    sim = await _process(["sim", "--config", str(config_path)], tmp_path / "sim.log")
    daemon = None
    oms = OmsClient.for_config(config)
    try:
        await asyncio.sleep(1)  # the venues listen before the daemon connects
        daemon = await _process(["run", "--config", str(config_path)], tmp_path / "daemon.log")
        assert await oms.start(timeout=30), (tmp_path / "daemon.log").read_text()[-2000:]
        order = oms.new_order("AAPL", Side.BUY, 100, OrdType.LIMIT, Decimal("190.05"),
                              TimeInForce.IOC)
        assert await oms.wait_for(lambda: order.is_terminal, 10)
        assert order.status is OrdStatus.FILLED
        assert await wait_until(lambda: (var / "tca" / "tca.jsonl").exists(), 10)
    finally:
        await oms.stop()
        if daemon is not None:
            await _stop(daemon)
        await _stop(sim)
    written = sorted(var.rglob("*"))
    names = {p.name for p in written}
    for expected in ("journal.db", "journal.db-redo", "tca.jsonl", "audit.jsonl"):
        assert expected in names
    assert any(p.suffix == ".seqnums" for p in written), "quickfix's FileStore"
    assert any(p.parent.name == "fix-log" and p.is_file() for p in written), "FileLog"
    modes = {str(p.relative_to(var)): stat.S_IMODE(p.stat().st_mode) for p in written}
    assert {path: mode for path, mode in modes.items()
            if mode != (0o700 if (var / path).is_dir() else 0o600)} == {}
    assert stat.S_IMODE(var.stat().st_mode) == 0o700
