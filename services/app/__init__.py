"""What a person runs: the CLI, its commands, the embedded stack, progress and the sample book."""
