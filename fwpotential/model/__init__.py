"""The model layer: safe expressions, losses, noise laws and the dynamics they make (b, a, H, L)."""
