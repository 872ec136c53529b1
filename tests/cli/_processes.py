"""Running `python -m jobstreamer.common.cli ...` as a child, the way `up` and users do."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Served:
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    _grown: threading.Condition = field(default_factory=threading.Condition)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._grown:
                self.lines.append(line)
                self._grown.notify_all()
        with self._grown:
            self.lines.append("")  # EOF marker
            self._grown.notify_all()

    def expect(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """The first output line matching `pattern`, waiting for it."""
        regex = re.compile(pattern)
        seen = 0
        with self._grown:
            while True:
                for line in self.lines[seen:]:
                    if match := regex.search(line):
                        return match
                    if line == "":
                        raise AssertionError(f"exited without printing {pattern!r}:\n{self.output}")
                seen = len(self.lines)
                if not self._grown.wait(timeout):
                    raise AssertionError(f"no {pattern!r} within {timeout} s:\n{self.output}")

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def interrupt(self, sig: int = signal.SIGINT, timeout: float = 30.0) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout)


@contextmanager
def jobstreamer(*args: str, env: Mapping[str, str]) -> Iterator[Served]:
    """A child running `jobstreamer ARGS`, stdout and stderr merged; killed if still running at the end."""
    process = subprocess.Popen(
        [sys.executable, "-m", "jobstreamer.common.cli", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **env},
    )
    served = Served(process)
    reader = threading.Thread(target=served._read, daemon=True)
    reader.start()
    try:
        yield served
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        reader.join(10)
        assert process.stdout is not None
        process.stdout.close()
