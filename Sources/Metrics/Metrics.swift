// Metrics: see docs/architecture.md
