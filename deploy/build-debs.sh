#!/bin/sh
# Builds the Debian packages bkagent and bksnap-dkms from this tree and checks
# them with lintian. The tree stays clean: the build runs in a copy under OUTDIR.
#
#   deploy/build-debs.sh [--version V] [OUTDIR]     (OUTDIR default: build/debs)
#
# The version is the one in VERSION, which must match deploy/debian/changelog.
# --version V builds as version V instead (a local or test build): the copy's
# VERSION and changelog say V. Exit status non-zero if the build fails or
# lintian reports an error; lintian's output: OUTDIR/lintian.txt.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
as_version=
if [ "${1:-}" = --version ]; then
	as_version=$2
	shift 2
fi
out=${1:-$top/build/debs}
mkdir -p "$out"
out=$(cd "$out" && pwd)

version=$(cat "$top/VERSION")
logged=$(dpkg-parsechangelog -l "$top/deploy/debian/changelog" -S Version)
if [ "$version" != "$logged" ]; then
	echo "build-debs: VERSION says $version, deploy/debian/changelog $logged:" \
		"add a changelog entry for $version" >&2
	exit 1
fi

# A fixed path, so that ccache finds the objects of the previous build.
src=$out/src/bkagent
rm -rf "$out/src"
mkdir -p "$src"
# What git knows of (edits included), never build trees or other junk.
(cd "$top" && git ls-files -z --cached --others --exclude-standard |
	cpio -p0dm --quiet "$src")
cp -r "$top/deploy/debian" "$src/debian"

if [ -n "$as_version" ]; then
	echo "$as_version" >"$src/VERSION"
	entry=$(mktemp)
	{
		echo "bkagent ($as_version) unstable; urgency=medium"
		echo
		echo "  * Local build of $version as $as_version."
		echo
		dpkg-parsechangelog -l "$src/debian/changelog" -S Maintainer |
			sed "s/^/ -- /; s/\$/  $(date -R)/"
		echo
		cat "$src/debian/changelog"
	} >"$entry"
	mv "$entry" "$src/debian/changelog"
	version=$as_version
fi

# Reuse compiled objects across builds and worktrees when ccache is set up.
if [ -n "${CCACHE_DIR:-}" ] && [ -d /usr/lib/ccache ]; then
	PATH=/usr/lib/ccache:$PATH
fi
export DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-parallel=$(nproc)}"
(cd "$src" && dpkg-buildpackage -b -us -uc) >"$out/build.log" 2>&1 || {
	tail -n 40 "$out/build.log" >&2
	echo "build-debs: dpkg-buildpackage failed; log: $out/build.log" >&2
	exit 1
}

changes=$out/src/bkagent_${version}_$(dpkg-architecture -qDEB_HOST_ARCH).changes
rm -f "$out"/*.deb
cp "$out"/src/*.deb "$out/"
lintian --fail-on error --info "$changes" >"$out/lintian.txt" 2>&1 || {
	cat "$out/lintian.txt" >&2
	echo "build-debs: lintian reports errors" >&2
	exit 1
}
grep -c '^[WE]:' "$out/lintian.txt" | xargs printf 'build-debs: lintian: %s warnings\n'
ls "$out"/*.deb
