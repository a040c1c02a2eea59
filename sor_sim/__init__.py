"""The simulated market: lit exchanges, dark pools and brokers as FIX acceptors.

Its own package with its own config and validation; it reaches the daemon only over FIX.
"""
