"""`leadflow check-frontend`: call every endpoint the dashboard and API clients use, check it."""
