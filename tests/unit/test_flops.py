"""bench --parts steps: FLOPs per training image from a model's layers, and the CPU's peak from lscpu."""

import keras
import pytest

from kagglekit.bench.flops import cpu_peak, forward_macs, training_flops
from kagglekit.models.registry import create_model

EPYC_AVX2 = """Architecture:            x86_64
CPU(s):                  2
Vendor ID:               AuthenticAMD
Model name:              AMD EPYC 7B12
CPU family:              23
Thread(s) per core:      1
Core(s) per socket:      2
Socket(s):               1
CPU max MHz:             2450.0000
Flags:                   fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2
"""

EPYC_ZEN4_VM = """CPU(s):                                  2
Vendor ID:                               AuthenticAMD
Model name:                              AMD EPYC
CPU family:                              25
Model:                                   17
Thread(s) per core:                      1
BogoMIPS:                                5192.28
Flags:                                   fpu sse fma avx avx2 avx512f avx512dq avx512bw avx512vl avx512_bf16
"""

XEON_AVX512 = """CPU(s):                  8
Vendor ID:               GenuineIntel
Model name:              Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz
CPU family:              6
Thread(s) per core:      2
Flags:                   fpu sse fma avx avx2 avx512f avx512dq avx512bw avx512vl avx512_vnni
"""

XEON_AMX = """CPU(s):                  4
Vendor ID:               GenuineIntel
Model name:              Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
CPU family:              6
Thread(s) per core:      2
Flags:                   fma avx avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8
"""


def test_peak_of_an_avx2_epyc():
    peak = cpu_peak(EPYC_AVX2)
    assert peak.gflops == pytest.approx(2 * 2.45 * 2 * 8 * 2)  # 156.8, the issue's ~150
    assert peak.bf16_gflops is None
    assert "2 cores x 2.45 GHz (lscpu's CPU max MHz) x 2 FMA units x 8 lanes x 2" in peak.how


def test_peak_of_a_zen4_vm_that_hides_its_clock():
    peak = cpu_peak(EPYC_ZEN4_VM)
    assert peak.gflops == pytest.approx(2 * 2.59614 * 2 * 8 * 2)  # 512-bit work on 256-bit units
    assert "BogoMIPS / 2" in peak.how and "Zen 4" in peak.how
    assert peak.bf16_gflops == pytest.approx(2 * peak.gflops)


def test_peak_of_avx512_and_amx_xeons():
    avx512 = cpu_peak(XEON_AVX512)
    assert avx512.gflops == pytest.approx(4 * 2.9 * 2 * 16 * 2)  # 8 threads = 4 cores, the clock from the name
    assert "the model name" in avx512.how
    amx = cpu_peak(XEON_AMX)
    assert amx.gflops == pytest.approx(2 * 2.7 * 2 * 16 * 2)
    assert amx.bf16_gflops == pytest.approx(2 * 2.7 * 1024) and "AMX" in amx.how


def test_the_clock_from_proc_cpuinfo_when_lscpu_has_none():
    peak = cpu_peak("CPU(s): 4\nFlags: sse sse2\n", "processor : 0\ncpu MHz : 3000.000\n")
    assert peak.gflops == pytest.approx(4 * 3.0 * 1 * 4 * 2)


def test_training_flops_count_convolutions_and_dense_layers():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)  # 8*8 positions x 4 filters x 27 = 6,912 MACs
    x = keras.layers.BatchNormalization()(x)  # not counted
    x = keras.layers.SeparableConv2D(6, 3, padding="valid")(x)  # 6*6 x (4*9 + 4*6) = 2,160
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(2)(x)  # 12
    model = keras.Model(inputs, outputs)
    assert forward_macs(model) == 6912 + 2160 + 12
    assert training_flops(model) == 3 * 2 * (6912 + 2160 + 12)


def test_a_wider_model_costs_about_the_square():
    one, two = (forward_macs(create_model("bn_cnn", (32, 32, 3), 2, width=w)) for w in (1.0, 2.0))
    assert 3.8 < two / one < 4.0
