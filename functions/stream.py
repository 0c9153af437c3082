"""The stream service's ASGI app (`uvicorn functions.stream:app`; on Fargate in AWS)."""

from ladder_stream.app import create_stream_app

app = create_stream_app()
