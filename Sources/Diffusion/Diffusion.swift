// Diffusion: see docs/architecture.md
