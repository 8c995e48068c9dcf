"""Views flask-ligand adds to every service."""
