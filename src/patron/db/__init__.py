"""The database: embedded or external PostgreSQL, migrations, connection pools."""
