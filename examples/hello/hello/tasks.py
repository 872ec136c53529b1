"""Tasks are plain functions: job parameters arrive as keyword arguments, and
`ctx`, when the signature asks for it, writes to the execution's log."""

import logging

log = logging.getLogger(__name__)


def greet(name="world", ctx=None):
    if ctx is not None:
        ctx.log(f"greeting {name}")
    else:  # called outside jobstreamer, e.g. from a test
        log.info("greeting %s", name)
    return {"greeting": f"hello, {name}"}
