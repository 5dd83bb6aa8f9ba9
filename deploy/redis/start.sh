#!/bin/sh
# Redis for govx with AUTH on: docker-compose.yml's redis command. The
# default user is off; the exchange (the only govx service that uses Redis)
# has its own user, limited to govx's keys and channels (prefix govx:) and
# kept from administrative and dangerous commands. The ACL file is written
# at each start from the environment (REDIS_PASSWORD_EXCHANGE, from .env),
# so the password is never in the compose file or on redis-server's command
# line.
set -eu
pw=${REDIS_PASSWORD_EXCHANGE:-}
case $pw in
*[!A-Za-z0-9_-]* | '')
	echo "redis: REDIS_PASSWORD_EXCHANGE must be set, of A-Z a-z 0-9 _ - only" >&2
	exit 1 ;;
esac
if [ ${#pw} -lt 16 ]; then
	echo "redis: REDIS_PASSWORD_EXCHANGE must be at least 16 characters" >&2
	exit 1
fi
acl=/run/govx-redis/users.acl
mkdir -p /run/govx-redis
umask 077
printf 'user default off\nuser govx-exchange on >%s ~govx:* &govx:* +@all -@admin -@dangerous\n' "$pw" >"$acl"
chown -R redis:redis /run/govx-redis
# The image's entrypoint drops to the redis user before starting the server.
exec docker-entrypoint.sh redis-server --appendonly yes --aclfile "$acl"
