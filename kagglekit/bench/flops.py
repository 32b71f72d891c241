"""How well training uses the cores: FLOPs per training image from a model's layers, and the CPU's peak.

A training step costs about three forward passes (the forward pass, then the
gradients with respect to the activations and to the weights), and a forward
pass is two FLOPs per multiply-accumulate of its convolutions and dense layers
(batch norm, activations and pooling are left out: they are a few percent).
The peak is cores x clock x FMA units x float32 lanes per unit x 2, read from
`lscpu` (or /proc/cpuinfo): what the vector units could do if every cycle
were a fused multiply-add.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TRAINING_PASSES = 3  # forward + backward (activation gradients + weight gradients) ~ 3 forward passes


def forward_macs(model) -> int:
    """Multiply-accumulates of one image's forward pass through MODEL's convolutions and dense layers."""
    import keras

    total = 0
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.Model):
            continue  # its layers are counted themselves
        out = getattr(layer, "output", None)
        shape = tuple(out.shape[1:]) if out is not None and hasattr(out, "shape") else ()
        inputs = layer.input.shape[-1] if hasattr(layer, "input") and hasattr(layer.input, "shape") else None
        positions = int(_product(shape[:-1])) if shape else 1
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            kh, kw = layer.kernel_size
            total += positions * shape[-1] * kh * kw
        elif isinstance(layer, keras.layers.SeparableConv2D):
            kh, kw = layer.kernel_size
            total += positions * (inputs * layer.depth_multiplier * kh * kw + inputs * layer.depth_multiplier * shape[-1])
        elif isinstance(layer, keras.layers.Conv2D):
            kh, kw = layer.kernel_size
            total += positions * shape[-1] * kh * kw * inputs // layer.groups
        elif isinstance(layer, keras.layers.Dense):
            total += positions * shape[-1] * inputs
    return int(total)


def training_flops(model) -> float:
    """FLOPs of one training image through MODEL: 3 forward passes of 2 FLOPs per multiply-accumulate."""
    return TRAINING_PASSES * 2.0 * forward_macs(model)


def _product(values) -> float:
    out = 1.0
    for v in values:
        out *= v
    return out


@dataclass(frozen=True)
class Peak:
    """The CPU's float32 peak, and how it was worked out."""

    gflops: float
    how: str
    bf16_gflops: float | None = None  # with bfloat16 dot products (AVX512_BF16) or AMX tiles, when present


def _field(text: str, name: str) -> str | None:
    found = re.search(rf"^{re.escape(name)}\s*:\s*(.+)$", text, flags=re.M)
    return found.group(1).strip() if found else None


def _clock_ghz(lscpu: str, cpuinfo: str) -> tuple[float, str]:
    if _field(lscpu, "CPU max MHz"):
        return float(_field(lscpu, "CPU max MHz")) / 1000, "lscpu's CPU max MHz"
    named = re.search(r"@\s*([\d.]+)\s*GHz", _field(lscpu, "Model name") or "")
    if named:
        return float(named.group(1)), "the model name"
    if _field(cpuinfo, "cpu MHz"):
        return float(_field(cpuinfo, "cpu MHz")) / 1000, "/proc/cpuinfo's cpu MHz"
    if _field(lscpu, "BogoMIPS"):  # a VM that hides the clock: BogoMIPS is twice the TSC clock in MHz
        return float(_field(lscpu, "BogoMIPS")) / 2000, "BogoMIPS / 2 (the hypervisor hides the clock)"
    return 2.0, "a guess (no clock found)"


def cpu_peak(lscpu: str, cpuinfo: str = "") -> Peak:
    """The float32 peak of the CPU that LSCPU (`lscpu` output; CPUINFO: /proc/cpuinfo, optional) describes."""
    cpus = int(_field(lscpu, "CPU(s)") or 1)
    threads = int(_field(lscpu, "Thread(s) per core") or 1)
    cores = max(1, cpus // threads)
    ghz, clock_from = _clock_ghz(lscpu, cpuinfo)
    flags = set((_field(lscpu, "Flags") or _field(cpuinfo, "flags") or "").split())
    amd = "AMD" in (_field(lscpu, "Vendor ID") or "")
    family = int(_field(lscpu, "CPU family") or 0)
    if "avx512f" in flags and not (amd and family < 26):
        lanes, units, why = 16, 2, "AVX-512: 16 float32 lanes, 2 FMA units"
    elif "avx512f" in flags:  # Zen 4 runs 512-bit instructions on its 256-bit units, in two halves
        lanes, units, why = 8, 2, "AVX-512 on AMD Zen 4 (family 25): 256-bit units, 8 float32 lanes, 2 FMA units"
    elif "avx2" in flags and "fma" in flags:
        lanes, units, why = 8, 2, "AVX2 + FMA: 8 float32 lanes, 2 FMA units"
    elif "avx" in flags:
        lanes, units, why = 8, 1, "AVX without FMA: 8 float32 lanes, 1 unit"
    else:
        lanes, units, why = 4, 1, "SSE: 4 float32 lanes, 1 unit"
    gflops = cores * ghz * units * lanes * 2
    how = f"{cores} cores x {ghz:.2f} GHz ({clock_from}) x {units} FMA units x {lanes} lanes x 2 ({why})"
    bf16 = None
    if "amx_bf16" in flags:
        bf16 = cores * ghz * 1024  # one AMX tile unit: 1,024 bfloat16 FLOPs per cycle per core
        how += f"; AMX: {cores} x {ghz:.2f} GHz x 1024 bfloat16 FLOPs per cycle = {bf16:.0f} GFLOP/s"
    elif "avx512_bf16" in flags:
        bf16 = 2 * gflops  # VDPBF16PS: two bfloat16 products per float32 lane
        how += f"; AVX512_BF16 dot products: 2x that = {bf16:.0f} GFLOP/s in bfloat16"
    return Peak(gflops, how, bf16)


def this_cpu_peak() -> Peak:
    """The peak of the machine this runs on, from `lscpu` and /proc/cpuinfo."""
    import subprocess
    from pathlib import Path

    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10,
                               env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"}).stdout
    except (OSError, subprocess.SubprocessError):
        lscpu = ""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    if not lscpu and cpuinfo:  # one core's block of /proc/cpuinfo has the flags and clock
        lscpu = f"CPU(s): {cpuinfo.count('processor')}\n"
    return cpu_peak(lscpu, cpuinfo)
