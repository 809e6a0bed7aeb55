"""Program settings: one loyalty program per tenant (contract 3)."""
