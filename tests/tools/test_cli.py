"""The `sor-daemon` command as a user meets it: help, check-config, and config failures.

Every test runs the command in a subprocess; none starts the daemon or the simulator
(each bad config must be refused before anything listens).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sor_daemon.config import load_config, toml_text
from tests.conftest import default_config_data

ROOT = Path(__file__).resolve().parents[2]
SOR_TOML = (ROOT / "config" / "sor.toml").read_text()
MARKET_TOML = (ROOT / "config" / "sim-market.toml").read_text()

BAD_LINES = (
    "venues[1].port: Input should be less than or equal to 65535 (got 70000)",
    "oms.bogus: unknown key (got 1)",
)


def sor_daemon(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sor_daemon", *map(str, args)],
        cwd=ROOT,
        timeout=60,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def bad_config(tmp_path: Path) -> Path:
    """A config with two problems (and a valid market next to it)."""
    text = SOR_TOML.replace("port = 9882", "port = 70000").replace("[oms]\n", "[oms]\nbogus = 1\n")
    assert text.count("port = 70000") == 1
    assert text.count("bogus = 1") == 1
    (tmp_path / "sim-market.toml").write_text(MARKET_TOML)
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return path


def assert_reports_bad_config(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout
    lines = result.stderr.splitlines()
    for expected in BAD_LINES:
        assert expected in lines, result.stderr


# --- help -----------------------------------------------------------------------------------


def test_top_level_help() -> None:
    result = sor_daemon("--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: sor-daemon")
    for command in ("run", "check-config", "sim", "demo", "oms"):
        assert command in result.stdout


@pytest.mark.parametrize("command", [
    ("run",),
    ("check-config",),
    ("sim",),
    ("demo",),
    ("oms",),
    ("oms", "new"),
    ("oms", "cancel"),
    ("oms", "replace"),
    ("oms", "status"),
    ("oms", "flow"),
])
def test_subcommand_help(command: tuple[str, ...]) -> None:
    result = sor_daemon(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: sor-daemon {' '.join(command)}")
    assert "Traceback" not in result.stderr


def test_no_command_is_a_usage_error() -> None:
    result = sor_daemon()
    assert result.returncode == 2
    assert "usage: sor-daemon" in result.stderr
    assert "Traceback" not in result.stderr


# --- check-config -----------------------------------------------------------------------


def test_check_config_on_the_shipped_config() -> None:
    result = sor_daemon("check-config", "config/sor.toml")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "config/sor.toml: ok"
    assert result.stderr == ""


def test_check_config_on_a_bad_config(bad_config: Path) -> None:
    result = sor_daemon("check-config", bad_config)
    assert_reports_bad_config(result)
    assert len(result.stderr.splitlines()) == len(BAD_LINES)
    assert "ok" not in result.stdout


def test_check_config_reports_market_problems(tmp_path: Path) -> None:
    (tmp_path / "sor.toml").write_text(SOR_TOML)
    (tmp_path / "sim-market.toml").write_text(
        MARKET_TOML.replace('reference_price = "190.00"', 'reference_price = "0"'))
    result = sor_daemon("check-config", tmp_path / "sor.toml")
    assert result.returncode == 1
    assert result.stderr.startswith("sim-market.toml: symbols.AAPL.reference_price: ")
    assert "Traceback" not in result.stderr


def test_check_config_on_invalid_toml(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[oms\n")
    result = sor_daemon("check-config", path)
    assert result.returncode == 1
    assert result.stderr.startswith(f"{path}: invalid TOML")
    assert "Traceback" not in result.stderr


def test_check_config_on_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    result = sor_daemon("check-config", path)
    assert result.returncode == 1
    assert result.stderr.strip() == f"{path}: file not found"
    assert "Traceback" not in result.stderr


# --- run and sim refuse a bad config before starting anything -----------------------------


@pytest.mark.parametrize("command", ["run", "sim", "demo"])
def test_bad_config_is_refused(command: str, bad_config: Path) -> None:
    assert_reports_bad_config(sor_daemon(command, "--config", bad_config))


def test_oms_with_bad_config_is_refused(bad_config: Path) -> None:
    result = sor_daemon("oms", "--config", bad_config, "status", "--id", "X",
                        "--symbol", "AAPL", "--side", "buy")
    assert_reports_bad_config(result)


@pytest.mark.parametrize("command", ["run", "sim"])
def test_missing_config_file(command: str, tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    result = sor_daemon(command, "--config", path)
    assert result.returncode == 1
    assert result.stderr.strip() == f"{path}: file not found"
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout


def test_sim_with_bad_market_is_refused(tmp_path: Path) -> None:
    (tmp_path / "sor.toml").write_text(SOR_TOML)
    (tmp_path / "sim-market.toml").write_text(
        MARKET_TOML.replace('[symbols.SPY]\nreference_price = "560.00"\n', ""))
    result = sor_daemon("sim", "--config", tmp_path / "sor.toml")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "sim-market.toml: symbols.SPY: missing (the daemon config trades it)")
    assert "Traceback" not in result.stderr


def test_sim_without_sim_section_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sor.toml"
    path.write_text(SOR_TOML.partition("[sim]")[0])
    result = sor_daemon("sim", "--config", path)
    assert result.returncode == 1
    assert "no [sim] section" in result.stderr
    assert "Traceback" not in result.stderr


def test_sim_with_missing_market_option_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    result = sor_daemon("sim", "--market", path)
    assert result.returncode == 1
    assert result.stderr.strip() == f"{path}: file not found"
    assert "Traceback" not in result.stderr


def test_check_config_on_a_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b"# caf\xe9\n" + SOR_TOML.encode())
    result = sor_daemon("check-config", path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"{path}: ")


def test_run_refuses_a_journal_that_is_not_one_and_leaves_it_alone(tmp_path):
    data = default_config_data()
    journal = tmp_path / "journal.db"
    journal.write_bytes(b"SQLite format 3\x00" + b"\xff" * 5000)
    data["journal"] = {"path": str(journal), "session_dir": str(tmp_path / "fix")}
    config = tmp_path / "sor.toml"
    config.write_text(toml_text(data))
    before = journal.read_bytes()
    done = subprocess.run([sys.executable, "-m", "sor_daemon", "run", "--config", str(config)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "refusing to start" in done.stderr and str(journal) in done.stderr
    assert journal.read_bytes() == before


def _journaled_config(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A config whose journal and FIX store are under ``tmp_path``: (config, journal,
    FIX store)."""
    data = default_config_data()
    journal, store = tmp_path / "journal.db", tmp_path / "fix"
    data["journal"] = {"path": str(journal), "session_dir": str(store)}
    config = tmp_path / "sor.toml"
    config.write_text(toml_text(data))
    return config, journal, store


def _files(directory: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()
            and not p.name.endswith("-shm")}


def test_run_refuses_an_empty_journal_beside_a_fix_store_with_history(tmp_path):
    config, journal, store = _journaled_config(tmp_path)
    journal.write_bytes(b"")
    (store / "oms").mkdir(parents=True)
    (store / "oms" / "FIX.4.4-SOR-OMS.seqnums").write_text("0000000231 : 0000000230")
    before = _files(tmp_path)
    done = sor_daemon("run", "--config", config)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"journal {journal} is empty" in done.stderr
    assert "FIX.4.4-SOR-OMS" in done.stderr and "--accept-empty-journal" in done.stderr
    assert _files(tmp_path) == before


def test_an_empty_journal_is_taken_when_ops_accept_it(tmp_path):
    from sor_daemon.service.daemon import Daemon
    from sor_daemon.service.journal import JournalError

    config_path, _, store = _journaled_config(tmp_path)
    (store / "venues").mkdir(parents=True)
    (store / "venues" / "FIX.4.4-SOR-XNAS.seqnums").write_text("0000000002 : 0000000009")
    config = load_config(str(config_path))
    with pytest.raises(JournalError, match="--accept-empty-journal"):
        Daemon(config)
    daemon = Daemon(config, accept_empty_journal=True)
    assert daemon.journal is not None and daemon.journal.totals() == (0, 0)
    daemon.journal.close()


def test_run_refuses_a_journal_with_damaged_text_with_exit_2_and_leaves_it_alone(tmp_path):
    from sor_daemon.service.journal import Journal

    config, journal, _ = _journaled_config(tmp_path)
    written = Journal(journal)
    written.write([], seqs={"FIX.4.4:SOR->OMS": 7})
    written.close()
    data = journal.read_bytes()
    at = data.index(b"FIX.4.4:SOR->OMS") + 3
    journal.write_bytes(data[:at] + b"\xff" + data[at + 1:])
    before = _files(tmp_path)
    done = sor_daemon("run", "--config", config)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"refusing to start: journal {journal} is unreadable" in done.stderr
    assert _files(tmp_path) == before


def test_sor_config_environment_variable_is_the_default_config(bad_config: Path) -> None:
    """Without --config, $SOR_CONFIG names the config (the image sets it)."""
    result = subprocess.run([sys.executable, "-m", "sor_daemon", "run"], cwd=ROOT, timeout=60,
                            capture_output=True, text=True, check=False,
                            env={**os.environ, "SOR_CONFIG": str(bad_config)})
    assert result.returncode == 1
    assert all(line in result.stderr for line in BAD_LINES), result.stderr
