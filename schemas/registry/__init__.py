"""The enterprise and outlet registry: validated entries, their import, and the file formats."""
