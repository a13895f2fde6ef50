"""Provision tiktoken's BPE files for offline tests: `python tests/tiktoken_data.py DIR`.

tiktoken downloads its encodings on first use; the test machines have no internet, only the package
registry. The litellm wheel on PyPI ships the official cl100k/o200k/p50k files under the names
tiktoken's cache uses (sha1 of the download URL), so we fetch that wheel with pip and unpack them.
tiktoken verifies each file's sha256 when it loads it.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

LITELLM = "litellm==1.109.1"
FILES = {
    "9b5ad71b2ce5302211f9c61530b329a4922fc6a4": "cl100k_base",
    "fb374d419588a4632f3f557e76b4b70aebbca790": "o200k_base",
    "ec7223a39ce59f226a68acc30dc1af2788490e15": "p50k_base",
}
INSIDE = "litellm/litellm_core_utils/tokenizers/"


def provision(target: Path) -> None:
    """Make `target` a tiktoken cache holding the three encodings (no-op if it already does)."""
    if all((target / name).is_file() for name in FILES):
        return
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
             "--dest", tmp, LITELLM],
            check=True,
        )  # fmt: skip
        [wheel] = Path(tmp).glob("litellm-*.whl")
        with zipfile.ZipFile(wheel) as archive:
            for name in FILES:
                (target / name).write_bytes(archive.read(INSIDE + name))


if __name__ == "__main__":
    provision(Path(sys.argv[1]))
