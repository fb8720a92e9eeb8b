#!/bin/sh
# meson install: install the default configuration SRC as DEST unless DEST
# (under $DESTDIR) already exists: an operator's file is never overwritten.
set -eu
src=$1
dest=${DESTDIR:-}$2
if [ -e "$dest" ]; then
	echo "Keeping existing $dest (the default is $src)"
else
	install -D -m 0644 "$src" "$dest"
	echo "Installing $src to $dest"
fi
