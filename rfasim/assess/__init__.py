"""Post-ablation assessment (work in progress)."""
