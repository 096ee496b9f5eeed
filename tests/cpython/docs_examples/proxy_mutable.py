# "Proxy Objects": re-assigning a mutated plain value (the last print is
# added to show the result).
from docconnect import Manager

manager = Manager()
# create a list proxy and append a mutable object (a dictionary)
lproxy = manager.list()
lproxy.append({})
# now mutate the dictionary
d = lproxy[0]
d['a'] = 1
d['b'] = 2
# at this point, the changes to d are not yet synced, but by
# updating the dictionary, the proxy is notified of the change
lproxy[0] = d
print(lproxy)
