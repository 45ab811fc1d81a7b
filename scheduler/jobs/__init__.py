"""Jobs: lifecycle, store, spec rules and the queue policy (fair share, backfill)."""
