"""Secrets on the wire, Password (554), NewPassword (925) and RawData (96), are written
nowhere: not in the audit trail, quickfix's message and event logs, the session stores,
the daemon's JSON logs or what the process prints. A real daemon and real quickfix
sessions; logons right, wrong and from strangers."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest
import structlog

from sor_daemon.config import SorConfig
from sor_daemon.core.domain import OrdType, Side, TimeInForce
from sor_daemon.fix.codec import FixMessage
from sor_daemon.fix.endpoint import FixEndpoint, SessionSpec, wait_until
from sor_daemon.service.logs import configure_logging
from sor_daemon.tools.oms_client import OmsClient
from tests.conftest import default_config_data, free_port
from tests.integration.conftest import running_stack
from tests.rawfix import RawFixClient

pytestmark = pytest.mark.integration

DESK1 = "desk1-s3cret-pw"
DESK2 = "desk2-s3cret-pw"
WRONG = "wrong-guess-pw"
INTRUDER = "intruder-guess-pw"
NEW = "next-s3cret-pw"
RAW = "raw-data-token"
SECRETS = (DESK1, DESK2, WRONG, INTRUDER, NEW, RAW)


def secrets_config(tmp_path: Path) -> SorConfig:
    """Two OMS sessions with passwords (an environment variable, a file kept outside the
    directories searched); audit trail, quickfix message logs and the journal with its
    session stores all on."""
    secret = tmp_path / "secret" / "desk2"
    secret.parent.mkdir()
    secret.write_text(DESK2 + "\n")
    data = default_config_data()
    data["oms"]["sessions"] = [
        {"comp_id": "OMS", "username": "desk1", "password_env": "SOR_TEST_DESK1_PASSWORD"},
        {"comp_id": "OMS2", "username": "desk2", "password_file": str(secret)}]
    data["audit"].update(path=str(tmp_path / "audit" / "audit.jsonl"), durability="fsync")
    data["log"]["fix_message_dir"] = str(tmp_path / "fixlog")
    data["journal"].update(path=str(tmp_path / "state" / "journal.db"),
                           session_dir=str(tmp_path / "state" / "fix-store"))
    return SorConfig.model_validate(data)


def written(*roots: Path) -> dict[Path, bytes]:
    """Every file under ``roots``, its bytes."""
    return {p: p.read_bytes() for root in roots for p in sorted(root.rglob("*"))
            if p.is_file()}


def leaks(files: dict[Path, bytes], printed: str) -> list[str]:
    found = [f"{path}: {secret}" for path, data in files.items() for secret in SECRETS
             if secret.encode() in data]
    return found + [f"printed: {secret}" for secret in SECRETS if secret in printed]


async def test_no_password_is_written_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capfd: pytest.CaptureFixture[str]):
    monkeypatch.setenv("SOR_TEST_DESK1_PASSWORD", DESK1)
    config = secrets_config(tmp_path)
    router = config.oms.sender_comp_id
    logs = tmp_path / "logs"
    logs.mkdir()
    saved = structlog.get_config()
    with (logs / "daemon.log").open("wb") as log:
        configure_logging("debug", log)
        try:
            async with running_stack(config=config) as stack:  # desk1 logs on: right secret
                wrong = OmsClient.for_config(config, session=1, password=WRONG)
                try:
                    assert not await wrong.start(timeout=3), "a wrong password logged on"
                finally:
                    await wrong.stop()
                async with RawFixClient(config.oms.port, "OMS2", router) as raw:
                    reply = await raw.logon(extra=[(553, "desk2"), (554, DESK2),
                                                   (95, len(RAW)), (96, RAW)])
                    assert reply.msg_type == "A", str(reply)
                    await raw.send("BE", [(923, "U1"), (924, "3"), (553, "desk2"),
                                          (554, DESK2), (925, NEW)])
                    refused = await raw.expect(lambda m: m.msg_type in ("j", "3"))
                    assert refused.get(45) == "2", str(refused)
                    await raw.logout()
                async with RawFixClient(config.oms.port, "STRANGER", router) as raw:
                    await raw.send("A", [(98, 0), (108, 30), (141, "Y"), (553, "x"),
                                         (554, INTRUDER)])
                    assert await raw.wait_closed(12), "a stranger's logon was answered"
                order = stack.oms.new_order("AAPL", Side.BUY, 100, OrdType.LIMIT,
                                            Decimal("190.05"), TimeInForce.IOC)
                assert await stack.oms.wait_for(lambda: order.is_terminal), order.text
        finally:
            structlog.configure(**saved)
    files = written(tmp_path / "audit", tmp_path / "fixlog", tmp_path / "state", logs)
    assert leaks(files, "".join(capfd.readouterr())) == []
    # the logons are there, masked: written, not dropped
    for where in (tmp_path / "audit", tmp_path / "fixlog"):
        text = b"".join(data for path, data in files.items() if where in path.parents)
        assert b"554=***" in text and b"925=***" in text and b"96=***" in text, where


class _Quiet:
    def on_logon(self, session: str) -> None:
        pass

    def on_logout(self, session: str) -> None:
        pass

    def on_message(self, session: str, message: FixMessage) -> None:
        pass


async def test_a_password_on_our_own_logon_is_masked_in_the_message_logs(tmp_path: Path):
    """An initiator carrying Username/Password on its Logon, as a venue session can, with
    quickfix message logs and a wire tap (as the daemon's venue sessions have them)."""
    port = free_port()
    tapped: list[str] = []
    venue = FixEndpoint("venue-V", [SessionSpec("V", "R", port)], _Quiet(), initiator=False,
                        log_dir=str(tmp_path / "venue"))
    router = FixEndpoint(
        "venue-R", [SessionSpec("R", "V", port, logon_fields={553: "router", 554: DESK1})],
        _Quiet(), initiator=True, log_dir=str(tmp_path / "router"),
        tap=lambda direction, session, raw, ns: tapped.append(raw))
    await venue.start()
    try:
        await router.start()
        try:
            assert await router.wait_logged_on(timeout=10)
            assert await wait_until(lambda: venue.is_logged_on("FIX.4.4:V->R"))
        finally:
            await router.stop()
        await asyncio.sleep(0.2)
    finally:
        await venue.stop()
    files = written(tmp_path / "venue", tmp_path / "router")
    assert leaks(files, "".join(tapped)) == []
    assert all(b"554=***" in b"".join(data for path, data in files.items()
                                      if tmp_path / side in path.parents)
               for side in ("venue", "router"))
