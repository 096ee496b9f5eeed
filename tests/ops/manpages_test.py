"""The manual pages: every option a program's --help prints is documented
in its page and every option the page names is one --help prints; every
function of mdc.h is in mdc(3) and the other way round; each page renders
with man -l without a warning."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from opslib import builddir, check, finish  # noqa: E402

PROGRAMS = [("managerd", "managerd.1"), ("managerctl", "managerctl.1"),
            ("managerd-pickle", "managerd-pickle.1")]
OPTION = re.compile(r"--[a-z][a-z-]*[a-z]")

# Each page lives beside the code it documents.
PAGES = {"managerd.1": os.path.join("core", "daemon"), "managerd-pickle.1": "serializers",
         "managerctl.1": "clients", "mdc.3": "clients"}


def page_path(name):
    return os.path.join(os.environ["top_srcdir"], PAGES[name], name)


def page_text(name):
    with open(page_path(name)) as f:
        src = f.read()
    # roff: \- is a minus, \fB...\fR are fonts
    return re.sub(r"\\f[BIRP]", "", src.replace("\\-", "-"))


def help_text(prog):
    r = subprocess.run([os.path.join(builddir(), prog), "--help"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    return r.stdout.decode()


def check_options():
    for prog, page in PROGRAMS:
        printed = set(OPTION.findall(help_text(prog)))
        documented = set(OPTION.findall(page_text(page)))
        check(len(printed) >= 4, "%s --help prints its options (%d)" % (prog, len(printed)))
        check(printed - documented == set(),
              "%s: every option of --help is in %s (missing %s)"
              % (prog, page, sorted(printed - documented)))
        check(documented - printed == set(),
              "%s: every option in %s is one --help prints (extra %s)"
              % (prog, page, sorted(documented - printed)))


def check_mdc():
    with open(os.path.join(os.environ["top_srcdir"], "clients", "mdc.h")) as f:
        header = f.read()
    functions = set(re.findall(r"\b(mdc_[a-z_]+)\(", header))
    text = page_text("mdc.3")
    synopsis = text[text.index(".SH SYNOPSIS"):text.index(".SH DESCRIPTION")]
    described = text[text.index(".SH DESCRIPTION"):text.index(".SH RETURN VALUE")]
    in_synopsis = set(re.findall(r"\b(mdc_[a-z_]+) ?\(", synopsis))
    in_described = set(re.findall(r"\b(mdc_[a-z_]+)\b", described))
    check(len(functions) > 30, "mdc.h declares its functions (%d)" % len(functions))
    check(functions - in_synopsis == set(),
          "every mdc.h function is in mdc(3)'s synopsis (missing %s)" % sorted(functions - in_synopsis))
    check(in_synopsis - functions == set(),
          "mdc(3)'s synopsis names only real functions (extra %s)" % sorted(in_synopsis - functions))
    check(functions - in_described == set(),
          "every mdc.h function is described (missing %s)" % sorted(functions - in_described))


def check_render():
    env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80")
    env.pop("MANPAGER", None)
    env.pop("PAGER", None)
    for page in ["managerd.1", "managerctl.1", "managerd-pickle.1", "mdc.3"]:
        path = page_path(page)
        r = subprocess.run(["man", "--warnings", "-l", "-E", "UTF-8", path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env, timeout=60)
        out = r.stdout.decode()
        check(r.returncode == 0 and r.stderr == b"" and "NAME" in out and len(out) > 500,
              "man -l %s renders without warnings %s" % (page, r.stderr.decode().strip()))


def main():
    check_options()
    check_mdc()
    check_render()
    finish()


if __name__ == "__main__":
    main()
