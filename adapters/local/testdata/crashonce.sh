#!/bin/sh
# crashonce.sh COUNT-FILE COMMAND...: runs COMMAND (exec, so it keeps this
# process) the first time, and exits with status 3 at once every later time,
# appending a line to COUNT-FILE each time. As an adapter's host command it
# is a host that starts once and then keeps crashing.
count=$1
shift
echo start >>"$count"
if [ "$(wc -l <"$count")" -gt 1 ]; then
	echo "crashonce: crashing on purpose" >&2
	exit 3
fi
exec "$@"
