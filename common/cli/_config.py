"""Files the CLI keeps for its user: saved tokens, and the secrets of `jobstreamer up`.

Both hold credentials, so both are written the same careful way: private
(0600, in a 0700 directory) from the first byte, and replaced atomically so
a crash never leaves half a file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jobstreamer.common import edn


def config_dir(env: Mapping[str, str]) -> Path:
    """$XDG_CONFIG_HOME/jobstreamer, or ~/.config/jobstreamer.

    The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
    """
    base = env.get("XDG_CONFIG_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".config"
    return root / "jobstreamer"


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, readable by its owner only."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    # O_EXCL after removing a leftover: never write through a planted symlink.
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    partial.replace(path)


class TokenFile:
    """Tokens saved by `jobstreamer login`: an EDN map from bus URL to token.

    Keyed by bus, because a token is only good on the bus that issued it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, str]:
        try:
            data: Any = edn.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, edn.EDNDecodeError):
            return {}  # a damaged file is as good as none: `login` rewrites it
        if not isinstance(data, dict):
            return {}
        return {str(k): v for k, v in data.items() if isinstance(v, str)}

    def get(self, bus: str) -> str | None:
        return self._read().get(bus)

    def save(self, bus: str, token: str) -> None:
        tokens = self._read()
        tokens[bus] = token
        write_private(self.path, edn.dumps(tokens, sort_keys=True) + "\n")
