"""What every reading child starts with, made once in the fork server (``services.parse.sandbox``):
the readers imported and the language model loaded (a fifth of a second a book otherwise)."""

from services.parse import reading  # noqa: F401  (imported for the children)
from services.parse.language import warm_up

warm_up()
