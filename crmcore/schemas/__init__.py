"""marshmallow schemas: how input is validated and records are presented."""
