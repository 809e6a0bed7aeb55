"""Reference data: stores and products (contract 4)."""
