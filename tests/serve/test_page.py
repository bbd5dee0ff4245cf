"""The page in a real browser (headless Chromium through Playwright): draw a digit with the mouse and
see a predicted class; type a prompt and see text stream in. A screenshot is kept under the test's
tmp folder (its path is printed)."""
import shutil
import socket
import threading
import time

import pytest

pytest.importorskip("fastapi", reason="fromzero serve needs the serve extra: pip install 'fromzero[serve]'")
playwright = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright (the dev extra)")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on the PATH (apt-get install -y chromium; "
                                                         "Playwright cannot download its own browser offline)")


@pytest.fixture(scope="module")
def server(mnist_run, gpt_run):
    import uvicorn

    from fromzero.recipes.configs import ServeConfig
    from fromzero.serve.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app([mnist_run, gpt_run], ServeConfig(port=port, max_new_tokens=64))
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(200):   # until it listens (not a timing assertion: a wait for readiness)
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def test_draw_a_digit_and_stream_text(server, tmp_path):
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1000, "height": 900})
        page.goto(server + "/")
        page.wait_for_selector("body[data-ready='1']", timeout=20_000)
        assert page.is_visible("#panel-predict") and page.is_visible("#panel-generate")
        assert not page.is_visible("#panel-classify") and not page.is_visible("#panel-forecast")

        box = page.locator("#digit").bounding_box()
        x, y = box["x"], box["y"]
        page.mouse.move(x + 80, y + 60)        # a 7: the top bar, then the stroke down
        page.mouse.down()
        for px, py in [(140, 60), (200, 60), (180, 120), (160, 180), (140, 240)]:
            page.mouse.move(x + px, y + py, steps=4)
        page.mouse.up()
        page.wait_for_selector("#digit-top li", timeout=20_000)
        first = page.locator("#digit-top li").first.inner_text()
        assert first.split()[0] in [str(d) for d in range(10)] and "%" in first

        page.fill("#prompt", "the ")
        page.fill("#max-tokens", "40")
        page.click("#generate-btn")
        page.wait_for_function("document.getElementById('generate-out').textContent.length > 'the '.length",
                               timeout=20_000)
        assert page.locator("#generate-out").inner_text().startswith("the ")
        assert page.locator("#error").inner_text() == ""
        shot = tmp_path / "serve-page.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert shot.stat().st_size > 0
    print(f"screenshot: {shot}")
