"""The latent explorer's page in a real browser: headless Chromium (Debian's) driven by Playwright.

Runs where both are installed (`apt-get install chromium`; Playwright is in the test extras); skipped
elsewhere, with the reason."""

import json
import shutil
import threading

import keras
import numpy as np
import pytest
from werkzeug.serving import make_server

from keras_latentquant.explore import HEADLESS_CHROMIUM_ARGS
from keras_latentquant.explore.server import ExplorerModel, create_app
from keras_latentquant.models import build_qlae

CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = list(HEADLESS_CHROMIUM_ARGS)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def served():
    keras.utils.set_random_seed(0)
    model = build_qlae((64, 64, 1), num_latents=4, num_values=[3, 5, 7, 4], architecture="fast", compile=False)
    images = np.random.default_rng(0).uniform(0, 1, (3, 64, 64, 1)).astype("float32")
    explorer = ExplorerModel.from_keras(model, images=images, nmi=np.eye(2, 4) * 0.8, factor_names=["shape", "scale"])
    server = make_server("127.0.0.1", 0, create_app(explorer), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", explorer
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module's tests (each opens its own pages)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (test extras)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _open(browser, url, api_model_route=None, timeout=30_000):
    """A new page on `url` (its `/api/model` requests through `api_model_route`, if given), once it set
    data-ready: "true", or "error" when it cannot start (its requests retry stalls). Returns (page, ready)."""
    page = browser.new_page()
    if api_model_route is not None:
        page.route("**/api/model", api_model_route)
    page.goto(url)
    page.wait_for_selector("body[data-ready]", state="attached", timeout=timeout)
    return page, page.get_attribute("body", "data-ready")


def test_moving_a_slider_decodes_the_new_codes(served, browser, tmp_path):
    url, explorer = served
    requests, seen = [], []  # seen: what the page saw, for the failure message
    page = browser.new_page()
    page.on("request", lambda r: requests.append(json.loads(r.post_data)) if r.method == "POST" else None)
    page.on("console", lambda message: seen.append(f"console {message.type}: {message.text}"))
    page.on("pageerror", lambda error: seen.append(f"page error: {error}"))
    page.on("requestfailed", lambda r: seen.append(f"request failed: {r.method} {r.url}: {r.failure}"))
    page.on("crash", lambda _: seen.append("the page's renderer crashed"))
    page.goto(url)
    page.wait_for_selector("body[data-ready]", state="attached", timeout=90_000)
    ready = page.get_attribute("body", "data-ready")
    assert ready == "true", f"the page did not start: {page.inner_text('#error')!r}; it saw {seen}"
    page.wait_for_function("document.getElementById('image').dataset.updates === '1'")
    start = json.loads(page.get_attribute("#image", "data-latents"))
    assert start == explorer.samples[0].tolist()  # the first dataset image's codes
    before = page.evaluate("document.getElementById('image').toDataURL()")
    labels = page.locator("#sliders .factor").all_inner_texts()
    assert labels[:2] == ["shape (NMI 0.80)", "scale (NMI 0.80)"]

    # Move latent 2's slider to its last value (index 6 of 7) with the keyboard, as a user would.
    slider = page.locator("#latent-2")
    slider.focus()
    page.keyboard.press("End")
    page.wait_for_function("JSON.parse(document.getElementById('image').dataset.latents || '[]')[2] === 6")
    expected = list(start)
    expected[2] = 6
    assert {"instances": [expected]} in requests
    after = page.evaluate("document.getElementById('image').toDataURL()")
    assert after != before
    assert page.inner_text("#error") == ""

    # The traversal strip of the latent under the pointer: one image per value of latent 1 (5 values).
    page.hover("#latent-1")
    page.wait_for_function("document.getElementById('strip').width === 5 * 64")
    page.screenshot(path=str(tmp_path / "explorer.png"), full_page=True)
    page.close()
    assert (tmp_path / "explorer.png").stat().st_size > 5000


def test_a_dropped_request_is_retried_and_a_dead_server_is_reported(served, browser):
    url, _ = served

    # The first request for the model's description fails at the network level; the page asks again.
    attempts = []

    def drop_first(route):
        attempts.append(route.request.url)
        route.abort("connectionreset") if len(attempts) == 1 else route.continue_()

    page, ready = _open(browser, url, drop_first)
    assert ready == "true"
    assert len(attempts) == 2
    page.wait_for_function("document.getElementById('image').dataset.updates === '1'")
    assert page.inner_text("#error") == ""

    # Every attempt fails: the page says so, and how to check, instead of waiting forever.
    page, ready = _open(browser, url, lambda route: route.abort("connectionrefused"))
    assert ready == "error"
    message = page.inner_text("#error")
    assert message.startswith("Could not start the explorer:"), message
    assert "(3 attempts); is the explorer server still running?" in message

    # An HTTP error whose body is a proxy's HTML page: reported by its status at once, not retried.
    answered = []

    def bad_gateway(route):
        answered.append(route.request.url)
        route.fulfill(status=502, content_type="text/html", body="<html>Bad Gateway</html>")

    page, ready = _open(browser, url, bad_gateway)
    assert ready == "error"
    assert page.inner_text("#error") == "Could not start the explorer: HTTP 502" and len(answered) == 1
