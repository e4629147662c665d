"""Benchmark runner: presets, the attack × defense × seed matrix, records and summaries."""
