"""Marketing spend per month, channel and campaign, and what it returned (docs/spend.md)."""
