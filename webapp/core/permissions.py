from rest_framework.permissions import BasePermission
from rest_framework.request import Request


class ActionPermissions(BasePermission):
    """Role check per viewset action: ``view.action_permissions = {"list": ("app.perm",), ...}``.

    An action missing from the table is refused, so a new action cannot ship unprotected.
    Object access (which cohort) is the queryset's job: other cohorts' objects are 404.
    """

    def has_permission(self, request: Request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        perms = getattr(view, "action_permissions", {}).get(getattr(view, "action", None))
        if perms is None:
            return False
        return user.has_perms(perms)


class MethodPermissions(BasePermission):
    """Role check per HTTP method for plain API views: ``view.method_permissions = {"GET": (...)}``.

    A method missing from the table is refused, like an action missing from ActionPermissions.
    """

    def has_permission(self, request: Request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        method = "GET" if request.method == "HEAD" else request.method  # HEAD is a GET without body
        perms = getattr(view, "method_permissions", {}).get(method)
        if perms is None:
            return False
        return user.has_perms(perms)
