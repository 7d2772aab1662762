"""Browser tests: Playwright for Python driving Debian's Chromium against pytest-django's
live_server. Screenshots go to test-artifacts/screenshots/ (gitignored)."""

import fcntl
import os
import shutil
import subprocess
from contextlib import nullcontext
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.factories import PASSWORD
from tests.live_server import one_user_at_a_time

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(settings.BASE_DIR) / "test-artifacts" / "screenshots"


# Every pytest-xdist process that runs a browser test asks for Chromium at once: the first
# installs it while the others wait on this lock (apt-get would refuse them: dpkg's lock is
# held), then find it there.
INSTALL_LOCK = Path("/tmp/tensafe-ir-chromium-install.lock")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium, installed with apt-get when missing (CI runs as root)."""
    if CHROMIUM.exists():
        return str(CHROMIUM)
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.fail(
            f"{CHROMIUM} is missing and cannot be installed here (needs root and apt-get): "
            "install Debian's chromium package to run the browser tests."
        )
    with INSTALL_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not CHROMIUM.exists():
            _install_chromium()
    return str(CHROMIUM)


def _install_chromium() -> None:
    # Anything else on the machine using dpkg (unattended upgrades) is waited for too.
    wait = "-o DPkg::Lock::Timeout=600"
    result = subprocess.run(
        f"apt-get {wait} update && apt-get {wait} install -y chromium",
        shell=True,
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    if result.returncode != 0 or not CHROMIUM.exists():
        pytest.fail(
            "Could not install Debian's chromium for the browser tests "
            f"(apt-get exited {result.returncode}):\n{result.stderr[-2000:]}"
        )


@pytest.fixture(scope="module")
def browser(chromium_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install -e '.[dev]'")
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls (set-up
    # and checks) are synchronous and safe, so Django's async guard is lifted for this module.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class Problems:
    """Console errors, uncaught page errors and CSP violations seen by any watched page."""

    def __init__(self):
        self.items: list[str] = []

    def watch(self, page):
        def on_console(message):
            if message.type == "error" or "Content Security Policy" in message.text:
                self.items.append(f"console {message.type} on {page.url}: {message.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.items.append(f"pageerror on {page.url}: {error}"))
        return page


@pytest.fixture
def problems():
    return Problems()


@pytest.fixture
def open_page(browser, live_server, problems):
    """open_page(user=None, width=1280) -> a watched page in a new context, signed in as
    `user` through the login form when given."""
    contexts = []
    shared = connection.vendor == "sqlite" and connection.is_in_memory_db()

    def make(user=None, width=1280, height=900):
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = problems.watch(context.new_page())
        page.set_default_timeout(10_000)
        if user is not None:
            page.goto(f"{live_server.url}/login/")
            page.get_by_label("Username").fill(user.username)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{live_server.url}/")
        return page

    with connection.execute_wrapper(one_user_at_a_time) if shared else nullcontext():
        yield make
        for context in contexts:
            context.close()


def shot(page, name: str, full_page: bool = True) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def pytest_collection_modifyitems(config, items):
    """The browser tests need PostgreSQL (CI runs them; without DATABASE_URL they are skipped
    like every test marked `postgres`). On the in-memory SQLite database the live server and
    the test share one connection: with the incident page's live check polling beside the
    timeline, requests met on it ("database table is locked") in most fresh-clone runs."""
    for item in items:
        if item.nodeid.startswith("tests/browser/"):
            item.add_marker(pytest.mark.postgres)
