"""Counts the reliability tests report at the end of the run (cases generated, faults injected, ...)."""

from __future__ import annotations

from collections import Counter

FIGURES: Counter[str] = Counter()
