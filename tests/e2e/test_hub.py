"""The team server in headless Chromium against the running hub, with its real parts (the team's
Postgres roles and policies, RabbitMQ, Redis, SeaweedFS and a Celery worker on the service's
login): people sign up and an administrator approves them; alice uploads a zip and trains; bob
sees none of it, and his own code, with the credentials in his server's environment, reads and
changes none of her rows and cannot list the bucket; alice shares the dataset, bob sees it
read-only and a delete is refused; five wrong passwords lock an account."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests import builders, services
from tests.e2e.browser import chromium
from tests.e2e.test_dashboard import open_tab, status, upload
from tests.hub import Hub, running_hub
from tests.seaweedfs import S3Server
from tests.team import team_database
from workbench.config import Settings
from workbench.hub.objects import remove_identity
from workbench.hub.settings import HubSettings

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SECONDS = 1000  # Playwright counts milliseconds
PASSWORD = "correct horse battery"
API = "/services/workbench-api"
TABLES = ("datasets", "images", "jobs", "models", "predictions", "reports", "shares")


@pytest.fixture
def hub(tmp_path: Path, broker_url: str, seaweedfs: S3Server) -> Iterator[Hub]:
    services_of = {
        "broker_url": broker_url, "result_backend": services.REDIS_URL,
        "storage_url": f"s3://{seaweedfs.bucket}/{uuid.uuid4().hex}",
        "s3_endpoint_url": seaweedfs.endpoint_url,
    }  # fmt: skip
    with team_database(("alice", "bob")) as team:
        worker = services.Worker(
            team.service_settings(tmp_path / "worker", **services_of), tmp_path / "worker.log",
            queues="imagery,training,inference", env=seaweedfs.environ(),
        )  # fmt: skip
        shared = Settings(data_dir=tmp_path / "unused", **services_of)  # type: ignore[arg-type]
        try:
            with running_hub(team, shared, tmp_path / "hub", extra_env=seaweedfs.environ()) as hub:
                yield hub
        finally:
            worker.stop()
            with pytest.MonkeyPatch.context() as patch:  # the administrator's keys, for the IAM API
                for name, value in seaweedfs.environ().items():
                    patch.setenv(name, value)
                identities = HubSettings(admin_database_url=team.admin_url, state_dir=tmp_path, shared=shared)
                for name in ("admin", *team.users):
                    remove_identity(identities, team.user(name))


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


def open_dashboard(page, hub: Hub, name: str) -> None:  # type: ignore[no-untyped-def]
    """The person's own server (started at their first login): its dashboard, as a Voila page."""
    from playwright.sync_api import expect

    page.wait_for_url(f"**/user/{name}/lab**", timeout=180 * SECONDS)
    page.goto(f"{hub.url}/user/{name}/voila/render/dashboard.ipynb")
    expect(page.locator(".workbench-tabs")).to_be_visible(timeout=180 * SECONDS)


def api_json(page, hub: Hub, path: str) -> Any:  # type: ignore[no-untyped-def]
    """What the REST API behind the hub answers the browser's logged-in person at ``path``."""
    answer = page.goto(f"{hub.url}{API}{path}")
    assert answer.status == 200, (path, answer.status, answer.text()[:500])
    return json.loads(answer.text())


def run_as(name: str, code: str) -> dict[str, object]:
    """``code`` run by ``name``'s Linux account with exactly the environment the hub gave their
    server (read from the running server's process): what a person's own kernel can do."""
    pid = subprocess.run(["pgrep", "-u", name, "-f", "jupyterhub-singleuser"], capture_output=True, text=True)
    environ = Path(f"/proc/{pid.stdout.split()[0]}/environ").read_bytes().split(b"\0")
    env = [item.decode() for item in environ if item]
    done = subprocess.run(
        ["runuser", "-u", name, "--", "env", "-i", *env, sys.executable, "-c", code],
        capture_output=True, text=True, timeout=120, cwd="/",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


BOBS_OWN_CODE = """
import json, os, boto3, psycopg2
from botocore.exceptions import ClientError
alice, tables, bucket = {alice!r}, {tables!r}, {bucket!r}
db = psycopg2.connect(os.environ["WORKBENCH_DATABASE_URL"].replace("postgresql+psycopg2", "postgresql"))
cursor, seen = db.cursor(), {{}}
for table in tables:
    cursor.execute(f"SELECT count(*) FROM {{table}} WHERE owner = %s", (alice,))
    seen[table] = cursor.fetchone()[0]
    cursor.execute(f"UPDATE {{table}} SET owner = owner WHERE owner = %s", (alice,))
    seen[table + " updated"] = cursor.rowcount
    cursor.execute(f"DELETE FROM {{table}} WHERE owner = %s", (alice,))
    seen[table + " deleted"] = cursor.rowcount
db.rollback()
try:
    cursor.execute('SET ROLE "' + alice + '"')
    seen["set role"] = "allowed"
except psycopg2.Error as error:
    seen["set role"] = error.pgcode
s3 = boto3.client("s3", endpoint_url=os.environ["WORKBENCH_S3_ENDPOINT_URL"])
try:
    s3.list_objects_v2(Bucket=bucket)
    seen["list"] = "allowed"
except ClientError as error:
    seen["list"] = error.response["Error"]["Code"]
print(json.dumps(seen))
"""


def test_a_team_signs_up_trains_shares_and_stays_apart(hub: Hub, seaweedfs: S3Server, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    alice, bob = hub.team.user("alice"), hub.team.user("bob")
    archive = builders.zip_of(
        builders.image_folder(tmp_path / "pets", {"cat": 20, "dog": 20}), tmp_path / "pets.zip"
    )
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1300, "height": 1150})  # type: ignore[attr-defined]
        page.set_default_timeout(120 * SECONDS)
        # -- sign-up, the rules, approval -------------------------------------------------------
        assert "signup was successful" in sign_up(page, hub, hub.admin)  # the admin needs no approval
        assert "too common" in sign_up(page, hub, alice, "password")
        for name in (alice, bob):
            assert "sent to the admin" in sign_up(page, hub, name)
        log_in(page, hub, alice)
        expect(page.locator("body")).to_contain_text("has not been authorized by an administrator yet")
        log_in(page, hub, hub.admin)
        page.goto(hub.url + "/hub/authorize")
        for name in (alice, bob):
            page.locator("tr", has_text=name).get_by_role("button", name="Authorize").click()
        expect(page.locator("tr", has_text=bob).get_by_role("button", name="Unauthorize")).to_be_visible()

        # -- alice uploads a zip and trains, in her own server ------------------------------------
        log_in(page, hub, alice)
        open_dashboard(page, hub, alice)
        upload(page, "Choose a zip", archive)
        expect(page.locator(".workbench-chosen")).to_contain_text("pets.zip")
        page.locator(".workbench-new-name input").fill("pets")
        page.get_by_role("button", name="Ingest").click()
        expect(status(page, "datasets")).to_contain_text("40 images ingested", timeout=300 * SECONDS)
        open_tab(page, "Train")
        page.locator(".workbench-epochs input").fill("1")
        page.locator(".workbench-epochs input").press("Tab")
        page.get_by_role("button", name="Start training").click()
        expect(status(page, "training")).to_contain_text("trained: test accuracy", timeout=600 * SECONDS)

        # -- the REST API behind the hub: her browser logs in through the hub (OAuth) -------------
        assert [d["name"] for d in api_json(page, hub, "/v1/datasets")] == ["pets"]
        (model,) = api_json(page, hub, "/v1/models")
        assert api_json(page, hub, f"/v1/models/{model['id']}")["owner"] == alice
        with browser.new_context() as stranger:  # type: ignore[attr-defined]
            asked = stranger.request.get(hub.url + API + "/v1/datasets", max_redirects=0)  # a program
            assert asked.status == 401 and asked.headers["content-type"] == "application/problem+json"

        # -- bob sees none of it, and his own code can neither read nor change it -----------------
        log_in(page, hub, bob)
        open_dashboard(page, hub, bob)
        expect(page.locator(".workbench-dataset-choice select option")).to_have_count(0)
        open_tab(page, "Models")
        expect(page.locator(".workbench-model-choice select option")).to_have_count(0)
        assert api_json(page, hub, "/v1/datasets") == []
        assert page.goto(f"{hub.url}{API}/v1/models/{model['id']}").status == 404  # type: ignore[union-attr]
        seen = run_as(bob, BOBS_OWN_CODE.format(alice=alice, tables=TABLES, bucket=seaweedfs.bucket))
        assert {table: seen[table] for table in TABLES} == dict.fromkeys(TABLES, 0), seen
        assert all(seen[f"{table} {verb}"] == 0 for table in TABLES for verb in ("updated", "deleted")), seen
        assert seen["set role"] == "42501" and seen["list"] == "AccessDenied", (
            seen
        )  # 42501: permission denied
        admin = create_engine(hub.team.admin_url)
        with admin.connect() as connection:  # and alice's rows are all there
            mine = {
                t: connection.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                for t in ("images", "models")
            }
        admin.dispose()
        assert mine == {"images": 40, "models": 1}

        # -- alice shares the dataset: bob reads it, and may not delete it ------------------------
        log_in(page, hub, alice)
        open_dashboard(page, hub, alice)
        page.locator(".workbench-share-with input").fill(bob)
        page.get_by_role("button", name="Share read-only").click()
        expect(status(page, "sharing")).to_contain_text(f"shared read-only with: {bob}")
        log_in(page, hub, bob)
        open_dashboard(page, hub, bob)
        choice = page.locator(".workbench-dataset-choice select")
        expect(choice).to_contain_text(f"{alice}/pets (40 images, 2 labels; shared by {alice}, read-only)")
        page.get_by_role("button", name="Delete dataset").click()
        expect(status(page, "sharing")).to_contain_text(
            f"belongs to {alice} and is shared with you read-only"
        )

        # -- five wrong passwords lock an account ------------------------------------------------
        for _ in range(5):
            log_in(page, hub, bob, "wrong password, again")
            expect(page.locator("body")).to_contain_text("Invalid username or password")
        log_in(page, hub, bob)  # the right password, refused now: the account is locked
        expect(page.locator("body")).to_contain_text("Invalid username or password")
