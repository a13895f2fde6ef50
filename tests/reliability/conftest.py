"""Hypothesis profiles for the reliability tests, and the figures they report at the end of the run.

``ci`` (the default) runs in seconds with a fixed seed; ``HYPOTHESIS_PROFILE=fuzz`` (``nox -s fuzz``) runs
many more cases with fresh randomness.
"""

from __future__ import annotations

import os

from figures import FIGURES
from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,
    "database": None,  # nothing written into the checkout
    "print_blob": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
}
settings.register_profile("ci", max_examples=100, derandomize=True, **_COMMON)
settings.register_profile("fuzz", max_examples=3000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if FIGURES:
        terminalreporter.write_sep("-", "reliability figures")
        for key, value in sorted(FIGURES.items()):
            terminalreporter.write_line(f"{key}: {value}")
