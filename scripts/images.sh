#!/usr/bin/env bash
# `make images`: builds Portico's images from docker/Dockerfile with podman, tagged
# localhost/portico-gateway, localhost/portico-worker and localhost/portico-examples (the names
# docker/docker-compose.yml gives them), and prints their sizes.
#   The base image, debian:bookworm-slim, is pulled, or where no image registry answers made here
#   with debootstrap and imported; podman's store keeps it for the next build.
#   The Python and npm packages the build needs are fetched on this host into docker/inputs/
#   (docker/inputs/README.md): a build inside a container may reach Debian's mirror and nothing
#   else. Where a build reaches every registry, the Dockerfile works with docker/inputs/ empty.
# PORTICO_IMAGES: the targets to build ("gateway worker examples"); PORTICO_IMAGES_TAG: their tag
# (latest). Podman's settings are docker/podman/containers.conf unless CONTAINERS_CONF names others.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
# shellcheck source=../versions.env
. ./versions.env

step() { printf 'images: %s\n' "$*"; }
fail() { printf 'images: FAILED: %s\n' "$*" >&2; exit 1; }

export CONTAINERS_CONF=${CONTAINERS_CONF:-$top/docker/podman/containers.conf}
base=docker.io/library/debian:bookworm-slim
inputs=docker/inputs
targets=${PORTICO_IMAGES:-gateway worker examples}
tag=${PORTICO_IMAGES_TAG:-latest}

# Files a slim image leaves out, as Debian's official slim images do; a package installed later
# in an image leaves them out too.
slim_excludes='path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*'

# debian:bookworm-slim from Debian's mirror: a minimal bookworm, with the updates and security
# suites as apt sources, without documentation, apt's lists and caches, or this host's names;
# as in Debian's official images, apt keeps no downloaded packages or caches in an image.
make_base() {
	local root=$1
	step "no image registry answered: making $base with debootstrap (minbase bookworm)"
	debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >"$root.log" 2>&1 ||
		fail "debootstrap bookworm (log: $root.log)"
	printf '%s\n' "$slim_excludes" >"$root/etc/dpkg/dpkg.cfg.d/slim"
	cat >"$root/etc/apt/apt.conf.d/slim" <<-'EOF'
		DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
		APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
		Dir::Cache::pkgcache "";
		Dir::Cache::srcpkgcache "";
	EOF
	find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
	find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
	find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
	rm -rf "$root"/usr/share/{man,info,lintian,linda}/* "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* \
		"$root"/var/cache/debconf/*-old "$root"/var/log/* "$root"/etc/resolv.conf "$root"/etc/hostname \
		"$root"/etc/apt/sources.list
	cat >"$root/etc/apt/sources.list.d/debian.sources" <<-'EOF'
		Types: deb
		URIs: http://deb.debian.org/debian
		Suites: bookworm bookworm-updates
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

		Types: deb
		URIs: http://deb.debian.org/debian-security
		Suites: bookworm-security
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	EOF
	tar -C "$root" --numeric-owner -c . | podman import -q --change 'CMD ["bash"]' - "$base" >/dev/null ||
		fail "podman import $base"
}

ensure_base() {
	podman image exists "$base" && return 0
	step "pulling $base"
	podman pull -q "$base" >/dev/null 2>&1 && return 0
	local root
	root=$(mktemp -d /var/tmp/portico-base.XXXXXX)
	make_base "$root"
	rm -rf "$root" "$root.log"
}

# The wheels of every Python package the build stage and the examples image install, for this
# host's Python (Debian bookworm's, as in the images), and Redoc's package as the set-up keeps it.
fetch_inputs() {
	local cryptography want
	cryptography=$(grep '^cryptography==' tests/requirements.txt)
	want="$TEMPORALIO_VERSION $GOOGLEAPIS_COMMON_PROTOS_VERSION $PROTOBUF_PY_VERSION $cryptography $REDOC_VERSION $(sha256sum scripts/requirements-build.txt | cut -c1-16)"
	[ "$(cat "$inputs/.stamp" 2>/dev/null)" = "$want" ] && return 0
	step "fetching the images' Python packages and Redoc into $inputs/"
	rm -rf "$inputs/wheels" "$inputs"/redoc-*.tgz "$inputs/.stamp"
	.venv/bin/pip download -q --disable-pip-version-check --only-binary=:all: --dest "$inputs/wheels" \
		"temporalio==$TEMPORALIO_VERSION" "googleapis-common-protos==$GOOGLEAPIS_COMMON_PROTOS_VERSION" \
		"protobuf==$PROTOBUF_PY_VERSION" "$cryptography" -r scripts/requirements-build.txt ||
		fail "pip download into $inputs/wheels"
	cp ".tools/redoc/redoc-$REDOC_VERSION.tgz" "$inputs/" || fail "copying Redoc's package into $inputs/"
	echo "$want" >"$inputs/.stamp"
}

scripts/setup.sh
ensure_base
fetch_inputs
# Host networking: Debian's mirror is reached as this host reaches it. Docker's image format, since
# OCI's has no HEALTHCHECK. Layers are cached between builds; the gateway and the worker share
# the build stage.
mkdir -p build/images
for target in $targets; do
	log=build/images/$target.log
	step "building localhost/portico-$target:$tag (docker/Dockerfile, target $target; log: $log)"
	start=$(date +%s)
	podman build --format docker --pull=never --network=host -f docker/Dockerfile --target "$target" \
		-t "localhost/portico-$target:$tag" . >"$log" 2>&1 || { tail -n 40 "$log" >&2; fail "podman build --target $target"; }
	step "built localhost/portico-$target:$tag in $(($(date +%s) - start))s"
done
for target in $targets; do
	size=$(podman image inspect --format '{{.Size}}' "localhost/portico-$target:$tag")
	printf 'images: localhost/portico-%s:%s  %s\n' "$target" "$tag" "$(numfmt --to=si --round=nearest --suffix=B "$size")"
done
