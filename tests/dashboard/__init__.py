"""Tests of the dashboard pages (server side with the ASGI client; browser tests with Chromium)."""
