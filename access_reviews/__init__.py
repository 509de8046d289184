"""Access reviews: every quarter each active role grant is certified or revoked by its role's
owner (or the administrators); grants nobody reviewed by the deadline are suspended."""
