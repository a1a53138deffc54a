"""UptimeRobot alerts received by web-hook: events, incidents and uptime computed from them."""
