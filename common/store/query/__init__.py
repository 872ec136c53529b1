"""Datalog queries over a DbView, following DataScript query*.cljc."""
