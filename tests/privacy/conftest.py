"""Reports what the privacy tests covered (calls made, attribute values scanned, secrets checked)."""

from __future__ import annotations

from privacy_capture import FIGURES


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if FIGURES:
        terminalreporter.write_sep("-", "privacy figures")
        for key, value in sorted(FIGURES.items()):
            terminalreporter.write_line(f"{key}: {value}")
