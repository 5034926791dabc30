"""Image → shape from the geometry in the views: the visual hull (no learning), and methods that read
the views where a point projects rather than through one global code."""
