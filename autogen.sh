#!/bin/sh
# Regenerate the build system from configure.ac and Makefile.am.
set -e
cd "$(dirname "$0")"
mkdir -p build-aux m4
autoreconf --install --force
# The TAP driver for the C unit tests ships with automake but is not
# installed by --add-missing.
cp -f "$(automake --print-libdir)/tap-driver.sh" build-aux/
