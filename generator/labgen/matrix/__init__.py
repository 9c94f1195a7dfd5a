"""The fidelity matrix: the tutorial replayed on every OS and engine combination, on top
of the single-lab pipeline (create, up, check --mode solve, down), which it uses as it is.
Nothing below this package imports it."""
