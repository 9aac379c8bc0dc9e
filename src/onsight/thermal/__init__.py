"""Thermal: radiometric formats and elevated-skin-temperature screening."""
