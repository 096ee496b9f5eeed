# The PEP 517 hooks of managerd_backend under the name pyproject.toml gives
# (see ../../pyproject.toml for why that name).
import managerd_backend as _backend


class _Hooks(object):
    get_requires_for_build_wheel = staticmethod(_backend.get_requires_for_build_wheel)
    get_requires_for_build_sdist = staticmethod(_backend.get_requires_for_build_sdist)
    prepare_metadata_for_build_wheel = staticmethod(_backend.prepare_metadata_for_build_wheel)
    build_wheel = staticmethod(_backend.build_wheel)
    build_sdist = staticmethod(_backend.build_sdist)


__legacy__ = _Hooks()
