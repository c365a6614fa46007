from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.http import HttpRequest
from knox.models import AuthToken

from webapp.accounts.admin_audit import AuditedModelAdmin, ReadOnlyAuditedAdmin
from webapp.accounts.models import AuditEvent

User = get_user_model()

# API tokens are credentials: no page lists them, even as digests (revocation is the user's own
# API call, sign-out or a password change).
if admin.site.is_registered(AuthToken):
    admin.site.unregister(AuthToken)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAuditedAdmin):
    """Browse and filter the trail; nobody edits or deletes it."""

    list_display = ("created_at", "actor_username", "action", "object_type", "object_id", "ip_address")
    list_filter = ("action", "object_type")
    search_fields = ("actor_username", "action", "object_type", "object_id")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


admin.site.unregister(User)


@admin.register(User)
class UserAdmin(AuditedModelAdmin, DjangoUserAdmin):
    """Admins manage accounts and roles; nobody raises their own access, and only a superuser
    makes or changes a superuser."""

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += ["is_superuser", "user_permissions"]
        if obj is not None and obj.pk == request.user.pk:
            fields += ["is_staff", "is_active", "is_superuser", "groups", "user_permissions"]
        return sorted(set(fields))

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(AuditedModelAdmin, DjangoGroupAdmin):
    """The role groups are kept equal to roles.py after every migrate: shown, not edited here."""
