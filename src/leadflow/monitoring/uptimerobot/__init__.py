"""UptimeRobot API v2: the client, `monitoring setup` (idempotent) and `monitoring status`."""
