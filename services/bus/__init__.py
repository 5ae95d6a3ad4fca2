"""The stage kit: the only shared code that touches nats-py.

connect (one connect policy) · topology (streams, consumers, buckets) · consume (the one pull
loop and its outcomes) · publish (deterministic message ids, replay, last event) · kv
(expected-revision writes) · jobs (job queries and the live read side) · tracing.
"""
