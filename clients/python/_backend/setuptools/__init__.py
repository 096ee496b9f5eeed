# Not setuptools: the front pip >= 20 finds through backend-path (see
# ../../pyproject.toml).  It exists only so that one pyproject.toml serves
# pip 19 (Python 2.7, which ignores backend-path) and newer pips alike.
