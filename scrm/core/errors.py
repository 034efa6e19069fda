"""Errors that services raise and every interface (API, admin, sidebar, tasks) reports the same way."""

from django.utils.translation import gettext_lazy as _

SERVER_ERROR_MESSAGE = _("An unexpected error occurred. It has been logged; quote the request id when you report it.")


class DomainError(Exception):
    """A business rule refused the operation. ``code`` is stable for clients; ``message`` is for people."""

    code = "domain_error"
    status_code = 400
    default_message = _("The operation was refused.")

    def __init__(self, message=None, *, code: str | None = None, field: str | None = None):
        self.message = message or self.default_message
        if code:
            self.code = code
        self.field = field
        super().__init__(str(self.message))


class NotFound(DomainError):
    code = "not_found"
    status_code = 404
    default_message = _("Not found.")


class Conflict(DomainError):
    code = "conflict"
    status_code = 409
    default_message = _("The operation conflicts with the current state.")
