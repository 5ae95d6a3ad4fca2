"""The pipeline's services (parse, tts, assemble), their NATS adapters and the CLI."""
