"""Command-line tools around the daemon: the CLI, reports, OMS client, demo, chaos, bench."""
