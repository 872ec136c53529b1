"""`python -m jobstreamer.common.cli`: how `jobstreamer up` starts its children."""

from .main import main

main()
