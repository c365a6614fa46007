"""The REST API: routers, schema and docs, and what every endpoint shares (auth, permissions,
pagination, error mapping). Each domain app owns its serializers and views."""
