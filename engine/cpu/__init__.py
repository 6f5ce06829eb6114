"""Native CPU kernels (kernels.cpp), compiled once per machine and called through ctypes."""
