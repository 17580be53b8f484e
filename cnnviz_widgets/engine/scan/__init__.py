"""Scans of a whole dataset through a network: top patches per unit, feature vectors and predictions."""
