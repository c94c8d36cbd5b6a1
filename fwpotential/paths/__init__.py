"""Grid-free large deviations in any dimension: minimum action paths, minima, saddles, quenches."""
