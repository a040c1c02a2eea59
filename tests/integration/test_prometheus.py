"""The deploy/ monitoring files against a real Prometheus and the real daemon.

- `promtool` accepts deploy/prometheus/prometheus.yml (rewritten to scrape this test's
  daemon) and alerts.yml.
- The simulated venues and the daemon run as `sor-daemon sim` / `sor-daemon run`
  processes on free loopback ports; a real `prometheus` scrapes the daemon every second
  with alerts.yml loaded; the demo order flow (`sor-daemon oms flow`) runs until several
  scrapes have seen orders. Then every PromQL expression of the Grafana dashboard and
  every alert rule evaluates through the HTTP API, and the latency, fill and slippage
  panels return data.

Skipped when `prometheus` or `promtool` is not on PATH, unless SOR_REQUIRE_PROMETHEUS=1
(CI installs them and sets it), in which case it fails.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.metrics import MetricWrapperBase

import sor_daemon.fix.metrics
import sor_daemon.service.metrics
from sor_daemon.config import load_config
from tests.conftest import DEFAULT_CONFIG, DEFAULT_MARKET, ROOT, free_port

pytestmark = [pytest.mark.integration, pytest.mark.prometheus]

DEPLOY = ROOT / "deploy"
PROMETHEUS_YML = DEPLOY / "prometheus" / "prometheus.yml"
ALERTS_YML = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "sor-daemon.json"

GRAFANA_VARIABLES = {  # what Grafana would put in; longest names first
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "5m",
    "${venue}": ".*",
    "$venue": ".*",
    "${strategy}": ".*",
    "$strategy": ".*",
}
PANELS_WITH_DATA = (
    "sor_child_ack_latency_seconds",
    "sor_routing_decision_seconds",
    "sor_fills_total",
    "sor_fill_slippage_bps",
)
"""Metrics whose dashboard panels must show data after the demo flow."""

ALERTS = {
    "SorDaemonDown", "SorFixSessionDown", "SorVenueFlapping", "SorKillSwitchEngaged",
    "SorAnomalies", "SorChildAckLatencyHigh", "SorRoutingDecisionSlow",
    "SorParentRejectRateHigh", "SorVenueChildRejectRateHigh", "SorVenueFillRateCollapsed",
    "SorAdverseMarkout", "SorOmsLogonRefused", "SorOmsSessionCut",
}

STARTUP_TIMEOUT = 30.0
FLOW_DEADLINE = 30.0
HTTP_TIMEOUT = 5.0


# ------------------------------------------------------------------ helpers


def _tools() -> tuple[str, str]:
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if prometheus and promtool:
        return prometheus, promtool
    missing = " and ".join(n for n, p in (("prometheus", prometheus), ("promtool", promtool))
                           if not p)
    reason = (f"{missing} not on PATH (Debian: apt-get install prometheus); "
              "SOR_REQUIRE_PROMETHEUS=1 makes this a failure")
    if os.environ.get("SOR_REQUIRE_PROMETHEUS") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def _known_series() -> dict[str, set[str]]:
    """Every series name sor_daemon/{fix,service}/metrics.py export -> its label names (+ le)."""
    series: dict[str, set[str]] = {}
    collectors = [*vars(sor_daemon.fix.metrics).values(),
                  *vars(sor_daemon.service.metrics).values()]
    for collector in collectors:
        if not isinstance(collector, MetricWrapperBase):
            continue
        labels = set(collector._labelnames)
        for family in collector.describe():
            if family.type == "counter":
                series[f"{family.name}_total"] = labels
            elif family.type == "histogram":
                # prometheus_client leaves out _sum when a bucket bound is negative.
                signed = collector._upper_bounds[0] < 0
                for suffix in ("_bucket", "_count") if signed else ("_bucket", "_sum", "_count"):
                    series[family.name + suffix] = labels | {"le"}
            else:
                series[family.name] = labels
    return series


def _substitute(expr: str) -> str:
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    assert "$" not in expr, f"unknown Grafana variable in {expr!r}"
    return expr


def _dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # collapsed rows hold their panels


def _dashboard_queries() -> list[tuple[str, str]]:
    """(panel title / refId, PromQL with Grafana variables substituted)."""
    return [(f"{panel['title']} / {target['refId']}", _substitute(target["expr"]))
            for panel in _panels(_dashboard()) for target in panel.get("targets", [])]


def _metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\bsor_[a-z0-9_]+\b", expr))


def _mentions(expr: str, metric: str) -> bool:
    return re.search(rf"\b{metric}(_bucket|_sum|_count)?\b", expr) is not None


def _check_names_and_labels(where: str, expr: str, known: dict[str, set[str]]) -> list[str]:
    """Unknown metric names, and grouping/matching labels no referenced metric has."""
    problems = [f"{where}: unknown metric {name}" for name in _metric_names(expr)
                if name not in known]
    labels = set().union(*(known.get(n, set()) for n in _metric_names(expr)),
                         {"job", "instance"})
    for group in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", expr):
        problems += [f"{where}: no metric has label {label!r}"
                     for label in (s.strip() for s in group.split(",")) if label
                     and label not in labels]
    return problems


def _http_json(url: str, params: dict[str, str] | None = None) -> dict[str, Any]:
    if params:
        url += "?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:  # 400/422 on a bad query: the body says why
        return json.load(exc)


def _finite(result: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(item["value"][1])) for item in result)


def _rewritten_config(port: int, interval: str) -> str:
    """deploy/prometheus/prometheus.yml scraping 127.0.0.1:port every ``interval``."""
    text = PROMETHEUS_YML.read_text()
    text, targets = re.subn(r"""(targets:\s*\[\s*["']?)127\.0\.0\.1:9464\b""",
                            rf"\g<1>127.0.0.1:{port}", text)
    text, intervals = re.subn(r"^(\s*(?:scrape|evaluation)_interval:\s*)\S+",
                              rf"\g<1>{interval}", text, flags=re.M)
    assert targets == 1, "prometheus.yml must scrape one target, 127.0.0.1:9464"
    assert intervals >= 2, "prometheus.yml must set scrape_interval and evaluation_interval"
    return text


def _tail(path: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


# ------------------------------------------------------------------ static checks


def test_dashboard_is_well_formed_and_uses_only_known_metrics() -> None:
    dashboard = _dashboard()
    assert dashboard["schemaVersion"] >= 36
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = [p for p in _panels(dashboard) if p["type"] != "row"]
    ids = [p["id"] for p in _panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    known = _known_series()
    problems: list[str] = []
    for panel in panels:
        if panel["datasource"] != {"type": "prometheus", "uid": "${datasource}"}:
            problems.append(f"{panel['title']}: datasource is not the $datasource variable")
        if not panel.get("targets"):
            problems.append(f"{panel['title']}: no query")
        for target in panel.get("targets", []):
            problems += _check_names_and_labels(f"{panel['title']} / {target['refId']}",
                                                _substitute(target["expr"]), known)
    for variable in variables.values():
        if variable["type"] == "query":
            problems += [f"variable {variable['name']}: unknown metric {name}"
                         for name in _metric_names(variable["definition"]) if name not in known]
    assert not problems, "\n".join(problems)
    exprs = " ".join(expr for _, expr in _dashboard_queries())
    for metric in known:  # every exported series is charted somewhere
        base = re.sub(r"_(bucket|sum|count)$", "", metric)
        assert _mentions(exprs, base), f"{metric} is on no dashboard panel"


def test_grafana_provisioning_names_the_datasource_uid() -> None:
    datasource = (DEPLOY / "grafana" / "provisioning" / "datasources" / "sor-daemon.yml")
    provider = (DEPLOY / "grafana" / "provisioning" / "dashboards" / "sor-daemon.yml")
    assert re.search(r"^\s*type:\s*prometheus\s*$", datasource.read_text(), re.M)
    assert re.search(r"^\s*type:\s*file\s*$", provider.read_text(), re.M)


def test_promtool_accepts_the_config_and_the_rules(tmp_path: Path) -> None:
    _, promtool = _tools()
    (tmp_path / "prometheus.yml").write_text(_rewritten_config(free_port(), "1s"))
    shutil.copy(ALERTS_YML, tmp_path / "alerts.yml")
    for args in (["check", "config", "prometheus.yml"], ["check", "rules", "alerts.yml"]):
        result = subprocess.run([promtool, *args], cwd=tmp_path, capture_output=True,
                                text=True, timeout=30, check=False)
        assert result.returncode == 0, f"promtool {' '.join(args)}:\n{result.stdout}" \
                                       f"{result.stderr}"


# ------------------------------------------------------------------ live stack


@dataclass
class Live:
    url: str  # Prometheus base URL
    rules: list[dict[str, Any]]
    logs: Path

    def query(self, expr: str) -> dict[str, Any]:
        return _http_json(f"{self.url}/api/v1/query", {"query": expr})

    def vector(self, expr: str) -> list[dict[str, Any]]:
        answer = self.query(expr)
        assert answer["status"] == "success", (expr, answer)
        return answer["data"]["result"]

    def scalar(self, expr: str) -> float:
        result = self.vector(expr)
        return float(result[0]["value"][1]) if result else 0.0


def _start(args: list[str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(args, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGTERM and up to ``timeout`` seconds to exit, then SIGKILL (at once if 0)."""
    if proc.poll() is not None:
        return
    if timeout > 0:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
            return
    proc.kill()
    proc.wait(5)


def _wait(predicate, timeout: float, what: str, procs: list[subprocess.Popen[bytes]],
          logs: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(f"{proc.args[:4]} exited {proc.returncode} while waiting "
                                     f"for {what}; logs in {logs}")
        with contextlib.suppress(OSError, ValueError, KeyError, IndexError):
            if predicate():
                return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; logs in {logs}:\n"
                         + "\n".join(f"--- {p.name}\n{_tail(p)}" for p in logs.glob("*.log")))


def _sessions_up(metrics_url: str, venues: list[str]) -> bool:
    with urllib.request.urlopen(metrics_url, timeout=1) as response:
        text = response.read().decode()
    up = set(re.findall(r'^sor_fix_session_up\{counterparty="(\w+)"\} 1\.0$', text, re.M))
    return set(venues) <= up


def _target_up(url: str, port: int) -> bool:
    targets = _http_json(f"{url}/api/v1/targets")["data"]["activeTargets"]
    return any(t["health"] == "up" and f":{port}/" in t["scrapeUrl"] for t in targets)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    prometheus, _ = _tools()
    work = tmp_path_factory.mktemp("prometheus")
    logs = work
    # The shipped config on free loopback ports, its market by absolute path.
    text, ports = re.subn(r"^port = \d+", lambda _: f"port = {free_port()}",
                          DEFAULT_CONFIG.read_text(), flags=re.M)
    assert ports >= 3
    text = re.sub(r'^market = ".*"', f'market = "{DEFAULT_MARKET}"', text, flags=re.M)
    text = text.replace('"var/', f'"{work}/var/')  # its journal, records and socket here
    config_path = work / "sor.toml"
    config_path.write_text(text)
    config = load_config(str(config_path))
    metrics_port = config.metrics.port
    prom_port = free_port()
    url = f"http://127.0.0.1:{prom_port}"
    (work / "prometheus.yml").write_text(_rewritten_config(metrics_port, "1s"))
    shutil.copy(ALERTS_YML, work / "alerts.yml")

    base = [sys.executable, "-m", "sor_daemon"]
    procs: list[subprocess.Popen[bytes]] = []
    flows: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(_start([*base, "sim", "--config", str(config_path)], logs / "sim.log",
                            ROOT))
        procs.append(_start([*base, "run", "--config", str(config_path)],
                            logs / "daemon.log", ROOT))
        procs.append(_start([prometheus, f"--config.file={work / 'prometheus.yml'}",
                             f"--storage.tsdb.path={work / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{prom_port}",
                             "--storage.tsdb.retention.time=1h", "--log.level=warn"],
                            logs / "prometheus.log", work))
        venues = [v.name for v in config.venues]
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        _wait(lambda: _sessions_up(metrics_url, venues), STARTUP_TIMEOUT,
              "the daemon to log on to every venue", procs, logs)
        _wait(lambda: _target_up(url, metrics_port), STARTUP_TIMEOUT,
              "Prometheus to scrape the daemon", procs, logs)
        live = Live(url, [], logs)

        # The demo flow, run again and again, until the counters have moved across several
        # scrapes. A flow's last step waits for every order to finish, so the one still
        # running at the end is stopped rather than waited for.
        deadline = time.monotonic() + FLOW_DEADLINE
        flow: subprocess.Popen[bytes] | None = None
        seed = 0
        while (moved := live.scalar("max(changes(sor_child_orders_total[1m]))")) < 3:
            assert time.monotonic() < deadline, f"orders seen in only {moved:.0f} scrapes"
            if flow is None or flow.poll() is not None:
                assert flow is None or flow.returncode == 0, _tail(logs / f"flow{seed}.log")
                seed += 1
                flow = _start([*base, "oms", "--config", str(config_path), "flow",
                               "--orders", "300", "--seed", str(seed)],
                              logs / f"flow{seed}.log", ROOT)
                flows.append(flow)
            time.sleep(0.25)
        for proc in flows:  # the OMS client ignores SIGTERM; nothing of it is needed now
            _stop(proc, timeout=0)
        # A scrape after the last orders, then a rule evaluation.
        stopped = time.time()
        _wait(lambda: live.scalar("timestamp(up{job='sor-daemon'})") > stopped + 0.5, 10,
              "a scrape after the flow", procs, logs)

        def evaluated() -> bool:
            groups = _http_json(f"{url}/api/v1/rules")["data"]["groups"]
            live.rules = [rule for group in groups for rule in group["rules"]]
            return bool(live.rules) and all(r["health"] != "unknown" for r in live.rules)

        _wait(evaluated, 10, "every alert rule to be evaluated", procs, logs)
        yield live
    finally:
        for proc in flows:
            _stop(proc, timeout=0)
        for proc in reversed(procs):  # Prometheus, then the daemon, then the venues
            _stop(proc)


def test_alert_rules_load_and_evaluate(live: Live) -> None:
    known = _known_series()
    names = {rule["name"] for rule in live.rules}
    assert names >= ALERTS, f"missing alert rules: {ALERTS - names}"
    problems: list[str] = []
    for rule in live.rules:
        where = rule["name"]
        if rule["type"] != "alerting":
            problems.append(f"{where}: not an alerting rule")
            continue
        if rule["health"] != "ok":
            problems.append(f"{where}: {rule['health']}: {rule.get('lastError')}")
        if rule["labels"].get("severity") not in ("critical", "warning", "info"):
            problems.append(f"{where}: severity label missing or unusual")
        for annotation in ("summary", "runbook"):
            value = rule["annotations"].get(annotation, "")
            if not value.strip() or "\n" in value.strip():
                problems.append(f"{where}: {annotation} must be one non-empty line")
        problems += _check_names_and_labels(where, rule["query"], known)
        answer = live.query(rule["query"])
        if answer["status"] != "success":
            problems.append(f"{where}: {answer.get('error')}")
    assert not problems, "\n".join(problems)


def test_every_dashboard_query_evaluates(live: Live) -> None:
    failures = []
    for where, expr in _dashboard_queries():
        answer = live.query(expr)
        if answer["status"] != "success":
            failures.append(f"{where}: {answer.get('errorType')}: {answer.get('error')}\n"
                            f"    {expr}")
    dashboard = _dashboard()
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        metric, label = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)",
                                     variable["definition"]).groups()
        answer = _http_json(f"{live.url}/api/v1/label/{label}/values", {"match[]": metric})
        if answer["status"] != "success" or not answer["data"]:
            failures.append(f"variable {variable['name']}: no values ({answer})")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("metric", PANELS_WITH_DATA)
def test_panel_has_data_after_the_flow(live: Live, metric: str) -> None:
    queries = [(where, expr) for where, expr in _dashboard_queries() if _mentions(expr, metric)]
    assert queries, f"no dashboard panel charts {metric}"
    results = {where: live.vector(expr) for where, expr in queries}
    assert any(_finite(result) for result in results.values()), (
        f"no panel charting {metric} has data after the demo flow: "
        + "; ".join(f"{where}: {result}" for where, result in results.items()))
