"""`python -m sor_daemon.tools.healthcheck`: exit 0 if the daemon's /metrics answers, else 1.

The container image's HEALTHCHECK. The standard library only (no pydantic, no quickfix),
so that it costs little every time it runs: the `[metrics]` address is read from the
config named by $SOR_CONFIG with tomllib, defaults as the daemon's.
"""

from __future__ import annotations

import os
import sys
import tomllib
import urllib.request

ANY = ("", "0.0.0.0", "::")


def metrics_url(config_path: str) -> str:
    with open(config_path, "rb") as fh:
        metrics = tomllib.load(fh).get("metrics", {})
    host = str(metrics.get("host", "127.0.0.1"))
    host = "127.0.0.1" if host in ANY else host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{int(metrics.get('port', 9464))}/metrics"


def main() -> int:
    try:
        url = metrics_url(os.environ.get("SOR_CONFIG") or "config/sor.toml")
        with urllib.request.urlopen(url, timeout=4) as reply:
            reply.read()
    except (OSError, ValueError, tomllib.TOMLDecodeError) as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
