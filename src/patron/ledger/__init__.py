"""The points ledger: lots, entries, allocations."""
