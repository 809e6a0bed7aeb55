"""Checkout: quote, confirm, return and cancel (contract 7)."""
