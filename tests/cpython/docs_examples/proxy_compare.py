# "Proxy Objects", note: proxies do not compare by value (doctest).
from docconnect import Manager

manager = Manager()
print(manager.list([1,2,3]) == [1,2,3])
