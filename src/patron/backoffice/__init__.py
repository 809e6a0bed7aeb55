"""Back office: the outbox and the workers that consume it (tiers, birthdays, communications,
broadcasts, webhooks). See docs/backoffice.md."""
