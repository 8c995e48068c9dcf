"""Documentation helpers shared by views."""
