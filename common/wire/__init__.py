"""The wire shared by the bus and the agents; it never imports domain code.

- `content`: request and response bodies in EDN or JSON, `Accept` negotiation
- `json`: the JSON view of EDN data
- `middleware`: aiohttp middlewares rendering errors and checking signatures
- `signing`: HMAC request signatures with the cluster secret
- `link`: the notifications on the agent -> bus `/join` WebSocket
- `code`: requests and replies on the `/code` WebSocket
- `announcement`: an agent's zeroconf service name and TXT properties
- `_message`: typed messages <-> EDN maps, shared by `link` and `code`
"""
