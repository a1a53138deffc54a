"""Thread → customer matching (issue #4): pure rules, a batched service, and its API."""
