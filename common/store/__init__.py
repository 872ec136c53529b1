"""The datom store: DataScript semantics, append-only, every past state queryable."""
