# managerd_backend.py - a small PEP 517 build backend for the pure-Python
# managerd package: a py2.py3-none-any wheel and an sdist, made with the
# standard library only (zipfile, tarfile, hashlib), on Python 2.7 to 3.13.
import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile

NAME = 'managerd'
SUMMARY = 'multiprocessing managers served by managerd, a C server'
REQUIRES_PYTHON = '>=2.7, !=3.0.*, !=3.1.*, !=3.2.*, !=3.3.*, !=3.4.*, !=3.5.*'
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Files of the sdist besides the package itself.
SDIST_EXTRA = ['pyproject.toml', 'setup.py', '_backend/managerd_backend.py',
               '_backend/setuptools/__init__.py', '_backend/setuptools/build_meta.py']
FIXED_MTIME = (2020, 1, 1, 0, 0, 0)     # reproducible archives


def version():
    with io.open(os.path.join(ROOT, NAME, '__init__.py'), encoding='utf-8') as f:
        return re.search(r"^__version__ = '([^']+)'", f.read(), re.M).group(1)


def package_files():
    """The package's .py files, relative to ROOT, sorted.  _installed.py is
    written by `make install` only, never shipped."""
    folder = os.path.join(ROOT, NAME)
    names = sorted(n for n in os.listdir(folder)
                   if n.endswith('.py') and n != '_installed.py')
    return [NAME + '/' + n for n in names]


def _metadata():
    return ('Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: %s\n'
            'Requires-Python: %s\n' % (NAME, version(), SUMMARY, REQUIRES_PYTHON))


def _dist_info_files():
    wheel = ('Wheel-Version: 1.0\nGenerator: managerd_backend\n'
             'Root-Is-Purelib: true\nTag: py2-none-any\nTag: py3-none-any\n')
    return [('METADATA', _metadata()), ('WHEEL', wheel), ('top_level.txt', NAME + '\n')]


def _dist_info_name():
    return '%s-%s.dist-info' % (NAME, version())


def _record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=')
    return '%s,sha256=%s,%d\n' % (path, digest.decode('ascii'), len(data))


def _read(rel):
    with open(os.path.join(ROOT, rel), 'rb') as f:
        return f.read()


def _zip_add(zf, path, data):
    info = zipfile.ZipInfo(path, FIXED_MTIME)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


# ---- PEP 517 hooks ------------------------------------------------------------

def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    target = os.path.join(metadata_directory, _dist_info_name())
    if not os.path.isdir(target):
        os.makedirs(target)
    for name, text in _dist_info_files():
        with open(os.path.join(target, name), 'wb') as f:
            f.write(text.encode('utf-8'))
    return _dist_info_name()


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    filename = '%s-%s-py2.py3-none-any.whl' % (NAME, version())
    dist_info = _dist_info_name()
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), 'w') as zf:
        for rel in package_files():
            data = _read(rel)
            _zip_add(zf, rel, data)
            record.append(_record_line(rel, data))
        for name, text in _dist_info_files():
            data = text.encode('utf-8')
            _zip_add(zf, dist_info + '/' + name, data)
            record.append(_record_line(dist_info + '/' + name, data))
        record.append(dist_info + '/RECORD,,\n')
        _zip_add(zf, dist_info + '/RECORD', ''.join(record).encode('utf-8'))
    return filename


def build_sdist(sdist_directory, config_settings=None):
    base = '%s-%s' % (NAME, version())
    filename = base + '.tar.gz'
    with tarfile.open(os.path.join(sdist_directory, filename), 'w:gz') as tf:
        members = [('PKG-INFO', _metadata().encode('utf-8'))]
        members += [(rel, _read(rel)) for rel in SDIST_EXTRA + package_files()]
        for rel, data in members:
            info = tarfile.TarInfo(base + '/' + rel)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 1577836800
            tf.addfile(info, io.BytesIO(data))
    return filename
