"""Every write of the integrations app: alerts in (ingest), integrations and their secrets
(integrations), and outgoing webhooks (outgoing)."""
