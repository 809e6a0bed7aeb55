"""Members: people in the program, found by phone, card or email (contract 5)."""
