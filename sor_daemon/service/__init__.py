"""The running daemon: the loop, persistence, audit, admin, metrics, logs."""
