"""What every app of the site uses: errors, permission classes, pagination, the API's error
mapping and query helpers. The core imports no app; every app may import the core."""
