"""The speech engines, one module each, behind one interface (:mod:`services.engines.base`).

Each module lists its voices from files alone and loads its model only when asked. The registry
that resolves and chooses over them is :mod:`services.voices`; an engine becomes known there by
one registration line. Nothing here imports NATS, the bus kit or a stage.
"""
