"""The Textual dashboard: a read-only projection of the bus; actions are commands on the bus."""
