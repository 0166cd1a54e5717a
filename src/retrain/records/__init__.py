"""What the system remembers: the ledger, the model card, the status view."""
