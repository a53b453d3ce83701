"""The Models page end to end: drag-and-drop upload of a real GGUF with live progress, load it,
chat with it; a corrupt upload shows the server's own message; a Hub pull (a local fake Hub)
shows live progress, Cancel stops it, and pulling again resumes and finishes. A server of its
own, on its own data folder, so these models do not leak into other tests."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.conftest import MODEL_ID, MODEL_PATH, ServerProcess
from tests.models.fake_hub import FakeHub
from tests.models.files import copy_model, corrupt_header
from tests.web.conftest import screenshot

# Every aria-valuenow the upload's progress bar shows, in order.
WATCH_PROGRESS = """() => {
  window.__progress = [];
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.target.getAttribute("aria-label") === "Upload e2e-upload.gguf")
        window.__progress.push(Number(r.target.getAttribute("aria-valuenow")));
    }
  }).observe(document.body, {subtree: true, attributes: true, attributeFilter: ["aria-valuenow"]});
}"""

# A real drop event carrying a real File (read from disk by chromium through a scratch input).
DROP = """() => {
  const file = document.getElementById("scratch-file").files[0];
  const dt = new DataTransfer();
  dt.items.add(file);
  const zone = document.querySelector('[data-testid="model-drop-zone"]');
  for (const type of ["dragenter", "dragover", "drop"])
    zone.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: dt}));
}"""


@pytest.fixture(scope="module")
def hub():
    h = FakeHub()
    h.add("acme/tiny-GGUF", "tiny-Q4_1.gguf", MODEL_PATH)
    h.start()
    yield h
    h.stop()


@pytest.fixture(scope="module")
def models_server(tmp_path_factory, hub):
    data = tmp_path_factory.mktemp("web-models-data")
    env = {"IMPETUS_DATA_DIR": str(data), "HF_ENDPOINT": hub.url}
    srv = ServerProcess("--ctx", "512", env=env)
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


def test_drop_a_gguf_load_it_and_chat_with_it(models_server, page, tmp_path) -> None:
    upload = copy_model(tmp_path / "e2e-upload.gguf")
    page.goto(models_server.url + "/models")
    page.locator(f'tr[data-model="{MODEL_ID}"]').wait_for()
    page.evaluate(WATCH_PROGRESS)
    page.evaluate(
        """() => { const i = document.createElement("input"); i.type = "file";
        i.id = "scratch-file"; i.hidden = true; document.body.appendChild(i); }"""
    )
    page.set_input_files("#scratch-file", str(upload))
    page.evaluate(DROP)

    item = page.get_by_test_id("upload-item").filter(has_text="e2e-upload.gguf")
    item.and_(page.locator('[data-phase="done"]')).wait_for(timeout=60_000)
    assert "Added as e2e-upload" in item.inner_text()
    bar = page.get_by_role("progressbar", name="Upload e2e-upload.gguf")
    assert bar.get_attribute("aria-valuenow") == "100"
    progress = page.evaluate("window.__progress")
    assert progress == sorted(progress), progress  # it only moves forward
    assert any(0 < p < 100 for p in progress), progress  # and it moved while bytes were sent
    page.locator("[data-sonner-toast]").filter(has_text="Uploaded e2e-upload").wait_for()

    row = page.locator('tr[data-model="e2e-upload"]')
    row.wait_for()  # the list refreshed by itself
    assert "llama" in row.inner_text() and "On disk" in row.inner_text()
    page.get_by_role("button", name="Load e2e-upload").click()
    row.get_by_test_id("model-state").filter(has_text="Loaded").wait_for(timeout=60_000)
    loaded = httpx.get(models_server.url + "/admin/models").json()["loaded"]
    assert "e2e-upload" in [m["name"] for m in loaded]
    screenshot(page, "models")

    page.goto(models_server.url + "/chat")
    page.get_by_label("Model").filter(has_text="e2e-upload").wait_for()
    page.get_by_label("Model").select_option("e2e-upload")
    page.get_by_label("Max tokens").fill("8")
    box = page.get_by_label("Message", exact=True)
    box.fill("Say hello.")
    box.press("Enter")
    page.get_by_role("button", name="Send").wait_for(timeout=90_000)  # back from Stop
    answer = page.locator('article[data-role="assistant"]').last.inner_text()
    assert answer.strip()


def test_a_corrupt_upload_shows_the_servers_message(models_server, page, tmp_path) -> None:
    broken = corrupt_header(tmp_path / "broken.gguf")
    # What the server says about this file, asked directly: the toast must carry it.
    with broken.open("rb") as fh:
        direct = httpx.post(models_server.url + "/admin/models", files={"file": fh})
    assert direct.status_code == 400
    message = direct.json()["error"]["message"]
    assert message

    page.goto(models_server.url + "/models")
    page.locator(f'tr[data-model="{MODEL_ID}"]').wait_for()
    page.get_by_label("Model file to upload").set_input_files(str(broken))
    toast = page.locator("[data-sonner-toast]").filter(has_text=message)
    toast.wait_for()
    assert "broken.gguf" in toast.inner_text()
    item = page.get_by_test_id("upload-item").filter(has_text="broken.gguf")
    assert item.get_attribute("data-phase") == "error"
    assert page.locator('tr[data-model="broken"]').count() == 0

    notes = tmp_path / "notes.txt"
    notes.write_text("not a model")
    page.get_by_label("Model file to upload").set_input_files(str(notes))
    page.locator("[data-sonner-toast]").filter(
        has_text="the upload must be a .gguf file"
    ).wait_for()


def test_pull_shows_progress_cancel_stops_it_and_a_new_pull_finishes(models_server, hub, page):
    page.goto(models_server.url + "/models")
    page.locator(f'tr[data-model="{MODEL_ID}"]').wait_for()
    bar = page.get_by_role("progressbar", name="Pull progress")
    hub.throttle = 4_000_000  # ~25 s for the whole file: time to see it move and cancel
    dropped = hub.dropped
    try:
        page.get_by_label("Hugging Face model").fill("acme/tiny-GGUF")
        page.get_by_role("button", name="Pull", exact=True).click()
        page.wait_for_function(
            """() => Number(document.querySelector('[aria-label="Pull progress"]')
                ?.getAttribute("aria-valuenow")) > 0"""
        )
        page.get_by_text("downloading").wait_for()
        page.get_by_role("button", name="Cancel").click()
        page.get_by_text("cancelled").wait_for()
        page.get_by_role("button", name="Pull", exact=True).wait_for()
        deadline = time.monotonic() + 10  # the server stops the download when the client leaves
        while hub.dropped == dropped and time.monotonic() < deadline:
            time.sleep(0.1)
        assert hub.dropped == dropped + 1
    finally:
        hub.throttle = None

    page.get_by_role("button", name="Pull", exact=True).click()
    page.locator("[data-sonner-toast]").filter(has_text="Pulled tiny-Q4_1").wait_for(timeout=90_000)
    assert bar.get_attribute("aria-valuenow") == "100"
    assert hub.ranges[-1].startswith("bytes=") and hub.ranges[-1] != "bytes=0-"  # resumed
    page.locator('tr[data-model="tiny-Q4_1"]').wait_for()  # the list refreshed by itself

    page.get_by_role("button", name="Delete tiny-Q4_1").click()
    dialog = page.get_by_role("alertdialog", name="Delete tiny-Q4_1?")
    dialog.get_by_role("button", name="Delete").click()
    page.locator("[data-sonner-toast]").filter(has_text="Deleted tiny-Q4_1").wait_for()
    page.locator('tr[data-model="tiny-Q4_1"]').wait_for(state="detached")


def test_unload_a_model_from_the_models_page(models_server, page, tmp_path) -> None:
    url = models_server.url
    with copy_model(tmp_path / "e2e-unload.gguf").open("rb") as fh:
        r = httpx.post(url + "/admin/models", files={"file": fh}, timeout=60)
    assert r.status_code == 201, r.text + models_server.log()[-3000:]
    r = httpx.post(url + "/admin/models/e2e-unload/load", timeout=60)
    assert r.status_code == 200, r.text

    # Overview lists it with its memory, drawn as a sparkline.
    page.goto(url + "/")
    row = page.locator('tr[data-model="e2e-unload"]')
    row.wait_for()
    loaded = {m["name"]: m for m in httpx.get(url + "/admin/models").json()["loaded"]}
    mib = loaded["e2e-unload"]["memory_bytes"] / 2**20  # the dashboard's formatBytes, in MiB
    shown = f"{mib:.0f} MiB" if mib >= 100 else f"{mib:.1f} MiB"
    assert row.get_by_test_id("model-memory").inner_text() == shown
    chart = row.get_by_role("img", name="Memory of e2e-unload, last two minutes")
    chart.locator("canvas").wait_for()

    page.goto(url + "/models")
    state = page.locator('tr[data-model="e2e-unload"]').get_by_test_id("model-state")
    state.filter(has_text="Loaded").wait_for()
    page.get_by_role("button", name="Unload e2e-unload").click()
    page.locator("[data-sonner-toast]").filter(has_text="Unloaded e2e-unload").wait_for()
    state.wait_for(state="detached")  # back to "On disk", without a reload
    page.locator('tr[data-model="e2e-unload"]').get_by_text("On disk").wait_for()
    page.get_by_role("button", name="Load e2e-unload").wait_for()
    loaded = [m["name"] for m in httpx.get(url + "/admin/models").json()["loaded"]]
    assert "e2e-unload" not in loaded and MODEL_ID in loaded
    # The default model cannot be unloaded from here.
    assert page.get_by_role("button", name=f"Unload {MODEL_ID}").is_disabled()

    page.goto(url + "/")
    page.locator(f'tr[data-model="{MODEL_ID}"]').wait_for()
    assert page.locator('tr[data-model="e2e-unload"]').count() == 0
