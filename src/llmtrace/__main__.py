"""``python -m llmtrace``: the ``llmtrace`` command."""

from llmtrace.cli import main

raise SystemExit(main())
