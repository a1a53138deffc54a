"""Health endpoints: /health/live (the process answers) and /health/ready (dependencies)."""
