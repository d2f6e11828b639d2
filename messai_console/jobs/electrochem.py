"""The performance figures of a bioelectrochemical experiment, from its measurements.

Power P = V·I; power density per projected anode area (mW/m²) and per
reactor volume (W/m³); current density I/A (A/m²); charge Q = ∫I dt and
energy ∫P dt by the trapezoidal rule; coulombic efficiency

    CE = M·Q / (F·b·V·ΔCOD)

with M = 32 g/mol (O₂), b = 4 electrons per O₂, F = 96485 C/mol, V the
anolyte volume (L) and ΔCOD the COD removed (g/L).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


FARADAY_C_PER_MOL = 96485.332
O2_G_PER_MOL = 32.0
ELECTRONS_PER_O2 = 4


def _integral(values: np.ndarray, times: np.ndarray) -> float:
    import numpy as np

    if len(values) < 2:
        return 0.0
    return float(np.sum((values[1:] + values[:-1]) * np.diff(times)) / 2)


def experiment_metrics(
    time_s: np.ndarray,
    voltage_v: np.ndarray,
    current_a: np.ndarray,
    *,
    anode_area_cm2: float,
    volume_ml: float,
    cod_initial_mg_l: float | None,
    cod_final_mg_l: float | None,
) -> dict[str, Any]:
    import numpy as np

    if len(time_s) == 0:
        raise ValueError("no measurements")
    if anode_area_cm2 <= 0 or volume_ml <= 0:
        raise ValueError("anode area and volume must be positive")
    area_m2 = anode_area_cm2 / 1e4
    volume_l = volume_ml / 1e3
    power_w = voltage_v * current_a
    power_density = power_w / area_m2 * 1e3
    current_density = current_a / area_m2
    charge_c = _integral(current_a, time_s)
    energy_j = _integral(power_w, time_s)
    peak = int(np.argmax(power_density))
    metrics: dict[str, Any] = {
        "samples": len(time_s),
        "duration_h": round(float(time_s[-1] - time_s[0]) / 3600, 3),
        "max_power_density_mw_m2": round(float(power_density[peak]), 3),
        "mean_power_density_mw_m2": round(float(np.mean(power_density)), 3),
        "max_volumetric_power_density_w_m3": round(float(np.max(power_w)) / (volume_l / 1e3), 4),
        "max_current_density_a_m2": round(float(np.max(current_density)), 4),
        "mean_current_density_a_m2": round(float(np.mean(current_density)), 4),
        "max_voltage_v": round(float(np.max(voltage_v)), 4),
        "peak_power_time_h": round(float(time_s[peak] - time_s[0]) / 3600, 3),
        "charge_c": round(charge_c, 4),
        "energy_wh": round(energy_j / 3600, 6),
        "coulombic_efficiency_pct": None,
        "cod_removal_pct": None,
    }
    if cod_initial_mg_l and cod_final_mg_l is not None and cod_initial_mg_l > cod_final_mg_l:
        removed_g_l = (cod_initial_mg_l - cod_final_mg_l) / 1e3
        theoretical_c = FARADAY_C_PER_MOL * ELECTRONS_PER_O2 * volume_l * removed_g_l / O2_G_PER_MOL
        metrics["coulombic_efficiency_pct"] = round(100 * charge_c / theoretical_c, 3)
        metrics["cod_removal_pct"] = round(100 * removed_g_l * 1e3 / cod_initial_mg_l, 3)
    return metrics


METRIC_LABELS: dict[str, tuple[str, str]] = {
    "max_power_density_mw_m2": ("Maximum power density", "mW/m²"),
    "mean_power_density_mw_m2": ("Mean power density", "mW/m²"),
    "max_volumetric_power_density_w_m3": ("Maximum volumetric power density", "W/m³"),
    "max_current_density_a_m2": ("Maximum current density", "A/m²"),
    "mean_current_density_a_m2": ("Mean current density", "A/m²"),
    "max_voltage_v": ("Maximum cell voltage", "V"),
    "coulombic_efficiency_pct": ("Coulombic efficiency", "%"),
    "cod_removal_pct": ("COD removal", "%"),
    "charge_c": ("Charge transferred", "C"),
    "energy_wh": ("Energy recovered", "Wh"),
    "peak_power_time_h": ("Time of peak power", "h"),
    "duration_h": ("Duration", "h"),
    "samples": ("Measurements", ""),
}
