#!/bin/sh
# Run by mngr-idle-watcher.service when the idle sentinel appears.
# idle_stop.sh SENTINEL SELF_STOP (bound by the set line above): removes
# SENTINEL and runs the self-stop script SELF_STOP, logging its outcome. It
# never powers the VM off.
rm -f "$1"
if "$2"; then
  logger -t mngr-idle "self-stop requested"
else
  logger -t mngr-idle "self-stop refused or failed (exit $?); the VM keeps running"
fi
exit 0
