"""SQLModel tables (`models.tables` registers them all) and typed values passed between layers."""
