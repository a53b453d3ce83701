"""The dashboard end to end: a real browser, the real server and the real bundled model."""

from __future__ import annotations

import threading

import httpx
import pytest

from tests.conftest import MODEL_ID, ServerProcess
from tests.web.conftest import screenshot

# Records the assistant bubble's text length at every DOM change, to see the answer grow.
WATCH_ANSWER = """() => {
  window.__lengths = [];
  new MutationObserver(() => {
    const a = document.querySelectorAll('article[data-role="assistant"]');
    if (a.length) window.__lengths.push(a[a.length - 1].textContent.length);
  }).observe(document.querySelector("main"), {subtree: true, childList: true, characterData: true});
}"""


def test_chat_round_trip_streams_the_answer(server: ServerProcess, page) -> None:
    page.goto(server.url + "/chat")
    page.get_by_label("Model").filter(has_text=MODEL_ID).wait_for()
    page.get_by_label("Max tokens").fill("48")
    page.evaluate(WATCH_ANSWER)
    box = page.get_by_label("Message", exact=True)
    box.fill("Write a short poem about the sea.")
    box.press("Enter")
    page.locator('article[data-role="user"]').get_by_text("a short poem").wait_for()
    page.get_by_role("button", name="Send").wait_for(timeout=90_000)  # back from Stop
    answer = page.locator('article[data-role="assistant"]').last.inner_text()
    assert len(answer.strip()) > 10
    lengths = page.evaluate("window.__lengths")
    assert len({n for n in lengths if n > 0}) >= 3, lengths  # it grew in steps: streamed
    screenshot(page, "chat")


def test_stop_button_aborts_the_stream(server: ServerProcess, page) -> None:
    page.goto(server.url + "/chat")
    page.get_by_label("Model").filter(has_text=MODEL_ID).wait_for()
    page.get_by_label("Max tokens").fill("2000")
    box = page.get_by_label("Message", exact=True)
    box.fill("Count from one to one thousand in words.")
    box.press("Enter")
    page.get_by_role("button", name="Stop").click()
    page.get_by_role("button", name="Send").wait_for(timeout=5_000)


def test_overview_shows_live_tokens_per_second(server: ServerProcess, browser) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme="dark")
    page = context.new_page()
    stop = threading.Event()

    def chat() -> None:
        body = {
            "model": MODEL_ID,
            "messages": [{"role": "user", "content": "Tell me a long story."}],
            "max_tokens": 64,  # short: new first tokens every few seconds, for the TTFT chart
            "stream": True,
        }
        with httpx.Client(base_url=server.url, timeout=120) as c:
            while not stop.is_set():
                with c.stream("POST", "/v1/chat/completions", json=body) as r:
                    for _ in r.iter_lines():
                        if stop.is_set():
                            break  # leaving frees the slot at the next step

    workers = [threading.Thread(target=chat, daemon=True) for _ in range(2)]
    try:
        page.goto(server.url + "/")
        page.get_by_text("Live ·").wait_for()
        for w in workers:
            w.start()
        page.wait_for_function(
            """() => parseFloat(document.querySelector('output[data-metric="tps"]').textContent) > 0""",
            timeout=30_000,
        )
        # TTFT shows while the streams run (at their first tokens, not when they end).
        page.wait_for_function(
            """() => / ms$/.test(document.querySelector('output[data-metric="ttft"]').textContent)""",
            timeout=30_000,
        )
        row = page.locator(f'tr[data-model="{MODEL_ID}"]')
        assert row.get_by_test_id("model-memory").inner_text().endswith("MiB")
        row.get_by_role("img", name=f"Memory of {MODEL_ID}, last two minutes").wait_for()
        page.wait_for_timeout(6000)  # some history on the sparklines
        screenshot(page, "overview")
    finally:
        stop.set()
        context.close()
        for w in workers:
            w.join(30)


# Any element that scrolls sideways (a truncated label clips instead: overflow hidden).
SIDEWAYS = """() => {
  const doc = document.scrollingElement;
  const bad = doc.scrollWidth > innerWidth ? [`document ${doc.scrollWidth} > ${innerWidth}`] : [];
  for (const el of document.querySelectorAll("main, main *")) {
    const x = getComputedStyle(el).overflowX;
    if ((x === "auto" || x === "scroll") && el.scrollWidth > el.clientWidth + 1)
      bad.push(`${el.tagName.toLowerCase()}.${el.className} ${el.scrollWidth} > ${el.clientWidth}`);
  }
  return bad;
}"""


@pytest.mark.parametrize("width", [1366, 1024])
def test_overview_and_models_fit_laptop_widths(server: ServerProcess, browser, width) -> None:
    context = browser.new_context(viewport={"width": width, "height": 768})
    page = context.new_page()
    try:
        page.goto(server.url + "/")
        page.locator(f'tr[data-model="{MODEL_ID}"]').get_by_test_id("model-memory").wait_for()
        assert page.evaluate(SIDEWAYS) == []
        assert page.evaluate("document.scrollingElement.scrollWidth <= innerWidth")
        page.goto(server.url + "/models")
        page.locator(f'tr[data-model="{MODEL_ID}"]').wait_for()
        assert page.evaluate(SIDEWAYS) == []
        assert page.evaluate("document.scrollingElement.scrollWidth <= innerWidth")
    finally:
        context.close()


def test_pages_render_and_keyboard_navigation(server: ServerProcess, page) -> None:
    page.goto(server.url + "/settings")
    page.get_by_test_id("server-status").filter(has_text="ready").wait_for()
    defaults = page.get_by_test_id("server-defaults")
    defaults.locator('[data-setting="model"]').filter(has_text=MODEL_ID).wait_for()
    assert defaults.locator('[data-setting="host"]').inner_text() == f"127.0.0.1:{server.port}"
    assert "tokens per request" in defaults.locator('[data-setting="ctx"]').inner_text()
    assert defaults.locator('[data-setting="keep_alive"]').inner_text() == "unload after 5m idle"
    # ui-settings.png comes from test_api_keys.py, with a key in the list
    page.keyboard.press("Control+k")
    page.get_by_placeholder("Type a command or a page…").fill("models")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Models").wait_for()
    page.get_by_text(MODEL_ID).first.wait_for()
    # ui-models.png comes from test_models.py, with an uploaded model loaded
    page.keyboard.press("g")
    page.keyboard.press("d")
    page.get_by_role("heading", name="Documents", exact=True).wait_for()
    # ui-documents.png comes from test_documents.py, with files in it


def test_wrong_api_key_shows_the_servers_message(browser) -> None:
    srv = ServerProcess("--api-key", "right-key")
    try:
        srv.wait_ready()
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        try:
            page.goto(srv.url + "/")
            dialog = page.get_by_role("dialog", name="API key required")
            dialog.get_by_label("API key").fill("wrong-key")
            dialog.get_by_role("button", name="Continue").click()
            toast = page.locator("[data-sonner-toast]").filter(has_text="invalid API key")
            toast.wait_for()
            screenshot(page, "api-key-error")
            dialog.get_by_label("API key").fill("right-key")
            dialog.get_by_role("button", name="Continue").click()
            page.get_by_text("Live ·").wait_for()
            assert page.evaluate("sessionStorage.getItem('impetus.apiKey')") == "right-key"
        finally:
            context.close()
    finally:
        srv.stop()
