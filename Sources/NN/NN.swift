// NN: see docs/architecture.md
