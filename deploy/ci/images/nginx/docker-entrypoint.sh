#!/bin/sh
# The official image's 20-envsubst-on-templates step: only the variables whose names match
# NGINX_ENVSUBST_FILTER (a regular expression; all when unset) are substituted, so nginx's
# own $variables in the templates stay as they are.
set -eu
templates=${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}
suffix=${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}
output=${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}
filter=${NGINX_ENVSUBST_FILTER:-}
if [ -d "$templates" ]; then
  names=$(env | cut -d= -f1 | grep -E -- "${filter:-.}" | sed 's/.*/${&}/' | tr '\n' ' ')
  for template in "$templates"/*"$suffix"; do
    [ -f "$template" ] || continue
    target="$output/$(basename "$template" "$suffix")"
    envsubst "$names" < "$template" > "$target"
    echo "docker-entrypoint: $template -> $target"
  done
fi
exec "$@"
