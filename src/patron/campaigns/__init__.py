"""Campaigns: definitions, eligibility, and the optimizer that finds the best deal (contract 8)."""
