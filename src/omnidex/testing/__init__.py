"""Generated media for tests, the demo and benchmarks."""
