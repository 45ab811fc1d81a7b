"""Certificates, roles, signatures and the audit chain: the rules every side of the exchange checks."""
