"""Fuzzing the config loader: truncated, mutated and random files give ``path: message``
problems naming the field (or, for unreadable files, the file), never a traceback.

Everything is derived at run time from the shipped config/sor.toml and
config/sim-market.toml (and the field names of the models in sor_daemon.config), so a
section added to the schema and the shipped file is fuzzed as soon as it ships.

Known bugs (see the ``xfail(strict=True)`` reproducers at the end): a fuzz case that
raises one of the exceptions in ``KNOWN_BUGS`` is tallied, not failed, so the property
tests keep checking everything else; once config.py is fixed the reproducer XPASSes (a
failure under strict), and its ``KNOWN_BUGS`` entry and marker should be deleted.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import os
import re
import subprocess
import sys
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import sor_daemon.config as config_module
import sor_sim.config as sim_config_module
from sor_daemon.config import (
    ConfigError,
    SorConfig,
    check_config,
    load_config,
    load_market,
)
from sor_sim.config import MarketConfig

ROOT = Path(__file__).resolve().parents[2]
SOR_PATH = ROOT / "config" / "sor.toml"
MARKET_PATH = ROOT / "config" / "sim-market.toml"
SOR_BYTES = SOR_PATH.read_bytes()
MARKET_BYTES = MARKET_PATH.read_bytes()
SOR_DOC: dict[str, Any] = tomllib.loads(SOR_BYTES.decode())
MARKET_DOC: dict[str, Any] = tomllib.loads(MARKET_BYTES.decode())
# The market file's name next to a copy of the daemon config (what its [sim] names).
MARKET_NAME = Path(SOR_DOC.get("sim", {}).get("market", MARKET_PATH.name)).name
CLI = Path(sys.executable).with_name("sor-daemon")


def fuzz(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


CASES: Counter[str] = Counter()
"""Cases run per test, printed at the end of the module."""
KNOWN_HITS: Counter[str] = Counter()
"""Fuzz cases that hit a known bug (tolerated, see KNOWN_BUGS)."""

KNOWN_BUGS: dict[str, tuple[type[BaseException], str]] = {}
"""None open: B1-B6 below were found by these tests and fixed; their reproducers stay
as regression tests."""


def known_bug(exc: BaseException) -> str | None:
    for name, (kind, text) in KNOWN_BUGS.items():
        if isinstance(exc, kind) and text in str(exc):
            return name
    return None


def outcome(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, the ConfigError it raised, or None if it hit a known bug; any other
    exception is the traceback these tests exist to catch and propagates."""
    try:
        return fn(*args)
    except ConfigError as exc:
        return exc
    except Exception as exc:
        name = known_bug(exc)
        if name is None:
            raise
        KNOWN_HITS[name] += 1
        return None


@pytest.fixture(scope="module", autouse=True)
def _report_counts(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    lines = [f"config fuzz: {sum(CASES.values())} cases"]
    lines += [f"  {count:6d}  {name}" for name, count in sorted(CASES.items())]
    lines += [f"  {count:6d}  tolerated: {name}" for name, count in sorted(KNOWN_HITS.items())]
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print("\n".join(lines))
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        for line in lines:
            reporter.write_line(line)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory for the module: hypothesis runs a test body many times within one
    function-scoped fixture (and warns), so each test writes into a subdirectory of this."""
    return tmp_path_factory.mktemp("config-fuzz")


def place(directory: Path, sor: bytes = SOR_BYTES, market: bytes = MARKET_BYTES) -> Path:
    """Write a daemon config and its market file into ``directory``; the config's path."""
    directory.mkdir(exist_ok=True)
    (directory / MARKET_NAME).write_bytes(market)
    path = directory / "sor.toml"
    path.write_bytes(sor)
    return path


# --- a tiny TOML writer (tomli_w is not a dependency) -----------------------------------------

BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def toml_str(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_key(key: str) -> str:
    return key if BARE_KEY.fullmatch(key) else toml_str(key)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)  # repr: inf, -inf, 1e+300
    if isinstance(value, str):
        return toml_str(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML for {value!r}")


def dumps(doc: dict[str, Any]) -> str:
    """``doc`` as TOML: one ``key = value`` line per top-level key, tables inline."""
    return "".join(f"{toml_key(k)} = {toml_value(v)}\n" for k, v in doc.items())


def same(a: Any, b: Any) -> bool:
    """Equality of parsed TOML, with NaN equal to NaN and bool distinct from int."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


# --- paths in a parsed document and how sor_daemon.config prints them ---------------------

KeyPath = tuple[str | int, ...]


def walk(node: Any, path: KeyPath = ()) -> Iterator[tuple[KeyPath, Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, (*path, i))


def get(doc: Any, path: KeyPath) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def loc(path: KeyPath, quote: Callable[[str], str] = str) -> str:
    """``venues[1].port``, ``symbols.AAPL.tick_size``: as the problem lines print it, with
    keys that are not bare TOML keys passed through ``quote``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            part = part if BARE_KEY.fullmatch(part) else quote(part)
            out += f".{part}" if out else part
    return out


def locs(path: KeyPath) -> set[str]:
    """``loc(path)`` with an odd key printed raw (as now) or quoted (the B5/B6 fix)."""
    return {loc(path, quote) for quote in (str, toml_str, json.dumps, repr)}


def strings_in(node: Any) -> set[str]:
    """Every string value and table key in ``node``."""
    found: set[str] = set()
    for _, value in walk(node):
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, dict):
            found.update(value)
    return found


LOC_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def resolves(doc: Any, location: str) -> bool:
    """Whether ``location`` (``venues[1].port``) is a path in ``doc``."""
    node = doc
    for name, index in LOC_PART.findall(location):
        if index:
            if not isinstance(node, list) or int(index) >= len(node):
                return False
            node = node[int(index)]
        else:
            if not isinstance(node, dict) or name not in node:
                return False
            node = node[name]
    return True


KEY = r'(?:[\w-]+|"(?:[^"\\]|\\.)*")'  # bare, or quoted (see B5/B6)
FIELD_LINE = re.compile(
    rf"^(?:(?P<file>[\w.-]+\.toml): )?(?P<loc>{KEY}(?:\[\d+\]|\.{KEY})*): (?P<msg>\S.*)$")


def first_key(location: str) -> str:
    """The top-level key a location starts with."""
    key = re.match(KEY, location)
    assert key, location
    return json.loads(key[0]) if key[0].startswith('"') else key[0]


def assert_well_formed(problems: Any) -> None:
    """A non-empty list of one-line ``location: message`` strings."""
    assert isinstance(problems, list) and problems, problems
    for line in problems:
        assert isinstance(line, str), problems
        where, sep, message = line.partition(": ")
        assert sep and where.strip() and message.strip(), f"not 'location: message': {line!r}"
        assert "\n" not in line and "\r" not in line, f"a problem over several lines: {line!r}"
        assert "Traceback" not in line, line


def parses(data: bytes) -> dict[str, Any] | None:
    """The TOML document in ``data``, or None if it is not UTF-8 TOML."""
    try:
        return tomllib.loads(data.decode())
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None


def assert_names_a_file(line: str) -> None:
    assert re.fullmatch(r"\S.*: (file not found|cannot read: .+|invalid TOML: .+|not UTF-8 text)",
                        line), line


def assert_names_the_file(problems: list[str], path: Path) -> None:
    assert len(problems) == 1, problems
    assert problems[0].startswith((f"{path}: invalid TOML: ", f"{path}: not UTF-8 text")), problems


# --- 1. truncated and damaged files ------------------------------------------------------------


def check_damaged(directory: Path, which: str, data: bytes, strict_paths: bool) -> None:
    """``check_config`` on the shipped pair with ``which`` ("sor" or "market") replaced by
    ``data``: [] or well-formed lines; unparsable data: one line naming that file; otherwise
    field lines whose location is in the (shipped) document of the file they are about
    (``strict_paths``), or at least whose first key is."""
    path = place(directory, **{which: data})
    problems = outcome(check_config, path)
    if problems is None or problems == []:
        return
    assert_well_formed(problems)
    damaged = path if which == "sor" else directory / MARKET_NAME
    if parses(data) is None:
        assert_names_the_file(problems, damaged)
        return
    for line in problems:
        if line.startswith(f"{directory}{os.sep}"):
            assert_names_a_file(line)
            continue
        match = FIELD_LINE.match(line)
        assert match, f"not 'field.path: message': {line!r}"
        about = "market" if match["file"] else "sor"
        if match["file"]:
            assert match["file"] == MARKET_NAME, line
        shipped, model = (MARKET_DOC, MarketConfig) if about == "market" else (SOR_DOC, SorConfig)
        if strict_paths:  # a truncated file only lacks what the shipped one has
            assert resolves(shipped, match["loc"]), f"{line!r}: no such path in the shipped file"
        else:  # a key of the damaged file, or a setting it lacks
            doc = parses(data) if about == which else shipped
            assert doc is not None, line
            assert first_key(match["loc"]) in doc.keys() | model.model_fields.keys(), line


@pytest.mark.parametrize("which", ["sor", "market"])
def test_truncated_at_every_byte(work: Path, which: str) -> None:
    """Every prefix of the shipped file (which covers every line boundary)."""
    data = SOR_BYTES if which == "sor" else MARKET_BYTES
    for end in range(len(data) + 1):
        check_damaged(work / f"cut-{which}", which, data[:end], strict_paths=True)
    CASES[f"1 truncated {which} file, every byte offset"] += len(data) + 1


@pytest.mark.parametrize("which", ["sor", "market"])
def test_each_line_removed(work: Path, which: str) -> None:
    lines = (SOR_BYTES if which == "sor" else MARKET_BYTES).splitlines(keepends=True)
    for i in range(len(lines)):
        data = b"".join(lines[:i] + lines[i + 1:])
        check_damaged(work / f"drop-{which}", which, data, strict_paths=False)
    CASES[f"1 {which} file with one line removed"] += len(lines)


@fuzz(250)
@given(which=st.sampled_from(["sor", "market"]), cut=st.tuples(st.floats(0, 1), st.floats(0, 1)),
       insert=st.binary(max_size=8) | st.sampled_from([b"\n", b"[", b"]", b'"', b"=", b"\xff"]))
def test_spliced(work: Path, which: str, cut: tuple[float, float], insert: bytes) -> None:
    """A random slice of the file replaced by a few random bytes."""
    data = SOR_BYTES if which == "sor" else MARKET_BYTES
    start, stop = sorted(int(f * len(data)) for f in cut)
    check_damaged(work / f"splice-{which}", which, data[:start] + insert + data[stop:],
                  strict_paths=False)
    CASES["1 spliced file (random slice replaced by random bytes)"] += 1


# --- 2. mutated documents ---------------------------------------------------------------------

FIELD_NAMES = sorted({
    name for module in (config_module, sim_config_module) for obj in vars(module).values()
    if isinstance(obj, type) and issubclass(obj, BaseModel) for name in obj.model_fields})
"""Every field of every config model: added where absent, they exercise defaults."""

KEYS = st.one_of(
    st.from_regex(r"[a-z_][a-z0-9_]{0,11}", fullmatch=True),
    # Empty keys and control characters are left out: see the B5/B6 reproducers.
    st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=12),
)

CONFIG_STRINGS = sorted(strings_in(SOR_DOC) | strings_in(MARKET_DOC))

SCALARS = st.one_of(
    st.integers(),
    st.sampled_from([0, -1, 1, 65535, 65536, 2**31, 2**63 - 1, -(2**63), 2**64, 10**40]),
    st.floats(),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e308, 5e-324, 0.5, 1e-9]),
    st.text(max_size=30),
    st.sampled_from(["", " ", "0", "0.01", "-0.01", "1e3", "NaN", "Infinity", "é", "日本",
                     "\U0001f600", "a" * 300, *CONFIG_STRINGS]),
    st.booleans(),
    st.dates(),
    st.times(),
    st.datetimes(timezones=st.none() | st.just(dt.UTC)),
)
RANDOM_VALUES = st.recursive(
    SCALARS, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(KEYS, kids, max_size=4),
    max_leaves=10)


@dataclass(frozen=True)
class Mutation:
    kind: str  # replace | delete | add
    path: KeyPath
    value: Any = None

    def apply(self, doc: dict[str, Any]) -> dict[str, Any]:
        new = copy.deepcopy(doc)
        parent = get(new, self.path[:-1])
        if self.kind == "delete":
            del parent[self.path[-1]]
        else:
            parent[self.path[-1]] = copy.deepcopy(self.value)
        return new

    def removed(self, doc: dict[str, Any]) -> set[str]:
        """Names the mutation took out of the document (a reference to one dangles)."""
        if self.kind == "add":
            return set()
        last = self.path[-1]
        return strings_in(get(doc, self.path)) | ({last} if isinstance(last, str) else set())


@st.composite
def mutations(draw: st.DrawFn, doc: dict[str, Any]) -> Mutation:
    nodes = [(path, node) for path, node in walk(doc) if path]
    subtrees = st.sampled_from([node for _, node in nodes])  # a value from elsewhere
    values = st.one_of(RANDOM_VALUES, subtrees)
    kind = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add"]))
    if kind == "add":
        tables = [path for path, node in walk(doc) if isinstance(node, dict)]
        path = draw(st.sampled_from(tables))
        present = get(doc, path)
        key = draw(st.one_of(st.sampled_from(FIELD_NAMES), KEYS).filter(
            lambda k: k not in present))
        return Mutation("add", (*path, key), draw(values))
    path = draw(st.sampled_from([path for path, _ in nodes]))
    return Mutation(kind, path, draw(values) if kind == "replace" else None)


def names_it(line: str, path: KeyPath) -> bool:
    """The line's location is ``path`` or under it."""
    return any(line.startswith((f"{where}: ", f"{where}.", f"{where}["))
               for where in locs(path))


def explain(line: str, mutation: Mutation, removed: set[str]) -> str | None:
    """How a problem line relates to the mutated path; None: it does not name it."""
    path = mutation.path
    if names_it(line, path):
        return "the mutated path"
    for depth in range(len(path) - 1, 0, -1):
        # A model validator on the enclosing entry (oms.sessions[0]: ...), a field
        # validator on its list (oms.sessions: duplicate ...), or a list made too short by
        # a deletion; never a whole top-level section for a field below it.
        enclosing = depth >= 2 or (mutation.kind == "delete" and depth == len(path) - 1)
        if enclosing and any(line.startswith(f"{where}: ") for where in locs(path[:depth])):
            return "its enclosing entry"
    for depth in range(1, len(path) + 1):
        if any(f"(also {where})" in line for where in locs(path[:depth])):
            return "a duplicate of it"
    if "unknown" in line and any(line.endswith(f"(got {name!r})") for name in removed):
        return "a reference to a name it removed"
    return None


def assert_names_the_mutation(problems: list[str], mutation: Mutation, doc: dict[str, Any],
                              prefix: str = "") -> None:
    assert_well_formed(problems)
    removed = mutation.removed(doc)
    for line in problems:
        assert line.startswith(prefix), line
        why = explain(line.removeprefix(prefix), mutation, removed)
        assert why, f"{line!r} does not name {loc(mutation.path)!r} ({mutation})"
        if currently_in_test_context():
            event(f"problem names {why}")


def test_the_oracle_rejects_lines_about_other_fields() -> None:
    """``explain`` is not vacuous: lines about a neighbour, a sibling entry or a whole
    section do not count as naming a field."""
    port = Mutation("replace", ("venues", 1, "port"), 0)
    removed = port.removed({"venues": [{}, {"port": 9882}]})
    assert explain("venues[1].port: bad (got 0)", port, removed)
    for line in ("venues[1].host: bad", "venues[10].port: bad", "venues[2].port: bad",
                 "venues: bad", "venues[1]x: bad", "oms.port: bad",
                 "brokers[0].venues[0]: unknown venue (got 'XNAS')"):
        assert explain(line, port, removed) is None, line
    name = Mutation("replace", ("venues", 0, "name"), "ZZZ")
    assert explain("brokers[0].venues[0]: unknown venue; venues: A (got 'XNAS')", name,
                   {"XNAS", "name"})
    assert explain("venues[3].name: duplicate name 'ZZZ' (also venues[0])", name, set())


def write_mutated(directory: Path, name: str, doc: dict[str, Any]) -> Path:
    text = dumps(doc)
    assert same(tomllib.loads(text), doc), "the test's TOML writer lost something"
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_toml_writer_round_trips_the_shipped_files(work: Path) -> None:
    """The writer the mutation tests use loses nothing: the shipped config, rewritten,
    is still valid."""
    for doc in (SOR_DOC, MARKET_DOC):
        assert same(tomllib.loads(dumps(doc)), doc)
    directory = work / "rewritten"
    write_mutated(directory, MARKET_NAME, MARKET_DOC)
    assert check_config(write_mutated(directory, "sor.toml", SOR_DOC)) == []


@fuzz(500)
@given(mutation=mutations(SOR_DOC))
def test_mutated_config_names_the_mutated_path(work: Path, mutation: Mutation) -> None:
    CASES[f"2 mutated daemon config ({mutation.kind})"] += 1
    directory = work / "mutated-sor"
    place(directory)  # the shipped market beside it
    path = write_mutated(directory, "sor.toml", mutation.apply(SOR_DOC))
    result = outcome(load_config, path)
    if result is None:
        event("known bug")
        return
    if isinstance(result, ConfigError):
        event("ConfigError")
        assert str(result) == "\n".join(result.problems)
        assert_names_the_mutation(result.problems, mutation, SOR_DOC)
    else:
        event("still valid")
        assert isinstance(result, SorConfig)
    # check-config also reads the market the (mutated) [sim] names.
    problems = outcome(check_config, path)
    if problems is None:
        event("known bug (check_config)")
        return
    if isinstance(result, ConfigError):
        assert problems == result.problems
    elif problems:
        assert_well_formed(problems)
        assert result.sim is not None
        market = path.parent / result.sim.market
        for line in problems:
            assert line.startswith((f"{market.name}: ", f"{market}: ")), line


@pytest.fixture(scope="module")
def shipped_config() -> SorConfig:
    return load_config(SOR_PATH)


SWEEP_VALUES: list[Any] = [-1, 2**64, math.nan, -math.inf, "", "日本\U0001f600", True, [],
                           [1, "x"], {}, {"no_such_setting": 1}, dt.date(2024, 1, 31)]
"""One value of each TOML type (and the awkward ones) for the exhaustive sweep."""


def sweep(doc: dict[str, Any]) -> Iterator[Mutation]:
    """Every node of ``doc`` deleted, and replaced by each of SWEEP_VALUES."""
    for path, _ in walk(doc):
        if path:
            yield Mutation("delete", path)
            for value in SWEEP_VALUES:
                yield Mutation("replace", path, value)


def test_every_node_deleted_or_replaced_by_each_type(work: Path,
                                                      shipped_config: SorConfig) -> None:
    """The deterministic counterpart of the two hypothesis tests above and below."""
    directory = work / "sweep"
    place(directory)
    for doc, name, load, prefix in (
            (SOR_DOC, "sor.toml", load_config, ""),
            (MARKET_DOC, MARKET_NAME, lambda p: load_market(p, shipped_config),
             f"{MARKET_NAME}: ")):
        for mutation in sweep(doc):
            path = write_mutated(directory, name, mutation.apply(doc))
            result = outcome(load, path)
            if isinstance(result, ConfigError):
                assert_names_the_mutation(result.problems, mutation, doc, prefix)
            CASES[f"2 sweep of {name}: every node deleted or replaced by each type"] += 1
        write_mutated(directory, name, doc)  # back to the shipped one


@fuzz(250)
@given(mutation=mutations(MARKET_DOC))
def test_mutated_market_names_the_mutated_path(work: Path, shipped_config: SorConfig,
                                               mutation: Mutation) -> None:
    CASES[f"2 mutated market ({mutation.kind})"] += 1
    path = write_mutated(work / "mutated-market", MARKET_NAME, mutation.apply(MARKET_DOC))
    result = outcome(load_market, path, shipped_config)
    if result is None:
        event("known bug")
        return
    if isinstance(result, ConfigError):
        event("ConfigError")
        assert_names_the_mutation(result.problems, mutation, MARKET_DOC,
                                  prefix=f"{MARKET_NAME}: ")
    else:
        event("still valid")
    problems = outcome(check_config, place(path.parent, market=path.read_bytes()))
    assert problems is None or problems == (
        result.problems if isinstance(result, ConfigError) else [])


# --- 3. files that are not a config at all ----------------------------------------------------

GARBAGE = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(str.encode),
    st.text(st.characters(codec="ascii"), max_size=100).map(str.encode),
    st.tuples(st.sampled_from([b"\xef\xbb\xbf", b"\xff\xfe", b"\x00", b"\x80", b"\r", b"\x1b"]),
              st.binary(max_size=50)).map(lambda t: t[0] + t[1] + SOR_BYTES[:200]),
    st.sampled_from([b"", b" ", b"\n\n", b"# only a comment\n", b"\t", b"=", b"[", b"[[]]",
                     b'""', b"\x00" * 10, SOR_BYTES.decode().encode("utf-16")]),
)


def check_not_a_config(path: Path, data: bytes) -> None:
    """Unparsable: a ConfigError with one line naming the file; parsable TOML (an empty
    file, a comment): the missing or unknown top-level settings, one per line."""
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    result = outcome(load_config, path)
    if result is None:
        return
    doc = parses(data)
    if doc is None:
        assert isinstance(result, ConfigError), result
        assert_names_the_file(result.problems, path)
        event("one line naming the file")
        return
    event("TOML, but not a config")
    if isinstance(result, ConfigError):
        assert_well_formed(result.problems)
        for line in result.problems:
            match = FIELD_LINE.match(line)
            assert match and not match["file"], line
            assert first_key(match["loc"]) in doc.keys() | SorConfig.model_fields.keys(), line


@fuzz(300)
@given(data=GARBAGE)
def test_garbage_file_names_the_file(work: Path, data: bytes) -> None:
    CASES["3 random bytes or text"] += 1
    check_not_a_config(work / "garbage" / "sor.toml", data)


SOR_LINES = SOR_BYTES.splitlines(keepends=True)


@fuzz(200)
@given(lines=st.lists(st.sampled_from(SOR_LINES), max_size=60)
       | st.permutations(SOR_LINES).map(lambda ls: ls[:len(ls) // 2]))
def test_shuffled_config_lines(work: Path, lines: list[bytes]) -> None:
    """Lines of the shipped config, in random order and number: mostly TOML errors (keys
    and tables defined twice), sometimes valid TOML that is not a valid config."""
    CASES["3 shuffled lines of the shipped config"] += 1
    check_not_a_config(work / "shuffled" / "sor.toml", b"".join(lines))


def test_empty_file_reports_the_missing_sections(work: Path) -> None:
    """An empty file is valid TOML: its problems are the required settings (or, should
    config.py special-case it, one line naming the file)."""
    path = work / "empty.toml"
    path.write_bytes(b"")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    problems = info.value.problems
    required = {name for name, field in SorConfig.model_fields.items() if field.is_required()}
    assert (len(problems) == 1 and problems[0].startswith(f"{path}: ")) or problems == [
        f"{name}: required setting is missing" for name in SorConfig.model_fields
        if name in required], problems
    CASES["3 empty file"] += 1


# --- 4. the CLI -----------------------------------------------------------------------------


def first_leaf(doc: dict[str, Any], kind: type) -> KeyPath:
    return next(path for path, node in walk(doc)
                if isinstance(node, kind) and not isinstance(node, bool))


def first_syntax_error(data: bytes) -> bytes:
    return next(data[:end] for end in range(len(data) // 2, len(data))
                if parses(data[:end]) is None)


def cli_case(name: str) -> tuple[bytes, bytes]:
    """(daemon config, market) for one CLI case, derived from the shipped files."""
    if name == "wrong-type":
        mutation = Mutation("replace", first_leaf(SOR_DOC, int), "not a number")
        return dumps(mutation.apply(SOR_DOC)).encode(), MARKET_BYTES
    if name == "unknown-key":
        table = next(k for k, v in SOR_DOC.items() if isinstance(v, dict))
        mutation = Mutation("add", (table, "no_such_setting"), 1)
        return dumps(mutation.apply(SOR_DOC)).encode(), MARKET_BYTES
    if name == "truncated":
        return first_syntax_error(SOR_BYTES), MARKET_BYTES
    if name == "binary":
        return b"\x00\xff\xfe\x80garbage" + SOR_BYTES[:40], MARKET_BYTES
    if name == "market-wrong-type":
        mutation = Mutation("replace", first_leaf(MARKET_DOC, int), "not a number")
        return SOR_BYTES, dumps(mutation.apply(MARKET_DOC)).encode()
    raise AssertionError(name)


def run_cli(path: Path) -> subprocess.CompletedProcess[str]:
    command = [str(CLI)] if CLI.exists() else [
        sys.executable, "-c", "import sys; from sor_daemon.tools.cli import main; sys.exit(main())"]
    return subprocess.run([*command, "check-config", str(path)], capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.mark.parametrize("name", ["wrong-type", "unknown-key", "truncated", "binary",
                                  "market-wrong-type"])
def test_cli_check_config_on_a_broken_file(work: Path, name: str) -> None:
    sor, market = cli_case(name)
    path = place(work / f"cli-{name}", sor, market)
    problems = check_config(path)
    assert problems, f"the {name} case is not broken"
    done = run_cli(path)
    CASES["4 sor-daemon check-config subprocess"] += 1
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output, output
    assert done.stderr.splitlines() == problems, output


# --- bugs these tests found (fixed): reproducers kept as regression tests ------------------


def first_venue_with(key: str) -> KeyPath:
    """The path of ``key`` in the first [[venues]] entry of the shipped config."""
    return next(("venues", i, key) for i, v in enumerate(SOR_DOC["venues"]) if key in v)


@pytest.mark.parametrize(("key", "value"), [
    ("target_comp_id", ["XNAS"]), ("sender_comp_id", ["SOR"]), ("name", {"a": 1}),
    ("name", ["XNAS"])])
def test_b1_list_or_table_as_venue_name_or_comp_id(work: Path, key: str, value: Any) -> None:
    path = first_venue_with(key)
    config = write_mutated(work / "b1", "sor.toml", Mutation("replace", path, value).apply(
        SOR_DOC))
    problems = check_config(config)
    assert any(line.startswith(f"{loc(path)}: ") for line in problems), problems


@pytest.mark.parametrize("text", ["x = " + "[" * 5000 + "]" * 5000,
                                  "x = " + "{a = " * 3000 + "1" + "}" * 3000])
def test_b2_deeply_nested_toml(work: Path, text: str) -> None:
    path = work / "b2.toml"
    path.write_text(text + "\n")
    problems = check_config(path)
    assert len(problems) == 1 and problems[0].startswith(f"{path}: "), problems


@pytest.mark.parametrize("where", ["tomllib", "format_validation_error"])
def test_b3_integer_of_more_than_4300_digits(work: Path, where: str) -> None:
    path = first_leaf(SOR_DOC, int)
    text = dumps(Mutation("replace", path, 0).apply(SOR_DOC))
    huge = "1" + "0" * 5000 if where == "tomllib" else "0x" + "f" * 5000
    text = text.replace(f"{toml_key(str(path[-1]))} = 0", f"{toml_key(str(path[-1]))} = {huge}",
                        1)
    config = place(work / "b3", text.encode())
    problems = check_config(config)
    expected = f"{config}: " if where == "tomllib" else f"{loc(path)}: "
    assert len(problems) == 1 and problems[0].startswith(expected), problems


def test_b4_nul_in_sim_market(work: Path) -> None:
    assert "sim" in SOR_DOC
    doc = Mutation("replace", ("sim", "market"), "sim\x00market.toml").apply(SOR_DOC)
    config = write_mutated(work / "b4", "sor.toml", doc)
    problems = check_config(config)
    assert len(problems) == 1 and "sim" in problems[0], problems


def test_b5_empty_key_is_named(work: Path) -> None:
    config = place(work / "b5", b'"" = 1\n' + SOR_BYTES)
    problems = check_config(config)
    assert len(problems) == 1 and not problems[0].startswith(("(top level)", ": ")), problems


def test_b6_key_with_a_newline_stays_on_one_line(work: Path) -> None:
    table = next(k for k, v in SOR_DOC.items() if isinstance(v, dict))
    doc = Mutation("add", (table, "bad\nkey"), 1).apply(SOR_DOC)
    config = write_mutated(work / "b6", "sor.toml", doc)
    problems = check_config(config)
    assert len(problems) == 1 and "\n" not in problems[0], problems


def test_b1_cli_prints_a_traceback(work: Path) -> None:
    doc = Mutation("replace", first_venue_with("target_comp_id"), ["X"]).apply(SOR_DOC)
    config = write_mutated(work / "b1-cli", "sor.toml", doc)
    place(config.parent, config.read_bytes())
    done = run_cli(config)
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr, done.stderr
