"""The dashboard's modal screens: a yes/no question, a book's path, the help."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

__all__ = ["Confirm", "Help", "Submit"]


class Confirm(ModalScreen[bool]):
    """Ask before doing something that cannot be undone."""

    BINDINGS: ClassVar = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.question)
            yield Label("[b]y[/b] yes   [b]n[/b] no")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class Submit(ModalScreen[str]):
    """Ask for the path of a book to convert (its voice is chosen by its language)."""

    BINDINGS: ClassVar = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Book to convert (EPUB path on this machine; enter to submit, escape to cancel):")
            yield Input(placeholder="~/books/mybook.epub", id="book-path")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss("")


class Help(ModalScreen[None]):
    BINDINGS: ClassVar = [Binding("escape,question_mark,q", "app.pop_screen", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("[b]audiobook dashboard[/b]\n\n"
                        "tab / shift+tab   next / previous table\n"
                        "up / down         choose a job (its chapters show below) or a worker\n"
                        "s                 submit a book (a path on this machine)\n"
                        "r                 resume the chosen job: retry its failed segments, continue a cancel\n"
                        "c                 cancel the chosen job (asks first)\n"
                        "p                 pause the chosen job (its queue waits), or unpause it\n"
                        "P                 pause all synthesis (asks first), or unpause it\n"
                        "d                 drain the chosen tts worker (asks first)\n"
                        "1 2 3             jobs, workers, queue\n"
                        "?                 this help      q  quit")
