"""`async def` tests in this suite run on a fresh event loop each, as in tests/wire."""

from tests.wire.conftest import pytest_pyfunc_call  # noqa: F401 - a pytest hook, found by name
