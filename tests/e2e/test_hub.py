"""The team server in headless Chromium against the running hub: people sign up and an
administrator approves them; each person's server runs as their own Linux account and their
dashboard shows only their own work, until they share it; five wrong passwords lock an account."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.browser import chromium
from tests.hub import Hub, running_hub
from tests.team import team_database
from workbench.config import Settings

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SECONDS = 1000  # Playwright counts milliseconds
PASSWORD = "correct horse battery"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    with team_database(("alice", "bob")) as team, running_hub(team, Settings(), tmp_path) as hub:
        yield hub


def sign_up(page, hub: Hub, name: str, password: str = PASSWORD) -> str:  # type: ignore[no-untyped-def]
    page.goto(hub.url + "/hub/signup")
    page.fill("#username_input", name)
    page.fill("#password_input", password)
    page.fill("#password_confirmation_input", password)
    page.click("#signup_submit")
    return str(page.locator(".alert").inner_text())


def log_in(page, hub: Hub, name: str, password: str = PASSWORD) -> None:  # type: ignore[no-untyped-def]
    page.context.clear_cookies()
    page.goto(hub.url + "/hub/login")
    page.fill("#username_input", name)
    page.fill("#password_input", password)
    page.click("#login_submit")


def test_people_sign_up_an_admin_approves_them_and_five_wrong_passwords_lock_an_account(hub: Hub) -> None:
    from playwright.sync_api import expect

    alice, bob = hub.team.user("alice"), hub.team.user("bob")
    with chromium() as browser:
        page = browser.new_page()  # type: ignore[attr-defined]
        page.set_default_timeout(120 * SECONDS)
        assert "signup was successful" in sign_up(page, hub, hub.admin)  # the admin needs no approval
        assert "too common" in sign_up(page, hub, alice, "password")  # the rules: length, common ones
        for name in (alice, bob):
            assert "sent to the admin" in sign_up(page, hub, name)
        log_in(page, hub, alice)
        expect(page.locator("body")).to_contain_text("has not been authorized by an administrator yet")

        log_in(page, hub, hub.admin)
        page.goto(hub.url + "/hub/authorize")
        for name in (alice, bob):
            page.locator("tr", has_text=name).get_by_role("button", name="Authorize").click()
        expect(page.locator("tr", has_text=bob).get_by_role("button", name="Unauthorize")).to_be_visible()

        log_in(page, hub, alice)  # her server starts, as her own Linux account, with JupyterLab
        page.wait_for_url(f"**/user/{alice}/lab**", timeout=180 * SECONDS)
        page.goto(f"{hub.url}/user/{alice}/voila/render/dashboard.ipynb")
        expect(page.locator(".workbench-tabs")).to_be_visible(timeout=180 * SECONDS)

        for _ in range(5):
            log_in(page, hub, bob, "wrong password, again")
            expect(page.locator("body")).to_contain_text("Invalid username or password")
        log_in(page, hub, bob)  # the right password, now refused: the account is locked
        expect(page.locator("body")).to_contain_text("Invalid username or password")
