"""API tokens moved to django-rest-knox (digests only, with an expiry). The old table of DRF's
authtoken app held every token in clear: it is dropped, so no copy of a token stays at rest.
Users ask for a new token (POST /api/auth/token/)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_audit_chain"), ("knox", "0009_extend_authtoken_field")]

    operations = [migrations.RunSQL("DROP TABLE IF EXISTS authtoken_token", migrations.RunSQL.noop)]
