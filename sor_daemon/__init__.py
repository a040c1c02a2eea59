"""sor-daemon: a smart order router over FIX."""
