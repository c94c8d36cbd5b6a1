"""What the potentials say: landscapes, W-graph energies, weights, prefactors, comparisons."""
