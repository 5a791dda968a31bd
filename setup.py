"""The compiled cores (issue 16): built by ``pip install`` when Cython and a C compiler are there.

Everything else about the package is in ``pyproject.toml``. Each extension is ``optional``: if it
does not compile (no compiler, no Python headers), the install still succeeds and hopwatch runs
its Python reference code instead (``monitor.ledger.core`` says which, in the log and in
``hopwatch_build_info{core=...}``). Without Cython (a build without build isolation) there is
nothing to compile and the same fallback applies.
"""

from setuptools import Extension, setup

SOURCES = {
    "monitor.ledger._batch": "monitor/ledger/_batch.pyx",
    "monitor.sources._nesting": "monitor/sources/_nesting.pyx",
    "monitor.agent._bucket": "monitor/agent/_bucket.pyx",
    "monitor.sources._mapper": "monitor/sources/_mapper.pyx",
    "monitor.slo._sli": "monitor/slo/_sli.pyx",
}


def extensions() -> list[Extension]:
    try:
        from Cython.Build import cythonize
    except ImportError:
        print("hopwatch: Cython is not installed; the compiled cores are skipped")
        return []
    modules = [
        Extension(
            name,
            [path],
            include_dirs=["monitor/ledger"],
            extra_compile_args=["-O3"],
            optional=True,
        )
        for name, path in SOURCES.items()
    ]
    try:
        built = cythonize(
            modules,
            compiler_directives={"language_level": "3"},
            include_path=["monitor/ledger"],  # _fields.pxi, shared by the cores
            quiet=True,
        )
    except Exception as error:  # a Cython that cannot translate them: Python cores it is
        print(f"hopwatch: the compiled cores are skipped ({error})")
        return []
    for ext in built:
        ext.optional = True  # cythonize makes new Extension objects without it
    return built


setup(ext_modules=extensions())
