# Imported by context_manager.py from its own folder (sys.path[0]).
def square(n):
    return n * n
