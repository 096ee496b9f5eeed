# _watchdog.py - the small supervisor that stops a Python program's managerd
# when the program ends: a POSIX shell script, run as
#   /bin/sh -c SCRIPT managerd-watchdog FOLDER|- SOCKET|-
#
# Why a supervisor: the daemon must stop when the program that made it dies,
# even by SIGKILL, and its private folder must then be removed.  managerd has
# no option for that, and prctl(PR_SET_PDEATHSIG) fires when the *thread*
# that started the child exits (a Manager() made in a worker thread would
# die with that thread) and cannot remove the folder.  So the program holds
# the write end of a pipe (the watchdog's stdin); when every copy of it is
# closed -- the program ended, however it ended -- the watchdog reads EOF,
# stops managerd (SIGTERM, then SIGKILL after STOP_GRACE) and removes the
# socket and folder.
#
# Why off the critical path, and why a shell: the program starts managerd
# itself (managerd is the program's child; the program reads its
# 'listening on' line) and starts the watchdog beside it without waiting for
# it; shutdown() SIGKILLs the watchdog's process group, then stops managerd
# and removes the folder itself.  The watchdog only matters when the program
# ends without shutdown().  It must still cost little, for it starts while
# managerd starts: /bin/sh starts in well under a millisecond, a Python
# interpreter (even -S -E) takes 3 to 8 ms of CPU that managerd's start-up
# would share on a busy machine.
#
# Protocol: fd 0 is the lifeline.  Its first line is managerd's pid (the
# watchdog is started just after managerd, runs for a fraction of a
# millisecond while managerd starts, then sleeps in read).  The next line ("r") means "I have
# read managerd's listening line": from then on the watchdog relays managerd's
# output (fd 1: the read end of managerd's stdout and stderr, never the
# program's stdout) to its stderr (the program's stderr).  EOF means the
# program ended.  managerd is not the watchdog's child: "gone" is no process
# with its pid, or a zombie its new parent has not reaped yet.  If managerd
# ends by itself the watchdog removes the files and does not signal its pid
# (the program may have reaped it, and the pid be another process's).
#
# cat, sleep and rm come from /usr/bin:/bin first, whatever the program's
# PATH (which may even be empty).
#
# Signals: the watchdog is in a process group of its own (Ctrl-C reaches
# the program only) and ignores SIGINT and SIGHUP; SIGTERM makes it stop
# managerd and clean up at once.

STOP_GRACE_TICKS = 200       # 10 ms ticks between SIGTERM and SIGKILL (2 s)

SCRIPT = r'''
folder=$1 sock=$2 pid= eof= relay=
PATH=/usr/bin:/bin${PATH:+:$PATH}
trap '' INT HUP
gone() {
    kill -0 "$pid" 2>/dev/null || return 0
    { read -r stat < "/proc/$pid/stat"; } 2>/dev/null || return 0
    state=${stat##*) }
    [ "${state%% *}" = Z ]
}
wait_gone() {
    n=0
    while ! gone && [ $n -lt TICKS ]; do sleep 0.01; n=$((n + 1)); done
    gone
}
stop() {
    trap '' TERM USR1
    [ -z "$eof" ] || kill "$eof" 2>/dev/null
    if [ "$1" != exited ]; then
        kill -TERM "$pid" 2>/dev/null
        wait_gone || { kill -KILL "$pid" 2>/dev/null; wait_gone; }
    fi
    [ "$sock" = - ] || rm -f "$sock"
    [ "$folder" = - ] || rm -rf "$folder"
    # The relay ends with managerd's output: no process of ours outlives us.
    [ -z "$relay" ] || ! gone || wait "$relay"
    exit 0
}
trap stop TERM
trap 'stop exited' USR1
exec 3<&0 4<&1 1>/dev/null
read -r pid <&3 || stop exited
if read -r go <&3; then
    { cat <&4 >&2; kill -USR1 $$; } &
    relay=$!
    cat <&3 >/dev/null &
    eof=$!
    wait "$eof"
fi
stop
'''.replace('TICKS', str(STOP_GRACE_TICKS))
