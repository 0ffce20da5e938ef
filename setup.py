"""Native parts, each optional: without a C compiler (or, for the raw-record scan, without
Hyperscan's headers) the Python code that computes the same runs instead."""

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
        ),
        Extension(
            "stockade.telemetry._evtxjson",
            sources=["src/stockade/telemetry/_evtxjson.c"],
            extra_compile_args=["-O2", "-std=c11"],
            optional=True,
        ),
    ]
)
