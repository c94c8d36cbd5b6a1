"""Where the dynamics live: grids, attractors, equilibria and the deterministic flow."""
