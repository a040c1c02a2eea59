"""Config loading and error formatting: every problem as one ``path: message`` line."""

from __future__ import annotations

from pathlib import Path

import pytest

from sor_daemon.config import (
    ConfigError,
    check_config,
    load_config,
    load_market,
)
from sor_daemon.core.routing.registry import STRATEGY_NAMES

ROOT = Path(__file__).resolve().parents[2]
SOR_TOML = (ROOT / "config" / "sor.toml").read_text()
MARKET_TOML = (ROOT / "config" / "sim-market.toml").read_text()

# The second venue's block in the shipped config, edited by the tests below.
ARCX_PORT = "port = 9882"
ARCX_TARGET = 'target_comp_id = "ARCX"'


def edited(old: str, new: str, text: str = SOR_TOML) -> str:
    """``text`` with ``old`` (which must occur exactly once) replaced by ``new``."""
    assert text.count(old) == 1, f"{old!r} is not unique in the template"
    return text.replace(old, new)


def write(tmp_path: Path, text: str, name: str = "sor.toml",
          market: str | None = MARKET_TOML) -> Path:
    """Write a daemon config (and, unless None, the market next to it); return its path."""
    if market is not None:
        (tmp_path / "sim-market.toml").write_text(market)
    path = tmp_path / name
    path.write_text(text)
    return path


def problems_of(tmp_path: Path, text: str, market: str | None = MARKET_TOML) -> list[str]:
    return check_config(write(tmp_path, text, market=market))


def only_problem(tmp_path: Path, text: str, market: str | None = MARKET_TOML) -> str:
    problems = problems_of(tmp_path, text, market)
    assert len(problems) == 1, problems
    return problems[0]


# --- the shipped defaults ---------------------------------------------------------------


def test_shipped_config_has_no_problems() -> None:
    assert check_config(ROOT / "config" / "sor.toml") == []


def test_shipped_config_loads_with_its_values() -> None:
    config = load_config(ROOT / "config" / "sor.toml")
    assert [(v.name, v.kind) for v in config.venues] == [
        ("XNAS", "lit"), ("ARCX", "lit"), ("BATX", "lit"), ("DARKA", "dark"), ("DARKB", "dark")]
    assert set(config.symbols) == {"AAPL", "MSFT", "SPY"}
    assert config.sim is not None
    assert config.sim.market == "sim-market.toml"


def test_shipped_market_covers_shipped_config() -> None:
    config = load_config(ROOT / "config" / "sor.toml")
    market = load_market(ROOT / "config" / "sim-market.toml", config)
    assert set(market.symbols) >= set(config.symbols)


def test_copy_of_shipped_files_has_no_problems(tmp_path: Path) -> None:
    assert problems_of(tmp_path, SOR_TOML) == []


def test_config_without_sim_section_is_valid(tmp_path: Path) -> None:
    text, sep, _ = SOR_TOML.partition("[sim]")
    assert sep
    path = write(tmp_path, text, market=None)
    assert check_config(path) == []
    assert load_config(path).sim is None


# --- one problem per line, with its path and the offending value -----------------------


def test_port_out_of_range_in_second_venue(tmp_path: Path) -> None:
    line = only_problem(tmp_path, edited(ARCX_PORT, "port = 70000"))
    assert line.startswith("venues[1].port: ")
    assert "65535" in line
    assert "(got 70000)" in line


def test_port_zero_in_first_venue(tmp_path: Path) -> None:
    line = only_problem(tmp_path, edited("port = 9881", "port = 0"))
    assert line.startswith("venues[0].port: ")
    assert "(got 0)" in line


def test_oms_port_out_of_range(tmp_path: Path) -> None:
    line = only_problem(tmp_path, edited("port = 9878", "port = 65536"))
    assert line.startswith("oms.port: ")
    assert "(got 65536)" in line


def test_timestamp_precision_defaults_to_milliseconds_and_takes_quickfix_values(
        tmp_path: Path) -> None:
    config = load_config(ROOT / "config" / "sor.toml")
    assert config.oms.timestamp_precision == 3
    assert {s.timestamp_precision for s in [*config.venues, *config.brokers]} == {3}
    text = edited("heartbeat_seconds = 30\n", "heartbeat_seconds = 30\ntimestamp_precision = 9\n")
    assert load_config(write(tmp_path, text)).oms.timestamp_precision == 9
    problem = only_problem(tmp_path, edited(ARCX_PORT, f"{ARCX_PORT}\ntimestamp_precision = 4"))
    assert problem.startswith("venues[1].timestamp_precision: "), problem
    assert "0, 3, 6 or 9" in problem, problem


def test_unknown_key_at_top_level(tmp_path: Path) -> None:
    line = only_problem(tmp_path, "bogus = 1\n" + SOR_TOML)
    assert line.startswith("bogus: unknown key")


def test_unknown_key_in_oms(tmp_path: Path) -> None:
    line = only_problem(tmp_path, edited("[oms]\n", "[oms]\nbogus = 1\n"))
    assert line.startswith("oms.bogus: unknown key")


def test_unknown_key_in_venue(tmp_path: Path) -> None:
    line = only_problem(tmp_path, edited('name = "ARCX"', 'name = "ARCX"\nbogus = "x"'))
    assert line.startswith("venues[1].bogus: unknown key")


def test_unknown_section(tmp_path: Path) -> None:
    line = only_problem(tmp_path, edited("[routing]", "[routeing]"))
    assert line.startswith("routeing: unknown key")


def test_missing_venue_port(tmp_path: Path) -> None:
    line = only_problem(tmp_path, edited(ARCX_PORT + "\n", ""))
    assert line == "venues[1].port: required setting is missing"


def test_missing_venue_target_comp_id(tmp_path: Path) -> None:
    line = only_problem(tmp_path, edited(ARCX_TARGET + "\n", ""))
    assert line == "venues[1].target_comp_id: required setting is missing"


def test_comp_id_with_a_space(tmp_path: Path) -> None:
    line = only_problem(tmp_path, edited(ARCX_TARGET, 'target_comp_id = "AR CX"'))
    assert line.startswith("venues[1].target_comp_id: ")
    assert "(got 'AR CX')" in line


def test_oms_comp_id_too_long(tmp_path: Path) -> None:
    long_id = "X" * 33
    line = only_problem(tmp_path, edited('comp_id = "OMS"', f'comp_id = "{long_id}"'))
    assert line.startswith("oms.sessions[0].comp_id: ")
    assert f"(got '{long_id}')" in line


def test_lower_case_symbol_name(tmp_path: Path) -> None:
    line = only_problem(tmp_path, edited("[symbols.MSFT]", "[symbols.msft]"))
    assert line.startswith("symbols.msft: ")
    assert "(got 'msft')" in line


def test_risk_limits_must_name_configured_symbols(tmp_path: Path) -> None:
    text = edited("[risk.symbols.SPY]", "[risk.symbols.SPX]")
    text = edited("restricted_symbols = []", 'restricted_symbols = ["TSLA"]', text)
    problems = problems_of(tmp_path, text)
    assert any(p.startswith("risk.symbols.SPX: unknown symbol; symbols: AAPL, MSFT, SPY")
               for p in problems), problems
    assert any(p.startswith("risk.restricted_symbols[0]: unknown symbol") for p in problems)


def test_negative_tick_size_as_string(tmp_path: Path) -> None:
    text = edited('[symbols.MSFT]\ntick_size = "0.01"', '[symbols.MSFT]\ntick_size = "-0.01"')
    line = only_problem(tmp_path, text)
    assert line.startswith("symbols.MSFT.tick_size: ")
    assert "greater than 0" in line
    assert "(got '-0.01')" in line


def test_negative_tick_size_as_number(tmp_path: Path) -> None:
    text = edited('[symbols.MSFT]\ntick_size = "0.01"', "[symbols.MSFT]\ntick_size = -0.01")
    line = only_problem(tmp_path, text)
    assert line.startswith("symbols.MSFT.tick_size: ")
    assert "(got -0.01)" in line


def test_unknown_default_strategy_names_the_known_ones(tmp_path: Path) -> None:
    line = only_problem(tmp_path, edited('"best-price"', '"twap"'))
    assert line.startswith("routing.default_strategy: ")
    assert "'twap'" in line
    for name in STRATEGY_NAMES:
        assert name in line
    assert "Value error" not in line


def test_miss_hold_is_bounded(tmp_path: Path) -> None:
    text = edited("[routing]\n", "[routing]\nmiss_hold_ms = 60001\n")
    line = only_problem(tmp_path, text)
    assert line.startswith("routing.miss_hold_ms: ")
    assert "(got 60001)" in line
    assert load_config(write(tmp_path, edited("[routing]\n", "[routing]\nmiss_hold_ms = 0\n"))
                       ).routing.miss_hold_ms == 0


def test_bad_log_level(tmp_path: Path) -> None:
    line = only_problem(tmp_path, edited('level = "info"', 'level = "loud"'))
    assert line.startswith("log.level: ")
    assert "(got 'loud')" in line


def test_venue_kind_is_lit_or_dark(tmp_path: Path) -> None:
    line = only_problem(tmp_path, edited('name = "ARCX"\nkind = "lit"',
                                         'name = "ARCX"\nkind = "grey"'))
    assert line.startswith("venues[1].kind: ")
    assert "'lit' or 'dark'" in line and "(got 'grey')" in line


def test_wrong_type_reports_the_value(tmp_path: Path) -> None:
    line = only_problem(tmp_path, edited("heartbeat_seconds = 30", 'heartbeat_seconds = "often"'))
    assert line.startswith("oms.heartbeat_seconds: ")
    assert "(got 'often')" in line


def test_no_venues_at_all(tmp_path: Path) -> None:
    text = SOR_TOML.partition("[[venues]]")[0]
    line = only_problem(tmp_path, text, market=None)
    assert line == "venues: required setting is missing"


def test_empty_symbols_table(tmp_path: Path) -> None:
    text = 'symbols = {}\n[[venues]]\nname = "XNAS"\nport = 9881\ntarget_comp_id = "XNAS"\n'
    line = only_problem(tmp_path, text, market=None)
    assert line.startswith("symbols: ")
    assert "(got" not in line  # a table is not echoed back


# --- duplicates ---------------------------------------------------------------------------


def test_duplicate_venue_name_names_both_indexes(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, edited('name = "ARCX"', 'name = "XNAS"'))
    assert problems == [
        "venues[1].name: duplicate name 'XNAS' (also venues[0])",
        # ...and the broker that reaches ARCX now names a venue that is gone.
        "brokers[0].venues[1]: unknown venue; venues: BATX, DARKA, DARKB, XNAS (got 'ARCX')",
    ]


def test_duplicate_fix_session_names_both_indexes(tmp_path: Path) -> None:
    line = only_problem(tmp_path, edited(ARCX_TARGET, 'target_comp_id = "XNAS"'))
    assert line == ("venues[1].target_comp_id: duplicate FIX session SOR->XNAS "
                    "(also venues[0])")


def test_same_target_with_other_sender_is_not_a_duplicate(tmp_path: Path) -> None:
    text = edited(ARCX_TARGET, 'target_comp_id = "XNAS"')
    text = edited('port = 9882\nsender_comp_id = "SOR"', 'port = 9882\nsender_comp_id = "SOR2"',
                  text)
    assert problems_of(tmp_path, text) == []


def test_duplicate_venue_lines_start_with_their_path(tmp_path: Path) -> None:
    text = edited('name = "ARCX"', 'name = "XNAS"')
    text = edited(ARCX_TARGET, 'target_comp_id = "XNAS"', text)
    problems = problems_of(tmp_path, text)
    assert problems == [
        "venues[1].name: duplicate name 'XNAS' (also venues[0])",
        "venues[1].target_comp_id: duplicate FIX session SOR->XNAS (also venues[0])",
        "brokers[0].venues[1]: unknown venue; venues: BATX, DARKA, DARKB, XNAS (got 'ARCX')",
    ]


# --- several problems at once ---------------------------------------------------------


def test_several_problems_are_all_reported(tmp_path: Path) -> None:
    text = edited(ARCX_PORT, "port = 70000")
    text = edited("[oms]\n", "[oms]\nbogus = 1\n", text)
    text = edited('"best-price"', '"twap"', text)
    text = edited('target_comp_id = "XNAS"', 'target_comp_id = "X NAS"', text)
    text = edited("[symbols.MSFT]", "[symbols.msft]", text)
    problems = problems_of(tmp_path, text)
    assert len(problems) == 5, problems
    prefixes = sorted(line.split(": ", 1)[0] for line in problems)
    assert prefixes == sorted([
        "venues[1].port",
        "oms.bogus",
        "routing.default_strategy",
        "venues[0].target_comp_id",
        "symbols.msft",
    ])


def test_config_error_carries_every_problem(tmp_path: Path) -> None:
    text = edited(ARCX_PORT + "\n", "")
    text = edited(ARCX_TARGET + "\n", "", text)
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert info.value.problems == [
        "venues[1].port: required setting is missing",
        "venues[1].target_comp_id: required setting is missing",
    ]
    assert str(info.value) == "\n".join(info.value.problems)


def test_duplicates_are_reported_with_field_problems(tmp_path: Path) -> None:
    text = edited('name = "ARCX"', 'name = "XNAS"')
    text = edited("port = 9881", "port = 0", text)
    problems = problems_of(tmp_path, text)
    assert [p.split(":")[0] for p in problems] == [
        "venues[0].port", "venues[1].name", "brokers[0].venues[1]"], problems


# --- unreadable files -----------------------------------------------------------------------


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, SOR_TOML + "\n[[venues\n", name="broken.toml")
    problems = check_config(path)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}: invalid TOML")
    assert "broken.toml" in problems[0]


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    assert check_config(path) == [f"{path}: file not found"]
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [f"{path}: file not found"]


def test_directory_instead_of_file(tmp_path: Path) -> None:
    problems = check_config(tmp_path)
    assert len(problems) == 1
    assert problems[0].startswith(f"{tmp_path}: cannot read")


def test_non_utf8_file_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b"# caf\xe9\n" + SOR_TOML.encode())
    problems = check_config(path)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}: ")


# --- the simulated market ---------------------------------------------------------------


def test_market_problem_is_prefixed_with_the_market_file_name(tmp_path: Path) -> None:
    market = edited('reference_price = "190.00"', 'reference_price = "-1"', MARKET_TOML)
    line = only_problem(tmp_path, SOR_TOML, market)
    assert line.startswith("sim-market.toml: symbols.AAPL.reference_price: ")
    assert "(got '-1')" in line


def test_market_unknown_key_in_venue(tmp_path: Path) -> None:
    market = edited("[venues.ARCX]\n", "[venues.ARCX]\nbogus = 1\n", MARKET_TOML)
    line = only_problem(tmp_path, SOR_TOML, market)
    assert line.startswith("sim-market.toml: venues.ARCX.bogus: unknown key")


def test_market_bad_levels(tmp_path: Path) -> None:
    market = edited("levels = 5\nlevel_size = 300", "levels = -1\nlevel_size = 300", MARKET_TOML)
    line = only_problem(tmp_path, SOR_TOML, market)
    assert line.startswith("sim-market.toml: venues.XNAS.levels: ")
    assert "(got -1)" in line


def test_market_missing_a_traded_symbol(tmp_path: Path) -> None:
    market = edited('[symbols.SPY]\nreference_price = "560.00"\n', "", MARKET_TOML)
    line = only_problem(tmp_path, SOR_TOML, market)
    assert line.startswith("sim-market.toml: symbols.SPY: ")
    assert "missing" in line


def test_market_with_other_name_uses_that_name(tmp_path: Path) -> None:
    text = edited('market = "sim-market.toml"', 'market = "other.toml"')
    (tmp_path / "other.toml").write_text(
        edited('reference_price = "415.00"', 'reference_price = "0"', MARKET_TOML))
    line = only_problem(tmp_path, text, market=None)
    assert line.startswith("other.toml: symbols.MSFT.reference_price: ")


def test_market_is_found_relative_to_the_config(tmp_path: Path) -> None:
    sub = tmp_path / "etc"
    sub.mkdir()
    (sub / "sim-market.toml").write_text(MARKET_TOML)
    (sub / "sor.toml").write_text(SOR_TOML)
    assert check_config(sub / "sor.toml") == []


def test_market_file_not_found(tmp_path: Path) -> None:
    line = only_problem(tmp_path, SOR_TOML, market=None)
    assert line == f"{tmp_path / 'sim-market.toml'}: file not found"


def test_market_invalid_toml(tmp_path: Path) -> None:
    line = only_problem(tmp_path, SOR_TOML, "[symbols\n")
    assert "sim-market.toml" in line
    assert "invalid TOML" in line


def test_load_market_without_config_skips_coverage_check(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text('[symbols.ZZZ]\nreference_price = "1"\n')
    market = load_market(path)
    assert set(market.symbols) == {"ZZZ"}
    config = load_config(write(tmp_path, SOR_TOML))
    with pytest.raises(ConfigError) as info:
        load_market(path, config)
    assert sorted(info.value.problems) == [
        f"m.toml: symbols.{symbol}: missing (the daemon config trades it)"
        for symbol in ("AAPL", "MSFT", "SPY")
    ]


# --- scenarios -------------------------------------------------------------------------------

SCENARIOS = sorted((ROOT / "config" / "scenarios").glob("*.toml"))


def test_the_six_scenarios_ship() -> None:
    assert {p.stem for p in SCENARIOS} == {
        "normal", "volatile", "thin", "flash-crash", "venue-outage", "dark-heavy"}


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_scenario_fits_the_default_config(path: Path) -> None:
    config = load_config(ROOT / "config" / "sor.toml")
    market = load_market(path, config)
    assert set(market.symbols) >= set(config.symbols)


@pytest.mark.parametrize(("old", "new", "prefix"), [
    ("limit_rate = 20.0", "limit_rate = -1.0", "normal.toml: venues.XNAS.flow.limit_rate: "),
    ("volatility_bps = 1.0", 'volatility_bps = "high"',
     "normal.toml: symbols.AAPL.volatility_bps: "),
    ("zero_probability = 0.7", "zero_probability = 1.5",
     "normal.toml: dark.DARKA.zero_probability: "),
    ("[dark.DARKB]", "[dark.XNAS]", "normal.toml: dark.XNAS: the daemon config has no dark venue"),
])
def test_a_scenario_error_names_its_field(tmp_path: Path, old: str, new: str,
                                          prefix: str) -> None:
    source = next(p for p in SCENARIOS if p.stem == "normal").read_text()
    assert source.count(old) == 1
    (tmp_path / "normal.toml").write_text(source.replace(old, new))
    config = load_config(ROOT / "config" / "sor.toml")
    with pytest.raises(ConfigError) as info:
        load_market(tmp_path / "normal.toml", config)
    assert any(line.startswith(prefix) for line in info.value.problems), info.value.problems


# --- brokers (the shipped config's BRKA) --------------------------------------------------

BROKER_VENUES = 'venues = ["XNAS", "ARCX", "DARKA", "DARKB"]'


def test_shipped_broker_loads() -> None:
    broker = load_config(ROOT / "config" / "sor.toml").brokers[0]
    assert (broker.name, broker.venues, str(broker.commission_per_share),
            broker.expected_latency_ms) == ("BRKA", ["XNAS", "ARCX", "DARKA", "DARKB"],
                                            "0.0010", 2.0)


def test_broker_reaching_an_unknown_venue(tmp_path: Path) -> None:
    text = edited(BROKER_VENUES, 'venues = ["XNAS", "NOPE"]')
    assert only_problem(tmp_path, text) == (
        "brokers[0].venues[1]: unknown venue; venues: ARCX, BATX, DARKA, DARKB, XNAS "
        "(got 'NOPE')")


def test_broker_named_like_a_venue(tmp_path: Path) -> None:
    text = edited('name = "BRKA"', 'name = "XNAS"')
    assert only_problem(tmp_path, text) == (
        "brokers[0].name: duplicate name 'XNAS' (also venues[0])")


def test_broker_without_venues(tmp_path: Path) -> None:
    assert only_problem(tmp_path, edited(BROKER_VENUES, "venues = []")).startswith(
        "brokers[0].venues: ")
