"""API keys in Settings end to end: on an open server, create the first key (shown once, copied),
the tab keeps working with it, the key works for clients; revoke it and it is refused."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import ServerProcess
from tests.web.conftest import screenshot


@pytest.fixture
def open_server(tmp_path):
    srv = ServerProcess("--ctx", "512", env={"IMPETUS_DATA_DIR": str(tmp_path)})
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


def test_create_copy_once_then_revoke(open_server, browser) -> None:
    url = open_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
    page = context.new_page()
    try:
        page.goto(url + "/settings")
        page.get_by_text("Authentication is off.").wait_for()
        page.get_by_label("Key name").fill("e2e scripts")
        page.get_by_role("button", name="Create key").click()

        shown = page.get_by_role("region", name="New API key")
        secret = shown.get_by_label("New API key").input_value()
        assert secret.startswith("imp_")
        shown.get_by_role("button", name="Copy").click()
        page.locator("[data-sonner-toast]").filter(has_text="Key copied").wait_for()
        assert page.evaluate("navigator.clipboard.readText()") == secret
        # The key turned auth on; this tab adopted it and keeps working.
        assert page.evaluate("sessionStorage.getItem('impetus.apiKey')") == secret
        assert httpx.get(url + "/v1/models").status_code == 401
        assert httpx.get(url + "/v1/models", headers={"x-api-key": secret}).status_code == 200
        page.get_by_test_id("auth-state").filter(has_text="needs a key").wait_for()
        row = page.locator('tr[data-key="e2e scripts"]')
        row.get_by_text("this browser").wait_for()
        assert secret[:12] in row.inner_text() and secret not in row.inner_text()

        shown.get_by_role("button", name="Done").click()
        shown.wait_for(state="detached")
        page.reload()  # shown once: never again, yet the page still works with the session key
        row.wait_for()
        assert secret not in page.content()
        page.get_by_test_id("server-status").filter(has_text="ready").wait_for()
        assert page.get_by_role("dialog", name="API key required").count() == 0
        screenshot(page, "settings")

        page.get_by_role("button", name="Revoke e2e scripts").click()
        dialog = page.get_by_role("alertdialog", name="Revoke e2e scripts?")
        assert "last key" in dialog.inner_text()
        dialog.get_by_role("button", name="Revoke").click()
        page.locator("[data-sonner-toast]").filter(has_text="Revoked e2e scripts").wait_for()
        row.wait_for(state="detached")
        assert httpx.get(url + "/admin/keys").json()["keys"] == []
        # The last key is gone: the server is open again (tests/api/test_admin_keys.py shows a
        # revoked key refused while other keys keep auth on).
        assert httpx.get(url + "/v1/models").status_code == 200
        page.get_by_text("Authentication is off.").wait_for()
    finally:
        context.close()
