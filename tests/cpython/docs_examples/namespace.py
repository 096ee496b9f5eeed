# "Managers", class Namespace (doctest; each >>> line as a statement).
from docconnect import Manager

manager = Manager()
Global = manager.Namespace()
Global.x = 10
Global.y = 'hello'
Global._z = 12.3    # this is an attribute of the proxy
print(Global)
