"""Card disputes: opening, the chargeback stages, evidence, the card processor, adjustments."""
