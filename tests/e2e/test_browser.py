"""A real browser on the live leaderboard page, through a stream-service restart.

Needs Debian's Chromium (/usr/bin/chromium). Without it the test skips with
its reason, unless LADDER_REQUIRE_BROWSER=1 (set by .ci/run) makes that a failure.
"""

import os
import random
import shutil
import signal
import threading
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from uuid import uuid4

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


def test_you_see_your_rank_neighbours_and_rating_history_live(
    settings, api_server, resources, tmp_path
):
    """A player picked by handle: rank, percentile and neighbours as the server ranks
    them, updated live; the chart marks season starts and a voided match. The
    screenshot is kept for a person to look at (LADDER_SCREENSHOTS, or the test's
    temporary directory)."""
    require_browser()
    from playwright.sync_api import expect

    from ladder import commands

    api = httpx.Client(base_url=api_server, headers=bearer("ladder:write", "ladder:admin"))
    now = datetime.now(UTC).replace(microsecond=0)
    anchor = now - timedelta(days=3)
    seasons = {"every": "P1D", "anchor": anchor.isoformat(), "grace_seconds": 4 * 86400}
    created = api.post("/v1/ladders", json={"slug": "duel", "name": "Duel", "seasons": seasons})
    assert created.status_code == 201, created.text
    handles = ["you_me", "you_ann", "you_bob", "you_cyd", "you_dee"]
    ids = {
        h: api.post("/v1/players", json={"handle": h, "display_name": h}).json()["id"]
        for h in handles
    }
    rng = random.Random(4)
    played = []

    def match(a: str, b: str, score: float, at: datetime | None = None) -> str:
        body = {"player_a": ids[a], "player_b": ids[b], "score_a": score, "ladder": "duel"}
        if at is not None:
            body["played_at"] = at.isoformat()
        response = api.post("/v1/matches", json=body, headers={"Idempotency-Key": str(uuid4())})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    for n in range(24):  # three days of matches, one of them voided later
        at = anchor + timedelta(minutes=10 + n * 170)
        played.append(match("you_me", handles[1 + n % 4], rng.choice([1, 1, 0.5, 0]), at))
    match("you_ann", "you_bob", 1)
    match("you_cyd", "you_dee", 1)
    job = api.post(f"/v1/matches/{played[9]}/void").json()["job_id"]
    commands.run_job_here(resources, job)
    for jobs in resources.db.run(  # the season resets the schedule asked for, if any
        lambda conn: conn.execute("SELECT id FROM jobs WHERE status = 'queued'").fetchall()
    ):
        commands.run_job_here(resources, jobs["id"])

    stream = StreamServer(settings, LADDER_PUBLIC_API_URL=api_server).start()
    try:
        with live_page(f"{stream.url}/?ladder=duel&you=you_me") as page:
            page.set_viewport_size({"width": 1100, "height": 900})
            standing = api.get(f"/v1/ladders/duel/players/{ids['you_me']}").json()
            you = page.locator("#you-standing")
            expect(you).to_have_attribute("data-rank", str(standing["rank"]))
            expect(you).to_contain_text(f"ahead of {standing['percentile']:.1f}%")
            around = api.get(f"/v1/ladders/duel/leaderboard?around={ids['you_me']}&limit=5")
            names = [row["handle"] for row in around.json()["items"]]
            expect(page.locator("#you-neighbours td:nth-child(2)")).to_have_text(names)
            expect(page.locator("#you-neighbours tr.me td:nth-child(2)")).to_have_text("you_me")
            chart = page.locator("#you-chart")
            expect(chart).to_have_attribute("data-points", "23")  # 24 played, one voided
            expect(chart).to_have_attribute("data-voided", "1")
            expect(page.locator("#you-chart .season")).to_have_count(2)  # seasons 2 and 3 start
            shots = os.environ.get("LADDER_SCREENSHOTS") or str(tmp_path)
            os.makedirs(shots, exist_ok=True)
            page.locator("#you").screenshot(path=os.path.join(shots, "live-page-you.png"))

            # Live: you lose four in a row; the panel follows without a reload.
            for _ in range(4):
                match("you_ann", "you_me", 1)
            moved = api.get(f"/v1/ladders/duel/players/{ids['you_me']}").json()
            expect(you).to_contain_text(f"{moved['rating']:.1f} (peak")
            expect(you).to_have_attribute("data-rank", str(moved["rank"]))
            expect(chart).to_have_attribute("data-points", "27")
            around = api.get(f"/v1/ladders/duel/leaderboard?around={ids['you_me']}&limit=5")
            names = [row["handle"] for row in around.json()["items"]]
            expect(page.locator("#you-neighbours td:nth-child(2)")).to_have_text(names)
    finally:
        stream.stop()
