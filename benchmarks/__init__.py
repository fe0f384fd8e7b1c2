"""Ratio benchmarks, run by ``make bench``: each figure is measured in one run, never asserted."""
