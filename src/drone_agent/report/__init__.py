"""Post-flight report (HTML + PNG map) and the demo."""
