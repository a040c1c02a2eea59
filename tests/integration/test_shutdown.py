"""`sor-daemon run` as a real process: SIGTERM logs every session out and exits 0."""

from __future__ import annotations

import asyncio
import signal
import sys
import tomllib
from pathlib import Path

import pytest

from sor_daemon.config import SorConfig, load_market, toml_text
from sor_daemon.tools.oms_client import OmsClient
from sor_sim.runner import build_venues
from tests.conftest import DEFAULT_MARKET, ROOT, default_config_data
from tests.integration.conftest import wait_until

pytestmark = pytest.mark.integration


async def test_sigterm_logs_out_every_session_and_exits_zero(tmp_path: Path):
    data = default_config_data()
    data["sim"]["market"] = str(DEFAULT_MARKET)
    config_path = tmp_path / "sor.toml"
    config_path.write_text(toml_text(data))
    with config_path.open("rb") as fh:
        assert tomllib.load(fh) == data
    config = SorConfig.model_validate(data)
    venues = build_venues(config, load_market(DEFAULT_MARKET, config))
    for venue in venues:
        await venue.start()
    log = tmp_path / "daemon.log"
    with log.open("wb") as out:
        daemon = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sor_daemon", "run", "--config", str(config_path),
            cwd=ROOT, stdout=out, stderr=out)
    oms = OmsClient.for_config(config)
    try:
        assert await wait_until(lambda: all(
            v.endpoint.is_logged_on(s) for v in venues for s in v.endpoint.sessions), 30)
        assert await oms.start(timeout=20)
        daemon.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(daemon.wait(), 30) == 0
        # Every session was logged out by the daemon, not dropped.
        assert await wait_until(lambda: not oms.endpoint.is_logged_on(oms.session), 10)
        assert await wait_until(lambda: not any(
            v.endpoint.is_logged_on(s) for v in venues for s in v.endpoint.sessions), 10)
    finally:
        if daemon.returncode is None:
            daemon.kill()
            await daemon.wait()
        await oms.stop()
        await asyncio.gather(*(venue.stop() for venue in venues))
    text = log.read_text()
    events = [line.split('"event":"')[1].split('"')[0] for line in text.splitlines()
              if '"event":"' in line]
    # Intake stopped first, then the venues logged out, then a clean stop.
    assert events.index("oms_session_down") < events.index("venue_session_down")
    assert events[-1] == "daemon_stopped", text[-2000:]
    assert "Traceback" not in text
