"""Helpers more than one test module uses (fixtures are in tests/conftest.py; the doubles in tests/doubles/)."""
