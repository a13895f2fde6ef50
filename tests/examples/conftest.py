"""The examples export to a local OTLP/HTTP sink on 127.0.0.1 (tests/otlp_sink.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from otlp_sink import Sink, running


@pytest.fixture
def sink() -> Iterator[Sink]:
    with running() as server:
        yield server
