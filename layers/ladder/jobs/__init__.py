"""Background jobs: the envelope, scheduling and dispatch, the registry of handlers."""
