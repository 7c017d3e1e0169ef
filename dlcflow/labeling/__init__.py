"""Frame selection and annotation checks."""
