# The "Customized managers" example of the multiprocessing documentation: a
# BaseManager with a Python class registered.  managerd cannot run Python
# code, so `python -m managerd run` leaves this manager to CPython.
# cpython-starts: 1
# min-python: 3.3 (a BaseManager starts in `with` since 3.3)
from multiprocessing.managers import BaseManager

class MathsClass:
    def add(self, x, y):
        return x + y
    def mul(self, x, y):
        return x * y

class MyManager(BaseManager):
    pass

MyManager.register('Maths', MathsClass)

if __name__ == '__main__':
    with MyManager() as manager:
        maths = manager.Maths()
        print(maths.add(4, 3))         # prints 7
        print(maths.mul(7, 8))         # prints 56
