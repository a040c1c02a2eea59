"""The routing lab: the real engine against the simulated market on a simulated clock."""
