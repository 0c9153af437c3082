"""ladder's AWS infrastructure (CDK): one construct per concern, wired in `stage.py`."""
