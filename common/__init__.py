"""Code shared by the control bus and the agents: the wire and the store."""
