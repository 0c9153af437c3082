"""The FastAPI application, shared by the Lambda handler and the local server."""

from __future__ import annotations

from fastapi import FastAPI

from ladder.api.body_limit import BodyLimit
from ladder.api.cors import ProblemCORS
from ladder.api.problems import install_problem_handlers
from ladder.api.routers import admin, health, ladders, leaderboard, matches, players
from ladder.api.telemetry import RequestMetrics
from ladder.resources import Resources
from ladder.settings import get_settings


def create_app(resources: Resources | None = None) -> FastAPI:
    """Build the app; `resources` default to the process's, created from settings."""
    app = FastAPI(
        title="ladder",
        version="1.0.0",
        description="Elo-rated competitive play: players, matches, ratings, leaderboard.",
    )
    app.state.resources = resources or Resources.from_settings(get_settings())
    # Browsers (the live leaderboard page) read the public GET endpoints.
    app.add_middleware(
        ProblemCORS,
        allow_origins=app.state.resources.settings.cors_origins.split(","),
        allow_methods=["GET"],
    )
    install_problem_handlers(app)
    if app.state.resources.settings.request_metrics:
        app.add_middleware(RequestMetrics)
    app.add_middleware(BodyLimit)  # added last: the outermost, before anything reads
    for module in (health, players, matches, ladders, leaderboard, admin):
        app.include_router(module.router)
    return app
