"""ladder: Elo-rated competitive play, the shared library of every entry point."""
