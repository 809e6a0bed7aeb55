"""The HTTP API (contract 2 and on): one app factory, routers per area, errors mapped in one place."""
