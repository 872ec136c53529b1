"""The `jobstreamer` command: servers (`control-bus`, `agent`, `up`) and a client for a bus.

`main.py` is the click group and the one place that reads the environment;
`client.py` talks to a bus's REST API; `render.py` prints tables, EDN or JSON.
"""
