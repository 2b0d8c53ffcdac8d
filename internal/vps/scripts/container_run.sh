# container_run.sh NAME HOST_ID LABEL DOCKER_RUN_WORD...
# Starts host HOST_ID's agent container NAME, idempotently: a container NAME
# whose label LABEL is HOST_ID (one an earlier try started before its
# connection dropped) is started if need be and kept; one of another host is
# an error; without one, the DOCKER_RUN_WORDs run (the docker run command).
name=$1 host=$2 label=$3
shift 3
if owner=$(docker container inspect -f "{{index .Config.Labels \"$label\"}}" "$name" 2>/dev/null); then
  if [ "$owner" != "$host" ]; then
    echo "container $name exists on the VM and belongs to host $owner" >&2
    exit 1
  fi
  exec docker start "$name" >/dev/null
fi
"$@"
