// Checkpoint: see docs/architecture.md
