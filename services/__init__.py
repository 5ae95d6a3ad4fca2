"""The pipeline: the three stages (parse, tts, assemble), their bus kit, and the app a person runs."""
