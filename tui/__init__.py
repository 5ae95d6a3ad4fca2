"""Textual dashboard (read-only projection of the event log and checkpoints)."""
