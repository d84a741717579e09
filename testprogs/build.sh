#!/bin/sh
# Compiles every testprogs/*.c into OUTDIR (static_*.c with -static, lib_*.c into shared
# libraries lib_*.so).
# Usage: testprogs/build.sh OUTDIR
set -eu
if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
src=$(cd "$(dirname "$0")" && pwd)
out=$1
mkdir -p "$out"
CC=${CC:-gcc}
CFLAGS="-O1 -g -Wall -pthread"
status=0
for c in "$src"/*.c; do
	name=$(basename "$c" .c)
	extra=""
	case "$name" in
	lib_*)
		if ! $CC $CFLAGS -shared -fPIC -o "$out/$name.so" "$c"; then
			echo "build.sh: failed to compile $c" >&2
			status=1
		fi
		continue
		;;
	static_*) extra="-static" ;;
	gdb_nopie_*) extra="-O0 -no-pie" ;;
	gdb_*) extra="-O0" ;;
	esac
	# shellcheck disable=SC2086
	if ! $CC $CFLAGS $extra -o "$out/$name" "$c"; then
		echo "build.sh: failed to compile $c" >&2
		status=1
	fi
done
exit $status
