"""Alerts for staff: stored, counted, read, and pushed to their open pages (docs/alerts.md)."""
