"""Tenants (loyalty program operators) and their API keys (contract 1 and 2)."""
