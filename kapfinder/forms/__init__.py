"""WTForms classes, one module per audience."""
