"""A headless Chromium for the browser tests, driven over the DevTools protocol."""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest


class Browser:
    """A headless Chromium driven over the DevTools protocol on a pipe (fds 3 and 4).

    The pipe transport needs no WebSocket client and opens no port.
    """

    FLAGS = (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--remote-debugging-pipe",
        "--hide-scrollbars",
        "--window-size=1200,900",
    )

    def __init__(self, profile: Path) -> None:
        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        if exe is None:
            pytest.fail(
                "headless Chromium is required for the report tests and was not found on PATH;"
                " install it (Debian: apt-get install -y chromium)"
            )
        to_child, self._to_browser = os.pipe()
        self._from_browser, from_child = os.pipe()
        # Above 4, so that wiring them onto fds 3 and 4 in the child cannot clobber either.
        child_in = fcntl.fcntl(to_child, fcntl.F_DUPFD_CLOEXEC, 10)
        child_out = fcntl.fcntl(from_child, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_child)
        os.close(from_child)

        def wire() -> None:
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        self._proc = subprocess.Popen(
            [exe, *self.FLAGS, f"--user-data-dir={profile}", "about:blank"],
            pass_fds=(3, 4),
            preexec_fn=wire,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(child_in)
        os.close(child_out)
        self._buffer = b""
        self._last_id = 0
        page = next(t for t in self.call("Target.getTargets")["targetInfos"] if t["type"] == "page")
        self._session = self.call(
            "Target.attachToTarget", {"targetId": page["targetId"], "flatten": True}
        )["sessionId"]

    def call(
        self,
        method: str,
        params: dict | None = None,
        *,
        session: str | None = None,
        timeout: float = 30.0,
    ) -> dict:
        self._last_id += 1
        message = {"id": self._last_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self._last_id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply["result"]
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError(f"Chromium did not answer {method} in {timeout} s")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk

    def evaluate(self, url: str, expression: str) -> object:
        """Open ``url``, wait for its load event, and return the value of ``expression``."""
        self.call("Page.navigate", {"url": url}, session=self._session)
        loaded = (
            "new Promise(r => document.readyState === 'complete' ? r()"
            " : addEventListener('load', () => r()))"
        )
        self.call(
            "Runtime.evaluate", {"expression": loaded, "awaitPromise": True}, session=self._session
        )
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
            session=self._session,
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"script failed in the page: {result['exceptionDetails']}")
        return result["result"]["value"]

    def close(self) -> None:
        os.close(self._to_browser)
        os.close(self._from_browser)
        self._proc.terminate()
        self._proc.wait(timeout=30)
