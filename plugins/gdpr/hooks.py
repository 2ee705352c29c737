"""Hook implementations of the gdpr plugin."""
