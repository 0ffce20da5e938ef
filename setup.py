"""The native raw-record scan (optional: without Hyperscan's headers the Python scan runs)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "stockade.detection._rawscan",
            sources=["src/stockade/detection/_rawscan.c"],
            include_dirs=["/usr/include/hs"],
            libraries=["hs"],
            extra_compile_args=["-O2", "-std=c11", "-D_GNU_SOURCE"],
            optional=True,
        )
    ]
)
