"""The equation language: parsing to an IR, symbolic shapes, typesetting."""
