"""The test harness: what only the tests and the benchmarks use, importable by both.

``cluster`` (a stack of one or more nats-server nodes whose processes can be killed),
``processes`` (CPU seconds), ``waiting`` (the one poller and the one event reader),
``coqui_models`` (tiny random-weight Coqui models), ``whisper`` (what a listener hears) and
``corpus`` (the real books the corpus test and the benchmarks read). The product never imports
it (an import-linter contract in pyproject.toml).
"""
