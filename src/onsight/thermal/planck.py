"""Radiometric frames and their conversion to °C.

Raw sensor counts to temperature: the FLIR Planck model with object-signal corrections.

The camera measures a signal that mixes the object's own radiation with radiation reflected
by it (emissivity < 1), emitted by the air in between (transmission < 1) and by an external IR
window. `raw_to_celsius` removes those terms, then inverts Planck's law with the camera's
calibration constants. This is the standard FLIR formula (as published in Thermimage's
`raw2temp`), written here from the equations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

U16Array = npt.NDArray[np.uint16]
CelsiusArray = npt.NDArray[np.float64]

KELVIN = 273.15


@dataclass(frozen=True)
class PlanckParams:
    """Calibration and scene parameters of one radiometric frame. Temperatures in kelvin."""

    r1: float
    r2: float  # R2 may be 1 with a huge R1 (another normalisation): never assume R2 << 1
    b: float
    f: float
    o: float
    emissivity: float = 1.0
    object_distance_m: float = 0.0
    reflected_k: float = 20.0 + KELVIN
    atmosphere_k: float = 20.0 + KELVIN
    ir_window_k: float = 20.0 + KELVIN
    ir_window_transmission: float = 1.0
    relative_humidity: float = 0.5  # a fraction, 0-1 (not percent)
    alpha1: float = 0.006569
    alpha2: float = 0.012620
    beta1: float = -0.002276
    beta2: float = -0.006670
    x: float = 1.9

    def radiance(self, kelvin: float) -> float:
        """Raw counts a black body at `kelvin` would produce."""
        return float(self.r1 / (self.r2 * (np.exp(self.b / kelvin) - self.f)) - self.o)

    def transmission(self) -> float:
        """Atmospheric transmission over half the object distance (applied twice, see below)."""
        t_c = self.atmosphere_k - KELVIN
        # Water vapour content from humidity and air temperature (FLIR's empirical fit).
        h2o = self.relative_humidity * np.exp(
            1.5587 + 0.06939 * t_c - 0.00027816 * t_c**2 + 0.00000068455 * t_c**3
        )
        path = -np.sqrt(self.object_distance_m / 2.0)
        sqrt_h2o = np.sqrt(h2o)
        return float(
            self.x * np.exp(path * (self.alpha1 + self.beta1 * sqrt_h2o))
            + (1.0 - self.x) * np.exp(path * (self.alpha2 + self.beta2 * sqrt_h2o))
        )


def raw_to_celsius(raw: npt.ArrayLike, p: PlanckParams) -> CelsiusArray:
    """Object temperature in °C for raw counts; NaN where the signal is not physical.

    The path camera <- window <- atmosphere(2) <- atmosphere(1) <- object is modelled with the
    distance split in two halves around the IR window, each with transmission `tau`.
    """
    e, tw = p.emissivity, p.ir_window_transmission
    tau = p.transmission()
    reflected = (1.0 - e) / e * p.radiance(p.reflected_k)
    atmosphere_1 = (1.0 - tau) / e / tau * p.radiance(p.atmosphere_k)
    window = (1.0 - tw) / e / tau / tw * p.radiance(p.ir_window_k)
    # The window's own reflection is taken as zero, as FLIR does.
    atmosphere_2 = (1.0 - tau) / e / tau / tw / tau * p.radiance(p.atmosphere_k)
    signal = np.asarray(raw, dtype=np.float64) / e / tau / tw / tau
    obj = signal - atmosphere_1 - atmosphere_2 - window - reflected
    with np.errstate(invalid="ignore", divide="ignore"):
        celsius = p.b / np.log(p.r1 / (p.r2 * (obj + p.o)) + p.f) - KELVIN
    return np.asarray(np.where(np.isfinite(celsius), celsius, np.nan), dtype=np.float64)


def tlinear_to_celsius(raw: npt.ArrayLike, resolution_k: float = 0.01) -> CelsiusArray:
    """Radiometric TLinear counts (FLIR Lepton, PureThermal over v4l2) to °C.

    In TLinear mode each 16-bit pixel is the scene temperature in units of `resolution_k`
    kelvin: 0.01 K (the default, "centi-kelvin") or 0.1 K in the low-gain mode.
    """
    return np.asarray(raw, dtype=np.float64) * resolution_k - KELVIN


class RadiometricFrame(Protocol):
    """A frame whose pixels are temperatures once converted: FLIR raw counts or TLinear."""

    @property
    def camera(self) -> str: ...

    @property
    def raw(self) -> U16Array: ...

    def celsius(self) -> CelsiusArray: ...


@dataclass(frozen=True, eq=False)
class _RawFrame:
    """A camera's 16-bit raw frame (H, W)."""

    camera: str
    raw: U16Array

    @property
    def width(self) -> int:
        return int(self.raw.shape[1])

    @property
    def height(self) -> int:
        return int(self.raw.shape[0])


@dataclass(frozen=True, eq=False)
class ThermalImage(_RawFrame):
    """One FLIR radiometric frame: raw counts (H, W) and the parameters to convert them."""

    params: PlanckParams

    def celsius(self) -> CelsiusArray:
        return raw_to_celsius(self.raw, self.params)


@dataclass(frozen=True, eq=False)
class TLinearFrame(_RawFrame):
    """One radiometric TLinear frame (FLIR Lepton / PureThermal): pixels are scaled kelvin."""

    resolution_k: float = 0.01

    def celsius(self) -> CelsiusArray:
        return tlinear_to_celsius(self.raw, self.resolution_k)
