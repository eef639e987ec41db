"""What each key keeps: its tenant, the registry of tenants, the journal, snapshots, and the
stores that persist them."""
