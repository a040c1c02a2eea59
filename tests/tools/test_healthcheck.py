"""The container image's HEALTHCHECK: /metrics at the address of $SOR_CONFIG."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from sor_daemon.tools.healthcheck import main, metrics_url
from tests.conftest import DEFAULT_CONFIG, free_port


@pytest.mark.parametrize(("section", "url"), [
    ("", "http://127.0.0.1:9464/metrics"),
    ('[metrics]\nhost = "0.0.0.0"\nport = 9999\n', "http://127.0.0.1:9999/metrics"),
    ('[metrics]\nhost = "::1"\n', "http://[::1]:9464/metrics"),
    ('[metrics]\nhost = "10.1.2.3"\nport = 9000\n', "http://10.1.2.3:9000/metrics"),
])
def test_metrics_url_is_the_configs(tmp_path: Path, section: str, url: str) -> None:
    config = tmp_path / "sor.toml"
    config.write_text(section)
    assert metrics_url(str(config)) == url


def test_shipped_config() -> None:
    assert metrics_url(str(DEFAULT_CONFIG)) == "http://127.0.0.1:9464/metrics"


class _Metrics(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/metrics" else 404)
        self.end_headers()
        self.wfile.write(b"sor_up 1\n")

    def log_message(self, *args: object) -> None:
        pass


def test_healthy_when_metrics_answer_unhealthy_when_not(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    config = tmp_path / "sor.toml"
    config.write_text(f"[metrics]\nport = {port}\n")
    monkeypatch.setenv("SOR_CONFIG", str(config))
    assert main() == 1
    assert "unhealthy:" in capsys.readouterr().err
    server = HTTPServer(("127.0.0.1", port), _Metrics)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert main() == 0
    finally:
        server.shutdown()
        server.server_close()
    config.write_text("[metrics\n")
    assert main() == 1
