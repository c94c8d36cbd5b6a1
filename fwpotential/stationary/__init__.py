"""Stationary laws without sampling: Fokker–Planck and the exact finite-step chain."""
