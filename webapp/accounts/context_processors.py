from django.conf import settings
from django.http import HttpRequest

from webapp.accounts.services import user_role


def role(request: HttpRequest) -> dict:
    """The signed-in user's role and the idle timeout, for the page header and login page."""
    return {
        "role": user_role(getattr(request, "user", None)),
        "session_idle_hours": round(settings.SESSION_COOKIE_AGE / 3600, 1),
    }
