"""The project's tests use the testing kit it ships (crmcore.testing, loaded as a
pytest plugin through its pytest11 entry point)."""
