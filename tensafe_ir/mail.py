"""The email backend of a setup with no mail server (`make run`): Django's console backend,
printing each message's headers and text part to the worker's log. The HTML part repeats the
same words (incidents.notify.email_compose) and would triple every page in the log."""

from __future__ import annotations

import copy

from django.core.mail.backends.console import EmailBackend as DjangoConsoleBackend


class ConsoleEmailBackend(DjangoConsoleBackend):
    def write_message(self, message):
        text_only = copy.copy(message)
        text_only.alternatives = []
        super().write_message(text_only)
