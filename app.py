#!/usr/bin/env python3
"""CDK entry point: `cdk deploy --all -c stage=<prod|staging|pr-N>` (see infra/stage.py)."""

from infra.stage import build_app

app, _ = build_app()
app.synth()
