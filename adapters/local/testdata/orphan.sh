#!/bin/sh
# orphan.sh PID-FILE: a host command that never gets ready. It writes its
# PID (also the ID of the process group the adapter starts it in), starts a
# child that would outlive it, and exits.
echo $$ >"$1"
sleep 60 &
exit 1
