"""Hot/cold retention: finished, old jobs, sealed audit entries and old ledger lines leave Redis for durable files."""
