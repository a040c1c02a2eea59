"""`sor-daemon bench`: the daemon's latency and throughput against a bare quickfix echo.

`echo` is the counterparty of both paths (the baseline's acceptor and the daemon's venue),
`driver` the OMS that times them, `stats` the arithmetic, `run` the orchestration and
the report.
"""
