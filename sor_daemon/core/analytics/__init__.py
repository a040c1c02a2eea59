"""Execution analytics: the monitor (fills -> TCA records, scorecards) and TCA maths."""
