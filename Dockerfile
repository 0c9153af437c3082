# The stream service (functions/stream.py) for Fargate, arm64. Built by
# `cdk deploy` from this directory; .dockerignore lets in only what it needs.
FROM public.ecr.aws/docker/library/python:3.14-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY layers/requirements-core.txt layers/requirements-stream.txt layers/
RUN pip install --only-binary=:all: -r layers/requirements-stream.txt
COPY layers/ladder layers/ladder
COPY layers/ladder_stream layers/ladder_stream
COPY functions functions
ENV PYTHONPATH=/app/layers
RUN useradd --system --uid 10001 ladder
USER 10001
EXPOSE 8001
CMD ["uvicorn", "functions.stream:app", "--host", "0.0.0.0", "--port", "8001", \
     "--timeout-graceful-shutdown", "20", "--no-access-log"]
