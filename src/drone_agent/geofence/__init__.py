"""Zones, CAA limits profile, compiled fence and predictive breach maths (pure core)."""
