"""The preview widget in a real browser: Voila serves a notebook, Chromium clicks through it.

Needs the `browser` extra (voila, playwright) and Debian's Chromium at /usr/bin/chromium;
`scripts/test-deps.sh` installs both. Run it alone with:

    .venv/bin/python -m pytest -m browser tests/test_browser.py

It writes screenshots to tests/artifacts/ (not tracked); docs/preview-voila.png is a reference
copy of preview-voila.png (the invalid row, after a click on next).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

HERE = Path(__file__).parent
NOTEBOOK = HERE / "browser" / "preview.ipynb"
ARTIFACTS = HERE / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# --no-sandbox: CI runs as root; the rest keeps Chromium off the network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"voila exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"voila did not listen on 127.0.0.1:{port} within {timeout} s")


@pytest.fixture(scope="module")
def voila_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Voila serving tests/browser/preview.ipynb on a free loopback port, stopped afterwards."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: run scripts/test-deps.sh (apt-get install chromium)")
    try:
        import playwright  # noqa: F401
        import voila  # noqa: F401
    except ImportError:
        pytest.fail('voila/playwright are missing: run scripts/test-deps.sh (pip ".[browser]")')

    home = tmp_path_factory.mktemp("voila")
    port = _free_port()
    env = {
        **os.environ,
        "JOBKIT_HOME": str(home / "jobkit"),
        # Isolate Jupyter's config, data and runtime dirs: a user-level `python3`
        # kernelspec must not shadow this venv's kernel.
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
    }
    log = home / "voila.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "voila",
                str(NOTEBOOK),
                "--no-browser",
                f"--port={port}",
                "--Voila.ip=127.0.0.1",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            # Its own process group, so that the kernel it spawns is stopped with it.
            start_new_session=True,
        )
    try:
        _wait_for_port(port, proc, log, timeout=60)
        yield f"http://127.0.0.1:{port}/"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def test_preview_in_voila_navigates_and_shows_markup_as_text(voila_url: str) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    dialogs: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 760})
            # Any alert() from injected markup would open a dialog: record and dismiss it.
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.goto(voila_url, timeout=60_000)

            title = page.locator(".jk-card .jk-title")
            title.first.wait_for(timeout=90_000)  # kernel start + notebook execution
            assert title.inner_text() == "Data Engineer"
            assert page.locator(".jk-card .jk-chip").filter(has_text="spark").count() == 1
            page.screenshot(path=str(ARTIFACTS / "preview-voila-first.png"), full_page=True)

            # Next runs the Python handler in the kernel; the card is replaced.
            page.locator("button[title='next row']").click()
            page.locator(".jk-card .jk-errors").wait_for(timeout=15_000)
            assert title.inner_text() == "(no name)"
            errors = page.locator(".jk-card .jk-errors").inner_text()
            assert "name" in errors
            assert "location.lat" in errors
            page.screenshot(path=str(ARTIFACTS / "preview-voila.png"), full_page=True)

            page.locator("button[title='next row']").click()
            page.locator(".jk-card .jk-title", has_text="Pwned").wait_for(timeout=15_000)
            card = page.locator(".jk-card")
            # The markup arrives as text: visible to the reader, never parsed into elements.
            assert title.inner_text() == "<script>alert(1)</script>Pwned"
            assert "<img src=x onerror=alert(3)>" in card.inner_text()
            assert card.locator("script, img, svg, b").count() == 0
            assert card.locator("a").count() == 0  # the javascript: url is not a link
            page.screenshot(path=str(ARTIFACTS / "preview-voila-xss.png"), full_page=True)
            page.wait_for_timeout(300)  # let any handler that did slip through fire
        finally:
            browser.close()
    assert dialogs == []
