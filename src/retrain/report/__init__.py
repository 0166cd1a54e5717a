"""The HTML report with plots, and the terminal tables."""
