"""The pure core: events in, actions out; no I/O."""
