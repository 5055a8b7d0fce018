"""Data sources that turn providers' answers into canonical records (no DB, no rules)."""
