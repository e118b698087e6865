// Data: see docs/architecture.md
