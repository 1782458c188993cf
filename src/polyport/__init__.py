"""Polyport: one server for mail, calendars, messaging, VoIP and directory (see DESIGN.md)."""

__version__ = "0.1.0"
