# The "Proxy Objects" examples of the multiprocessing documentation: nested
# proxies, and a proxy stored in a managed dict.
# cpython-starts: 0
# min-python: 3.6 (nested proxies; 2.7's server stores a copy)
from multiprocessing import Manager

if __name__ == '__main__':
    manager = Manager()
    a = manager.list()
    b = manager.list()
    a.append(b)         # referent of a now contains referent of b
    b.append('hello')
    print(a[0], b)
    l_outer = manager.list([manager.dict() for i in range(2)])
    d_first_inner = l_outer[0]
    d_first_inner['a'] = 1
    d_first_inner['b'] = 2
    l_outer[1]['c'] = 3
    l_outer[1]['z'] = 26
    print(sorted(l_outer[0].items()))
    print(sorted(l_outer[1].items()))
    manager.shutdown()
