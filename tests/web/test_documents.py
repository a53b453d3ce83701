"""The Documents page and RAG chat end to end: files dropped in a real browser, ingested by the
real server (embedding model, LanceDB), searched, and cited by the real chat model."""

from __future__ import annotations

import base64
import secrets
import time

import httpx
import pytest

from tests.conftest import ServerProcess
from tests.web.conftest import screenshot

FACT = "The Quillan lighthouse keeper feeds exactly seventeen tame otters every morning at dawn."
NOTES = f"""# Quillan Island field notes

## Geography

Quillan Island lies in a cold northern sea, a low granite shelf covered in heather and moss.
Its only harbour faces east, sheltered from the winter gales by a long shingle spit.

## The lighthouse

{FACT} The otters wait on the slipway below the tower and leave as soon as the fish is gone.

## Weather

Fog rolls in most afternoons between May and August; the ferry rarely sails after four.
"""
BREAD = (
    "Sourdough notes. Feed the starter with equal weights of flour and water, keep it warm,\n"
    "and bake when it has doubled. A long cold proof in the fridge gives a more sour loaf.\n"
)
CORRUPT_PDF = b"%PDF-1.4\nthis is not really a pdf\n"
QUESTION = "How many otters does the lighthouse keeper feed?"

# Builds real File objects in the page and drops them on the zone, as a drag from the desktop
# would: dragenter, dragover, drop, all carrying one DataTransfer.
DROP = """(zone, files) => {
  const dt = new DataTransfer();
  for (const f of files) {
    const bytes = Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0));
    dt.items.add(new File([bytes], f.name, { type: f.type }));
  }
  for (const type of ["dragenter", "dragover", "drop"]) {
    zone.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt }));
  }
}"""


def _file(name: str, data: bytes, mime: str) -> dict:
    return {"name": name, "b64": base64.b64encode(data).decode(), "type": mime}


@pytest.fixture(scope="module")
def collection() -> str:
    return "e2e-" + secrets.token_hex(3)


def test_drop_files_ingest_and_search(server: ServerProcess, page, collection) -> None:
    page.goto(server.url + "/documents")
    page.get_by_role("heading", name="Documents", exact=True).wait_for()
    page.get_by_label("New collection name").fill("no/slashes")
    page.get_by_role("button", name="Create", exact=True).click()
    toast = page.locator("[data-sonner-toast]").filter(has_text="a collection name is")
    toast.wait_for()  # the server's own words
    page.get_by_label("New collection name").fill(collection)
    page.get_by_role("button", name="Create", exact=True).click()
    page.get_by_role("heading", name=collection).wait_for()

    files = [
        _file("quillan.md", NOTES.encode(), "text/markdown"),
        _file("bread.txt", BREAD.encode(), "text/plain"),
        _file("scan.pdf", CORRUPT_PDF, "application/pdf"),
    ]
    page.get_by_test_id("drop-zone").evaluate(DROP, files)
    batch = page.get_by_test_id("ingest-batch").first
    batch.and_(page.locator('[data-stage="done"]')).wait_for(timeout=120_000)

    rows = batch.get_by_test_id("ingest-file")
    assert rows.count() == 3
    phases = {
        rows.nth(i).locator("span[title]").inner_text(): rows.nth(i).get_attribute("data-phase")
        for i in range(3)
    }
    assert phases == {"quillan.md": "indexed", "bread.txt": "indexed", "scan.pdf": "error"}
    bad = rows.filter(has_text="scan.pdf")
    assert bad.get_by_role("status").inner_text().strip()  # its own reason, next to it
    assert "error" not in rows.filter(has_text="quillan.md").inner_text()

    listing = page.get_by_test_id("document-list")
    listing.get_by_role("listitem").filter(has_text="quillan.md").wait_for()
    listing.get_by_role("listitem").filter(has_text="bread.txt").wait_for()
    assert listing.get_by_role("listitem").filter(has_text="scan.pdf").count() == 0
    screenshot(page, "documents")

    page.get_by_role("tab", name="Search").click()
    page.get_by_label("Search query").fill(QUESTION)
    page.get_by_role("button", name="Search", exact=True).click()
    first = page.get_by_test_id("search-hit").first
    first.wait_for()
    assert "quillan.md" in first.inner_text()
    text = first.get_by_test_id("hit-text")
    assert "seventeen tame otters" in text.inner_text()
    marks = [m.lower() for m in text.locator("mark").all_inner_texts()]
    assert "otters" in marks and "lighthouse" in marks
    screenshot(page, "documents-search")


def test_rag_chat_cites_and_opens_the_passage(server: ServerProcess, page, collection) -> None:
    page.goto(server.url + "/chat")
    page.get_by_role("checkbox", name=collection).check()  # made by the test above
    page.get_by_label("Max tokens").fill("24")
    box = page.get_by_label("Message", exact=True)
    box.fill(QUESTION)
    box.press("Enter")
    sources = page.locator('article[data-role="assistant"]').last.get_by_role(
        "list", name="Sources"
    )
    first = sources.get_by_role("button").first
    first.wait_for(timeout=60_000)
    assert "quillan.md" in first.inner_text()
    page.get_by_role("button", name="Send").wait_for(timeout=90_000)  # the answer finished
    first.click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    assert "quillan.md" in dialog.get_by_role("heading").inner_text()
    assert FACT in dialog.get_by_test_id("passage-text").inner_text()
    screenshot(page, "chat-citation")
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")


def test_delete_a_document_then_the_collection(server: ServerProcess, page) -> None:
    name = "e2e-del-" + secrets.token_hex(3)
    api = server.url + "/v1/rag"
    assert httpx.post(api + "/collections", json={"name": name}).status_code == 201
    files = [("files", ("keep.txt", BREAD.encode())), ("files", ("drop.md", NOTES.encode()))]
    assert httpx.post(f"{api}/upload/{name}", files=files, timeout=60).status_code == 202
    deadline = time.monotonic() + 120
    while len(httpx.get(f"{api}/collections/{name}/documents").json()["data"]) < 2:
        assert time.monotonic() < deadline, "the upload was never indexed"
        time.sleep(0.25)

    page.goto(f"{server.url}/documents?c={name}")
    listing = page.get_by_test_id("document-list")
    listing.get_by_role("listitem").filter(has_text="drop.md").wait_for()
    page.get_by_role("button", name="Delete drop.md").click()
    dialog = page.get_by_role("dialog", name="Delete drop.md?")
    assert "chunks leave the index" in dialog.inner_text()
    dialog.get_by_role("button", name="Delete document").click()
    page.locator("[data-sonner-toast]").filter(has_text="drop.md deleted").wait_for()
    listing.get_by_role("listitem").filter(has_text="drop.md").wait_for(state="detached")
    listing.get_by_role("listitem").filter(has_text="keep.txt").wait_for()
    page.get_by_role("heading", name="Documents (1)").wait_for()  # the count refreshed too
    docs = httpx.get(f"{api}/collections/{name}/documents").json()["data"]
    assert [d["source"].rsplit("/", 1)[-1] for d in docs] == ["keep.txt"]

    collections = page.get_by_role("list", name="Collections")
    page.get_by_role("button", name=f"Delete collection {name}").click()
    dialog = page.get_by_role("dialog", name=f"Delete collection {name}?")
    assert "1 document and" in dialog.inner_text()
    dialog.get_by_role("button", name="Delete collection").click()
    page.locator("[data-sonner-toast]").filter(has_text=f"Collection {name} deleted").wait_for()
    collections.get_by_role("listitem").filter(has_text=name).wait_for(state="detached")
    assert f"c={name}" not in page.url  # the page no longer points at it
    names = [c["name"] for c in httpx.get(api + "/collections").json()["data"]]
    assert name not in names
