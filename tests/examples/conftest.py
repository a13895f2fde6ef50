"""The examples export to the local OTLP/HTTP sink that tests/core/test_otlp_export.py runs."""

from core.test_otlp_export import sink  # noqa: F401 (a fixture, requested by name)
