"""Reports from the daemon's records: TCA, best execution, the audit trail."""
