"""Notifications: the outbox, the in-app inbox, WeChat subscribe messages and their grants."""
