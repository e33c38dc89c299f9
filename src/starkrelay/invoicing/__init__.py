"""The invoice campaign: random payers, slot arithmetic, exactly-once batch issuance, schedule."""
