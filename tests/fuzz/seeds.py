"""seeds.py - seed corpora for the fuzzers of tests/fuzz, made from the
wire fixtures (tests/fixtures/wire): seeds.py KIND FIXTURES OUTDIR.

  handshake  every captured connection, each direction: [role][n][the
             challenge body the other side answered][the byte stream], so
             the fuzzer starts from handshakes that complete (fuzz_handshake.c)
  http       HTTP requests to the XML-RPC endpoint (fuzz_http.c): each
             method (managerctl's #managerd.* and shutdown too) with good
             and bad credentials, every captured
             'xmlrpclib' message as a request body, and a few with the
             server's allocations failing (0xff N, fuzz_http.c)
"""
import base64
import glob
import os
import sys

HTTP_KEY = b"fuzz-http-key"


def handshake(fixtures, out):
    n = 0
    for stream in sorted(glob.glob(os.path.join(fixtures, "*-connect.client-to-server.stream"))):
        ver = os.path.basename(stream).split("-")[0]
        for role, mine, data in (
                (0, "1-server-challenge", stream),
                (1, "4-client-challenge", stream.replace("client-to-server", "server-to-client"))):
            with open(os.path.join(fixtures, "%s-handshake-%s.bin" % (ver, mine)), "rb") as f:
                body = f.read()[len(b"#CHALLENGE#"):]
            with open(data, "rb") as f:
                seed = bytes(bytearray([role, len(body)])) + body + f.read()
            with open(os.path.join(out, "%s-%d" % (ver, role)), "wb") as f:
                f.write(seed)
            n += 1
    return n


def http_request(body, auth=True, path="/RPC2", method="POST"):
    head = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1", "Content-Type: text/xml",
            "Content-Length: %d" % len(body)]
    if auth:
        head.append("Authorization: Basic " +
                    base64.b64encode(b"user:" + HTTP_KEY).decode())
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def call(name, params=""):
    return ('<?xml version="1.0"?><methodCall><methodName>%s</methodName><params>%s'
            '</params></methodCall>' % (name, params)).encode()


def param(v):
    return "<param><value>%s</value></param>" % v


def http(fixtures, out):
    s = "<string>%s</string>"
    bodies = [
        call("create", param(s % "dict")),
        call("create", param(s % "Queue")),
        call("call", param(s % "get_queue") + param(s % "put") +
             param("<array><data><value><int>1</int></value></data></array>")),
        call("call", param(s % "0") + param(s % "__getitem__") +
             param("<array><data><value>k</value></data></array>")),
        call("number_of_objects"),
        call("debug_info"),
        call("incref", param(s % "800000000000")),
        call("decref", param(s % "800000000000")),
        call("get_methods", param(s % "800000000000")),
        call("system.listMethods"),
        call("system.methodHelp", param(s % "create")),
        call("system.methodSignature", param(s % "call")),
        call("system.multicall", param(
            "<array><data><value><struct><member><name>methodName</name><value>"
            "number_of_objects</value></member><member><name>params</name><value><array>"
            "<data></data></array></value></member></struct></value></data></array>")),
        # managerctl's requests over http://
        call("#managerd.stats"),
        call("#managerd.objects", param("<nil/>") + param(s % "size")),
        call("#managerd.clients"),
        call("#managerd.waiters"),
        call("#managerd.show", param(s % "800000000000")),
        call("shutdown"),
    ]
    seeds = [http_request(b) for b in bodies]
    seeds.append(http_request(bodies[0], auth=False))
    seeds.append(http_request(b"", method="GET"))
    seeds.append(http_request(bodies[4], path="/other"))
    seeds.append(http_request(bodies[4]) + http_request(bodies[5]))   # keep-alive
    for xml in sorted(glob.glob(os.path.join(fixtures, "*.request.xml"))):
        with open(xml, "rb") as f:
            params = f.read()
        seeds.append(http_request(call("call").replace(b"<params></params>", params)))
    # The same requests with the server's allocations failing after N;
    # system.multicall's at every N up to 63 (after 21 its results list
    # once held a NULL, which the encoder then read).
    seeds += [b"\xff" + bytes(bytearray([n])) + seeds[i] for i in (0, 2, 4) for n in (0, 5, 40)]
    seeds += [b"\xff" + bytes(bytearray([n])) + seeds[12] for n in range(64)]
    for i, seed in enumerate(seeds):
        with open(os.path.join(out, "http-%03d" % i), "wb") as f:
            f.write(seed)
    return len(seeds)


def main():
    kind, fixtures, out = sys.argv[1:4]
    n = {"handshake": handshake, "http": http}[kind](fixtures, out)
    print("%d %s seeds" % (n, kind))
    return 0 if n else 1


if __name__ == "__main__":
    sys.exit(main())
