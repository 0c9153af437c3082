"""A real browser on the live leaderboard page, through a stream-service restart.

Needs Debian's Chromium (/usr/bin/chromium). Without it the test skips with
its reason, unless LADDER_REQUIRE_BROWSER=1 (set by .ci/run) makes that a failure.
"""

import os
import shutil
import signal
import threading
from contextlib import contextmanager

import httpx
import pytest
import uvicorn

from ladder.api.app import create_app
from ladder_dev.local_services import free_port
from ladder_dev.streaming import StreamServer
from tests.conftest import bearer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_browser():
    reason = None
    if not os.path.exists(CHROMIUM):
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "playwright is not installed"
    if reason:
        if os.environ.get("LADDER_REQUIRE_BROWSER") == "1":
            pytest.fail(f"LADDER_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)


@contextmanager
def live_page(url: str):
    """Chromium on `url`, once its stream is live."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(url)
            expect(page.locator("body")).to_have_attribute("data-stream", "live")
            yield page
        finally:
            browser.close()


@pytest.fixture
def api_server(resources):
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(resources), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                break
        except httpx.HTTPError:
            threading.Event().wait(0.05)
    yield url
    server.should_exit = True
    thread.join(10)


def test_the_page_shows_matches_live_and_survives_a_stream_restart(settings, api_server):
    require_browser()
    from playwright.sync_api import expect

    writer = bearer("ladder:write")
    api = httpx.Client(base_url=api_server, headers=writer)
    ids = [
        api.post("/v1/players", json={"handle": h, "display_name": h}).json()["id"]
        for h in ("browser_a", "browser_b")
    ]
    recorded = []

    def record(key: str) -> None:
        response = api.post(
            "/v1/matches",
            json={"player_a": ids[0], "player_b": ids[1], "score_a": 1},
            headers={"Idempotency-Key": key},
        )
        assert response.status_code == 201
        recorded.append(response.json()["id"])

    env = {"LADDER_PUBLIC_API_URL": api_server}
    stream = StreamServer(settings, **env).start()
    try:
        with live_page(f"{stream.url}/") as page:
            record("first")
            expect(page.locator(f'li[data-match="{recorded[0]}"]')).to_be_visible()
            expect(page.locator("#board tr")).to_have_count(2)

            stream.stop(signal.SIGTERM)
            expect(page.locator("#banner")).to_be_visible(timeout=20_000)
            record("while-down")  # committed now, published when the service is back

            stream = StreamServer(settings, port=stream.port, **env).start()
            expect(page.locator("#banner")).to_be_hidden(timeout=20_000)
            record("after")
            for match_id in recorded:
                expect(page.locator(f'li[data-match="{match_id}"]')).to_be_attached()
            seen = page.evaluate("window.ladder.board.seenMatches")
            assert seen == recorded  # every match once, in order, none missing
            board = page.locator("#board tr td:nth-child(2)").all_inner_texts()
            assert board == ["browser_a", "browser_b"]
    finally:
        stream.stop()


def test_the_ladder_picker_shows_one_ladder_live(settings, api_server):
    require_browser()
    from playwright.sync_api import expect

    api = httpx.Client(base_url=api_server, headers=bearer("ladder:write", "ladder:admin"))
    assert api.post("/v1/ladders", json={"slug": "arena", "name": "Arena"}).status_code == 201
    ids = [
        api.post("/v1/players", json={"handle": h, "display_name": h}).json()["id"]
        for h in ("pick_a", "pick_b", "pick_c")
    ]

    def record(a: int, b: int, ladder: str, key: str) -> str:
        response = api.post(
            "/v1/matches",
            json={"player_a": ids[a], "player_b": ids[b], "score_a": 1, "ladder": ladder},
            headers={"Idempotency-Key": key},
        )
        assert response.status_code == 201, response.text
        return response.json()["id"]

    record(0, 1, "arena", "arena-1")
    stream = StreamServer(settings, LADDER_PUBLIC_API_URL=api_server).start()
    try:
        with live_page(f"{stream.url}/?ladder=arena") as page:
            expect(page.locator("#ladder option")).to_have_count(2)
            expect(page.locator("#ladder")).to_have_value("arena")
            expect(page.locator("#board tr")).to_have_count(2)

            in_default = record(1, 2, "default", "default-1")  # another ladder: not shown
            in_arena = record(2, 0, "arena", "arena-2")
            expect(page.locator(f'li[data-match="{in_arena}"]')).to_be_visible()
            expect(page.locator("#board tr")).to_have_count(3)
            assert page.locator(f'li[data-match="{in_default}"]').count() == 0
            # A board policy change reaches the page (ladder.updated), as the API ranks.
            changed = api.patch("/v1/ladders/arena", json={"board": {"min_games": 2}})
            assert changed.status_code == 200, changed.text
            expect(page.locator("#board tr td:nth-child(2)")).to_have_text(["pick_a"])

            page.select_option("#ladder", "default")
            expect(page).to_have_url(f"{stream.url}/?ladder=default")
            expect(page.locator("#board tr td:nth-child(2)")).to_have_text(["pick_b", "pick_c"])
    finally:
        stream.stop()
