#!/usr/bin/env bash
# The kernel's own iommufd selftests (Linux 7.3.4), built from Debian's packages and run unmodified
# against iommu-lab through `iommu-lab bridge`. Prints the kselftest totals; exits non-zero when
# fewer cases pass than the floors (a kselftest SKIP counts as passed, as kselftest counts it).
#
# Environment:
#   KSELFTEST_DIR      work directory (default: ~/.cache/iommu-lab/kselftest); sources and binaries stay there
#   KSELFTEST_DEBS     a directory already holding the two .debs (skips apt)
#   FLOOR_IOMMUFD      minimum passing cases of ./iommufd (default 246 of 246)
#   FLOOR_FAIL_NTH     minimum passing cases of ./iommufd_fail_nth (default 8 of 8)
#   IOMMU_LAB          the iommu-lab command (default: node packages/iommu-lab/dist/bin.js of this repo)
set -euo pipefail

VERSION=7.3.4-1~bpo13+1
SUITE=trixie-backports
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
FLOOR_IOMMUFD=${FLOOR_IOMMUFD:-246}
FLOOR_FAIL_NTH=${FLOOR_FAIL_NTH:-8}
REPO=$(cd "$(dirname "$0")/../../.." && pwd)
WORK=${KSELFTEST_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/iommu-lab/kselftest}
if [[ -z ${IOMMU_LAB:-} ]]; then
	IOMMU_LAB="node $REPO/packages/iommu-lab/dist/bin.js"
	[[ -f $REPO/packages/iommu-lab/dist/bin.js ]] || (cd "$REPO" && npx nx run iommu-lab:build >&2)
fi

mkdir -p "$WORK"
cd "$WORK"

# 1. The two packages, through a private apt configuration (the system's sources stay untouched).
debs=${KSELFTEST_DEBS:-$WORK/debs}
src_deb=$debs/linux-source-7.3_${VERSION}_all.deb
hdr_deb=$debs/linux-libc-dev_${VERSION}_all.deb
if [[ ! -f $src_deb || ! -f $hdr_deb ]]; then
	apt=$WORK/apt
	mkdir -p "$apt"/etc/apt.conf.d "$apt"/etc/preferences.d "$apt"/etc/sources.list.d "$apt"/state/lists/partial "$apt"/cache/archives/partial "$debs"
	echo "deb $MIRROR $SUITE main" >"$apt/etc/sources.list"
	opts=(
		-o "Dir::Etc::SourceList=$apt/etc/sources.list"
		-o "Dir::Etc::SourceParts=$apt/etc/sources.list.d"
		-o "Dir::Etc::Preferences=$apt/etc/preferences"
		-o "Dir::Etc::PreferencesParts=$apt/etc/preferences.d"
		-o "Dir::Etc::Parts=$apt/etc/apt.conf.d"
		-o "Dir::State=$apt/state"
		-o "Dir::Cache=$apt/cache"
		-o "Debug::NoLocking=1"
		-o "Acquire::Languages=none"
	)
	echo "# fetching linux-source-7.3 and linux-libc-dev $VERSION from $SUITE" >&2
	apt-get -q "${opts[@]}" update >&2
	(cd "$debs" && apt-get -q "${opts[@]}" download "linux-source-7.3=$VERSION" "linux-libc-dev=$VERSION" >&2)
fi

# 2. Only what the selftests need: their sources, the harness, iommufd_test.h and the uapi headers.
tree=$WORK/linux-source-7.3
hdr=$WORK/hdr/usr/include
if [[ ! -f $tree/drivers/iommu/iommufd/iommufd_test.h ]]; then
	echo "# unpacking the selftest sources" >&2
	rm -rf "$WORK/unpack" && mkdir -p "$WORK/unpack"
	dpkg-deb --fsys-tarfile "$src_deb" | tar -x -C "$WORK/unpack" ./usr/src/linux-source-7.3.tar.xz
	tar -xJf "$WORK/unpack/usr/src/linux-source-7.3.tar.xz" -C "$WORK" \
		linux-source-7.3/tools/testing/selftests/iommu \
		linux-source-7.3/tools/testing/selftests/kselftest.h \
		linux-source-7.3/tools/testing/selftests/kselftest_harness.h \
		linux-source-7.3/drivers/iommu/iommufd/iommufd_test.h
	rm -rf "$WORK/unpack"
fi
if [[ ! -f $hdr/linux/iommufd.h ]]; then
	rm -rf "$WORK/hdr" && dpkg-deb -x "$hdr_deb" "$WORK/hdr"
fi

# 3. Build them as tools/testing/selftests/iommu/Makefile does (gcc, -lcap), unmodified.
mkdir -p "$WORK/bin"
for t in iommufd iommufd_fail_nth; do
	gcc -Wall -O2 -Wno-unused-function -D_GNU_SOURCE \
		-I"$tree/tools/testing/selftests" -isystem "$hdr" -isystem "$hdr/x86_64-linux-gnu" \
		"$tree/tools/testing/selftests/iommu/$t.c" -o "$WORK/bin/$t" -lcap
done

# 4. Run them under the bridge and check the totals.
status=0
run() {
	local name=$1 floor=$2 log=$WORK/$1.log start end
	start=$EPOCHREALTIME
	$IOMMU_LAB bridge -- "$WORK/bin/$name" >"$log" 2>&1 || true
	end=$EPOCHREALTIME
	local totals pass skip
	totals=$(grep '^# Totals:' "$log" || echo '# Totals: none')
	pass=$(sed -n 's/^# Totals: pass:\([0-9]*\).*/\1/p' <<<"$totals")
	skip=$(sed -n 's/.* skip:\([0-9]*\).*/\1/p' <<<"$totals")
	local ok=$((${pass:-0} + ${skip:-0}))
	printf '%s: %s (%d passed incl. skips, floor %d) in %s s\n' "$name" "${totals#\# }" "$ok" "$floor" "$(awk "BEGIN { printf \"%.1f\", $end - $start }")"
	grep '^not ok' "$log" || true
	if ((ok < floor)); then
		echo "$name: below the floor; the log is $log" >&2
		status=1
	fi
}
run iommufd "$FLOOR_IOMMUFD"
run iommufd_fail_nth "$FLOOR_FAIL_NTH"
exit $status
