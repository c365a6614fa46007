#!/usr/bin/env bash
# The production topology on one machine, every part a real process on 127.0.0.1:
#   Debian's nginx (TLS, the shipped deploy/nginx files) -> gunicorn (deploy/gunicorn.conf.py,
#   WEB_WORKERS processes) ; WORKERS Celery workers on the cpu queue (deploy/worker.sh) ; one
#   beat ; the PostgreSQL and Redis that run here, with a database, Redis keys and a data folder
#   of the cluster's own. DJANGO_ENV=production, as a hospital runs it.
#
#   deploy/cluster.sh up        start everything, wait until nginx answers /healthz
#   deploy/cluster.sh status    what runs, and /readyz through nginx
#   deploy/cluster.sh down      stop everything (workers drain for DRAIN_S seconds, then are killed)
#   deploy/cluster.sh purge     down, then drop the database, the Redis keys and the folder
#   deploy/cluster.sh env       print the environment the cluster's processes run with
#   deploy/cluster.sh manage …  a manage.py command in that environment
#
# Settings (environment): CLUSTER_DIR (var/cluster), CLUSTER_NAME (fusionscreen_cluster: the
# database and the Redis key prefix), HTTPS_PORT (8443), HTTP_PORT (8080), WEB_PORT (8101),
# WEB_WORKERS (2), WORKERS (2), REDIS_DB (12), DETECTION_TORCH_THREADS (cores / WORKERS), and any
# site setting, which the processes inherit
# (for example CELERY_VISIBILITY_TIMEOUT, DETECTION_JOB_STALE_AFTER).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
DIR=$(mkdir -p "${CLUSTER_DIR:-$REPO/var/cluster}" && cd "${CLUSTER_DIR:-$REPO/var/cluster}" && pwd)
NAME=${CLUSTER_NAME:-fusionscreen_cluster}
HTTPS_PORT=${HTTPS_PORT:-8443}
HTTP_PORT=${HTTP_PORT:-8080}
WEB_PORT=${WEB_PORT:-8101}
WEB_WORKERS=${WEB_WORKERS:-2}
WORKERS=${WORKERS:-2}
REDIS_DB=${REDIS_DB:-12}
DRAIN_S=${DRAIN_S:-30}
PY="$REPO/.venv/bin/python"
RUN="$DIR/run"
LOGS="$DIR/logs"
umask 022 # nginx's worker user reads static and media files

write_env() {
  mkdir -p "$RUN" "$LOGS" "$DIR/data/celery" "$DIR/tls" "$DIR/nginx"
  chmod 755 "$DIR" "$DIR/data"
  [ -s "$DIR/secret_key" ] || "$PY" -c 'import secrets; print(secrets.token_urlsafe(64))' >"$DIR/secret_key"
  cat >"$DIR/env" <<EOF
DJANGO_ENV=production
SECRET_KEY=$(cat "$DIR/secret_key")
ALLOWED_HOSTS=localhost,127.0.0.1
CSRF_TRUSTED_ORIGINS=https://localhost:$HTTPS_PORT,https://127.0.0.1:$HTTPS_PORT
SECURE_PROXY_SSL_HEADER=1
TRUSTED_PROXY_COUNT=1
DATABASE_URL=postgres://postgres@127.0.0.1:5432/$NAME
CELERY_BROKER_URL=redis://127.0.0.1:6379/$REDIS_DB
CELERY_BROKER_KEY_PREFIX=$NAME:
CACHE_URL=redis://127.0.0.1:6379/$REDIS_DB
CACHE_KEY_PREFIX=$NAME-cache
FUSIONSCREEN_VAR_DIR=$DIR/data
MEDIA_ROOT=$DIR/data/media
STATIC_ROOT=$DIR/data/static
SENDFILE_URL_PREFIX=/_protected/media/
LOG_FORMAT=json
GUNICORN_BIND=127.0.0.1:$WEB_PORT
WEB_CONCURRENCY=$WEB_WORKERS
DETECTION_TORCH_THREADS=${DETECTION_TORCH_THREADS:-$(( $(nproc) / WORKERS > 0 ? $(nproc) / WORKERS : 1 ))}
PYTHONUNBUFFERED=1
EOF
  chmod 600 "$DIR/env"
}

load_env() {
  [ -f "$DIR/env" ] || write_env
  set -a
  # shellcheck disable=SC1091
  . "$DIR/env"
  set +a
}

pid_alive() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

start() { # start NAME COMMAND... : in its own session, logging to logs/NAME.log
  local name=$1
  shift
  if pid_alive "$name"; then
    echo "  $name already runs (pid $(cat "$RUN/$name.pid"))"
    return
  fi
  setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
  echo "  $name started (pid $!, log $LOGS/$name.log)"
}

render_nginx() {
  if [ ! -s "$DIR/tls/fullchain.pem" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=localhost" \
      -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
      -keyout "$DIR/tls/privkey.pem" -out "$DIR/tls/fullchain.pem" 2>/dev/null
  fi
  # The shipped site and snippet, with this cluster's ports and paths and nothing else changed.
  sed -e "s#listen 80;#listen 127.0.0.1:$HTTP_PORT;#" -e "s#listen 443 ssl http2;#listen 127.0.0.1:$HTTPS_PORT ssl http2;#" \
    -e '/listen \[::\]/d' -e "s#server_name fusionscreen.example.org;#server_name localhost 127.0.0.1;#" \
    -e "s#127.0.0.1:8001#127.0.0.1:$WEB_PORT#" -e "s#/etc/ssl/fusionscreen#$DIR/tls#g" \
    -e "s#/etc/nginx/snippets/#$DIR/nginx/#" -e "s#/var/log/nginx/fusionscreen.access.log#$LOGS/nginx-access.log#" \
    "$REPO/deploy/nginx/fusionscreen.conf" >"$DIR/nginx/fusionscreen.conf"
  sed -e "s#/srv/fusionscreen/data#$DIR/data#g" "$REPO/deploy/nginx/fusionscreen-app.conf" >"$DIR/nginx/fusionscreen-app.conf"
  mkdir -p "$DIR/nginx/tmp" "$DIR/data/tmp"
  chmod 755 "$DIR/data/tmp"
  {
    # nginx started by root hands requests to unprivileged workers, as Debian's does.
    [ "$(id -u)" = 0 ] && echo "user www-data;"
    cat <<EOF
worker_processes 2;
pid $RUN/nginx.pid;
error_log $LOGS/nginx-error.log warn;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    server_tokens off;
    proxy_temp_path $DIR/nginx/tmp/proxy;
    fastcgi_temp_path $DIR/nginx/tmp/fastcgi;
    uwsgi_temp_path $DIR/nginx/tmp/uwsgi;
    scgi_temp_path $DIR/nginx/tmp/scgi;
    include $DIR/nginx/fusionscreen.conf;
}
EOF
  } >"$DIR/nginx/nginx.conf"
  nginx -t -q -c "$DIR/nginx/nginx.conf" -p "$DIR/nginx" -e "$LOGS/nginx-error.log"
}

wait_http() { # wait_http URL SECONDS
  local deadline=$((SECONDS + $2))
  until curl -fsS --cacert "$DIR/tls/fullchain.pem" -o /dev/null "$1" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      echo "cluster: $1 did not answer within $2 s; logs in $LOGS" >&2
      return 1
    fi
    sleep 0.5
  done
}

up() {
  command -v nginx >/dev/null || { echo "cluster: nginx is missing (apt-get install nginx-light)" >&2; exit 1; }
  write_env
  load_env
  echo "cluster $NAME in $DIR"
  if ! psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$NAME'" | grep -q 1; then
    createdb -h 127.0.0.1 -U postgres "$NAME"
  fi
  (cd "$REPO" && "$PY" manage.py migrate --noinput >"$LOGS/migrate.log" 2>&1) || {
    tail -20 "$LOGS/migrate.log" >&2
    exit 1
  }
  (cd "$REPO" && "$PY" manage.py collectstatic --noinput >"$LOGS/collectstatic.log" 2>&1)
  render_nginx
  cd "$REPO"
  start web .venv/bin/gunicorn -c deploy/gunicorn.conf.py --pid "$RUN/gunicorn.pid" webapp.wsgi
  for i in $(seq 1 "$WORKERS"); do
    start "worker-$i" deploy/worker.sh "cpu-$i"
  done
  start beat .venv/bin/celery -A webapp beat --loglevel INFO --schedule "$DIR/data/celery/beat-schedule" \
    --pidfile "$RUN/celerybeat.pid"
  # nginx only once gunicorn answers, so no client ever meets a 502 while it boots.
  wait_http "http://127.0.0.1:$WEB_PORT/healthz" 90
  if ! pid_alive nginx; then
    nginx -c "$DIR/nginx/nginx.conf" -p "$DIR/nginx" -e "$LOGS/nginx-error.log"
    echo "  nginx started (pid $(cat "$RUN/nginx.pid"))"
  fi
  wait_http "https://localhost:$HTTPS_PORT/healthz" 60
  echo "cluster up: https://localhost:$HTTPS_PORT/ (CA: $DIR/tls/fullchain.pem)"
}

stop_one() { # stop_one NAME SECONDS: TERM its session, KILL what is left after SECONDS
  local name=$1 pid
  [ -f "$RUN/$name.pid" ] || return 0
  pid=$(cat "$RUN/$name.pid")
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + $2))
  while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$RUN/$name.pid"
}

down() {
  [ -d "$RUN" ] || return 0
  if [ -f "$RUN/nginx.pid" ]; then
    nginx -s quit -c "$DIR/nginx/nginx.conf" -p "$DIR/nginx" -e "$LOGS/nginx-error.log" 2>/dev/null || true
    for _ in $(seq 50); do [ -f "$RUN/nginx.pid" ] || break; sleep 0.1; done
    rm -f "$RUN/nginx.pid"
  fi
  stop_one web 30
  for pidfile in "$RUN"/worker-*.pid; do
    [ -e "$pidfile" ] && stop_one "$(basename "$pidfile" .pid)" "$DRAIN_S"
  done
  stop_one beat 10
  rm -f "$RUN"/*.pid
  echo "cluster down: nothing of $NAME runs"
}

status() {
  local failed=0
  for pidfile in "$RUN"/*.pid; do
    [ -e "$pidfile" ] || continue
    name=$(basename "$pidfile" .pid)
    case $name in gunicorn | celerybeat) continue ;; esac
    if pid_alive "$name"; then echo "  $name: running (pid $(cat "$pidfile"))"; else
      echo "  $name: NOT running"
      failed=1
    fi
  done
  curl -sS --cacert "$DIR/tls/fullchain.pem" "https://localhost:$HTTPS_PORT/readyz" || failed=1
  echo
  return $failed
}

purge() {
  down
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $NAME WITH (FORCE)" >/dev/null
  redis-cli -n "$REDIS_DB" --scan --pattern "$NAME*" | xargs -r redis-cli -n "$REDIS_DB" del >/dev/null
  rm -rf "$DIR"
  echo "cluster purged: database $NAME, its Redis keys and $DIR removed"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  purge) purge ;;
  env) load_env && env | grep -E '^(DJANGO_ENV|DATABASE_URL|CELERY_|CACHE_|FUSIONSCREEN_VAR_DIR|MEDIA_ROOT|STATIC_ROOT|SENDFILE_|LOG_FORMAT|GUNICORN_|WEB_CONCURRENCY)' ;;
  manage)
    shift
    load_env
    cd "$REPO" && exec "$PY" manage.py "$@"
    ;;
  *)
    echo "usage: deploy/cluster.sh up|status|down|purge|env|manage ARGS" >&2
    exit 2
    ;;
esac
