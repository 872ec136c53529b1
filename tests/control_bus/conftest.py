"""`async def` tests in this folder run on a fresh event loop each, as in tests/wire."""

from tests.wire.conftest import pytest_pyfunc_call

__all__ = ["pytest_pyfunc_call"]
