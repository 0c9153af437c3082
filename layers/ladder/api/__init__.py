"""The HTTP API: FastAPI app factory, routers, problem+json errors."""
