#!/bin/sh
# Turns the flat catalog ConfigMap ("<course>__<file>" keys) back into the folder layout the
# catalog loader reads (<course>/<file>). Runs as an init container of the hub (and of the
# coursehub service) before they read the catalog.
#   CATALOG_FLAT_DIR: where the ConfigMap is mounted (default /etc/coursehub/catalog-flat)
#   CATALOG_DIR:      the folder to fill, an emptyDir (default /etc/coursehub/courses)
set -eu
src="${CATALOG_FLAT_DIR:-/etc/coursehub/catalog-flat}"
dest="${CATALOG_DIR:-/etc/coursehub/courses}"
count=0
for key in "$src"/*; do
  [ -f "$key" ] || continue
  name="${key##*/}"
  rel="$(printf '%s' "$name" | sed 's#__#/#g')"
  mkdir -p "$dest/$(dirname "$rel")"
  cp "$key" "$dest/$rel"
  count=$((count + 1))
done
echo "unpack-catalog: $count files from $src into $dest"
