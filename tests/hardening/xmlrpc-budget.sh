#!/bin/sh
# xmlrpc-budget.sh - issue 8, point 6: the XML-RPC encoder's budgets (the case xmlrpc_budget of hardening.py).
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
exec sh "$top_srcdir/tests/hardening/run-case.sh" xmlrpc_budget
