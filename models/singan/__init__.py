"""SinGAN for the deblurring study: a package so that the method's parts stay small.

Only :mod:`models.singan.method` is imported on discovery; torch and the networks load when a
pyramid is first needed.
"""
from restorebench.models.singan.method import SinGAN, SinGANParams

__all__ = ["SinGAN", "SinGANParams"]
