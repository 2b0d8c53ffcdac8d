# cloud_init_probe.sh READY_MARKER FAILED_MARKER
# Prints READY, or FAILED followed by FAILED_MARKER's content (the failed
# steps), as soon as one of the marker files appears, looking four times a
# second for up to 8 s; else prints WAIT. Always exits 0.
i=0
while [ $i -lt 32 ]; do
  if [ -f "$2" ]; then echo FAILED; cat "$2"; exit 0; fi
  if [ -f "$1" ]; then echo READY; exit 0; fi
  sleep 0.25; i=$((i+1))
done
echo WAIT
