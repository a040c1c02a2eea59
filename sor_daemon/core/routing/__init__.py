"""Routing strategies: pure functions of (order, market view, venue state, time)."""
