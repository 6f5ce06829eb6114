"""Native CPU kernels (matmul.cpp, attention.cpp, sampling.cpp), compiled once per machine and
called through ctypes."""
