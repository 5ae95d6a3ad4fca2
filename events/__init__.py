"""Pure contracts of the pipeline: names, event and command types, codec, projection.

This package never imports nats: it is shared by every service, the CLI and the dashboard.
"""
