"""Process supervision and the production topology's service commands."""
