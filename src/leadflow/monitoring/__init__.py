"""Monitoring: health checks, Prometheus metrics, UptimeRobot set-up and alerts, and the
frontend integration check."""
