#!/bin/sh
# Entrypoint of the `mongo` service in docker-compose.yml. mongod refuses a key file that others
# can read, and a compose secret keeps the host file's mode and owner: copy it, owner-only, for
# the mongodb user, then hand over to the image's own entrypoint (which creates the root user
# on the first start and turns authentication on).
set -eu
install -m 400 -o mongodb -g mongodb /run/secrets/mongo_keyfile /data/configdb/keyfile
exec docker-entrypoint.sh "$@"
