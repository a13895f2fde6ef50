"""The single error-containment idiom: llmtrace's own failures never reach the user's code."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from llmtrace._redact import CredentialFilter

log = logging.getLogger("llmtrace")
log.addFilter(CredentialFilter())  # exception texts in our log lines may hold URLs with keys

# Flipped by instrument(raise_internal_errors=True); the test suite runs with it on so bugs fail loudly.
raise_internal_errors = False


def internal_error(what: str) -> None:
    """Handle the exception being handled inside llmtrace: re-raise in tests, else log at DEBUG."""
    exc = sys.exc_info()[1]
    if raise_internal_errors and exc is not None:
        raise exc
    log.debug("llmtrace: %s failed", what, exc_info=True)


@contextmanager
def contained(what: str) -> Iterator[None]:
    """Run a block of llmtrace's own work; an Exception in it is logged, never propagated."""
    try:
        yield
    except Exception:
        internal_error(what)
