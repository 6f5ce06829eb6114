"""Markers for tests of the native CPU kernels (engine/cpu)."""
import pytest

from engine.cpu import build

built = pytest.mark.skipif(build.library() is None,
                           reason="no AVX-512 or AVX2 kernels, or no compiler")
# on AVX-512 CPUs, the AVX2 build too (avx2.h): the one most laptops run
ISAS = ["native", "avx2"] if build.avx512() else ["native"]


def native(test):
    """A test of the kernels, run against each build this CPU can run (conftest's `isa`)."""
    return built(pytest.mark.parametrize("isa", ISAS, indirect=True)(
        pytest.mark.usefixtures("isa")(test)))
