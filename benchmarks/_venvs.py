"""The benchmarks' virtual environments: one per contender, each with the same pinned SDK versions.

Created on first use under one directory and reused while their requirement list is unchanged (uv when it
is on PATH, else venv + pip). Standard library only: the driver itself needs none of the packages.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT / ".nox" / "bench-envs"

# One version of each provider SDK and of the OTel SDK for every contender: the newest releases that
# every peer below works with (each was checked to emit its spans on them).
SDKS = ["openai==3.54.0", "anthropic==2.12.0"]
OTEL = ["opentelemetry-api==1.45.2", "opentelemetry-sdk==1.45.2"]
COMMON = [*SDKS, *OTEL]
PEERS = {
    "openllmetry": [
        "opentelemetry-instrumentation-openai==0.62.4",
        "opentelemetry-instrumentation-anthropic==0.62.4",
    ],
    "openinference": [
        "openinference-instrumentation-openai==0.1.66",
        "openinference-instrumentation-anthropic==3.1.0",
    ],
    "otel-genai": [
        "opentelemetry-instrumentation-genai-openai==1.3b0",
        "opentelemetry-instrumentation-genai-anthropic==1.3b0",
    ],
    # 2.4b0 imports httpx (openai 3 is built on httpx2) and a module that util-genai 1.3 removed.
    "otel-openai-v2": [
        "opentelemetry-instrumentation-openai-v2==2.4b0",
        "opentelemetry-util-genai==1.1b0",
        "httpx",
    ],
}
ENVS: dict[str, list[str]] = {
    "bare": COMMON,
    "floor": COMMON,
    "llmtrace": COMMON,  # + llmtrace itself, installed afresh by each run (install_llmtrace)
    **{name: [*COMMON, *packages] for name, packages in PEERS.items()},
    "llmtrace-only": [],  # import-cost measurements: llmtrace and its dependencies, no provider SDK
}


SHARED = {"llmtrace-nometrics": "llmtrace", "llmtrace-ownmetrics": "llmtrace"}
"""Contenders that run in another contender's environment (the same llmtrace, set up differently)."""


def python(name: str, base: Path = DEFAULT_DIR) -> Path:
    return base / SHARED.get(name, name) / "bin" / "python"


def ensure(name: str, base: Path = DEFAULT_DIR, log: Path | None = None) -> Path:
    """Create (or reuse) the environment `name` and return its python."""
    name = SHARED.get(name, name)
    requirements = ENVS[name]
    where = base / name
    stamp = where / "bench-requirements.txt"
    wanted = "\n".join(requirements) + "\n"
    if stamp.exists() and stamp.read_text() == wanted and python(name, base).exists():
        return python(name, base)
    print(f"creating {where}: {' '.join(requirements)}", flush=True)
    if where.exists():
        shutil.rmtree(where)
    out = open(log, "a") if log else subprocess.DEVNULL  # noqa: SIM115
    try:
        uv = shutil.which("uv")
        if uv:
            subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(where)], check=True, stdout=out)
            command = [uv, "pip", "install", "-q", "--python", str(python(name, base))]
            command += ["--compile-bytecode", "--prerelease=if-necessary-or-explicit", *requirements]
        else:
            subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, stdout=out)
            command = [str(python(name, base)), "-m", "pip", "install", "-q", *requirements]
        if requirements:
            subprocess.run(command, check=True, stdout=out, stderr=out)
    finally:
        if log:
            out.close()  # type: ignore[union-attr]
    stamp.write_text(wanted)
    return python(name, base)


def snapshot(revision: str) -> tuple[Path, str]:
    """The repository's files at `revision` (``git archive``) in a temporary directory, and its short hash."""
    where = Path(tempfile.mkdtemp(prefix="llmtrace-snapshot-"))
    git = ["git", "-C", str(ROOT)]
    commit = subprocess.run(
        [*git, "rev-parse", "--short", revision], check=True, capture_output=True, text=True
    )
    archive = subprocess.run([*git, "archive", "--format=tar", revision], check=True, capture_output=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(where, filter="data")
    return where, commit.stdout.strip()


def install_llmtrace(python: Path, source: Path, editable: bool = False) -> None:
    """(Re)install llmtrace from a source tree, with its dependencies, so a run measures that tree."""
    target = ["-e", str(source)] if editable else [str(source)]
    uv = shutil.which("uv")
    if uv:
        command = [uv, "pip", "install", "-q", "--python", str(python), "--compile-bytecode"]
        subprocess.run([*command, "--reinstall-package", "llmtrace", *target], check=True)
    else:
        pip = [str(python), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, *target], check=True)
        subprocess.run([*pip, "--no-deps", "--force-reinstall", *target], check=True)
