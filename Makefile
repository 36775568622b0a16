# Portico: one Makefile. `make run` and `make test` install what is missing, build and go.
#   make            build everything (build/)
#   make test       unit tests, the ASan/UBSan build's tests, integration tests on a dev server
#   make run        start the Temporal dev server, the gateway and the worker
#   make bench      benchmarks side by side with the peers, and the soak (bench/results/)
#   make soak       the soak alone: SOAK_SECONDS (600) of mixed traffic, the gateway's RSS slope
#   make cost       the gateway's CPU instructions per request, under callgrind (bench/results/)
#   make push-latency  how soon a closed workflow is heard of: history long poll vs completion callback
#   make fuzz       every libFuzzer harness in fuzz/ for FUZZ_SECONDS (60)
#   make images     the gateway, worker and examples images (docker/Dockerfile) with podman
#   make format     clang-format the C sources; `make format-check` checks them

include versions.env

BUILD ?= build
GEN := build/gen
SANITIZE ?=
PYTHON := .venv/bin/python
TEMPORAL := .tools/bin/temporal

PKGS := grpc libprotobuf-c jansson openssl libmicrohttpd zlib libcurl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CC ?= cc
CFLAGS := -std=gnu11 -g -O2 -Wall -Wextra -Werror -Isdk -Ihttpd -Igateway -Iworker -Iflow -I$(GEN) $(PKG_CFLAGS)
# libyaml and libjq (Debian's jq 1.6 ships no pkg-config file) serve flows (flow/).
LDLIBS := $(PKG_LIBS) -lyaml -ljq -lpthread -lm
ifeq ($(SANITIZE),fuzz)
# libFuzzer's coverage on every object of the harnesses' build (clang only; see make fuzz). Clang
# also warns about the deprecated fields that protoc-c's generated initializers name.
CFLAGS += -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined \
	-Wno-deprecated-declarations
LDFLAGS += -fsanitize=address,undefined
else ifneq ($(SANITIZE),)
CFLAGS += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif
# Generated code is compiled once, without sanitizers, and shared by both builds.
GEN_CFLAGS := -std=gnu11 -g -O2 -Wall -Wextra -Werror -I$(GEN) $(PKG_CFLAGS)

SDK_SRC := $(wildcard sdk/*.c)
SDK_OBJ := $(SDK_SRC:%.c=$(BUILD)/obj/%.o)
GATEWAY_SRC := $(filter-out gateway/main.c,$(wildcard gateway/*.c))
GATEWAY_OBJ := $(GATEWAY_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/routes.o $(GEN)/embedded.o
WORKER_SRC := $(filter-out worker/main.c,$(wildcard worker/*.c))
WORKER_OBJ := $(WORKER_SRC:%.c=$(BUILD)/obj/%.o)
# Flows (Serverless Workflow 1.0 documents): used by the gateway and the worker.
FLOW_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard flow/*.c))
# The HTTP server (all libmicrohttpd calls): the gateway's front and the worker's /metrics endpoint.
HTTPD_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard httpd/*.c))
EXAMPLE_LIBS := $(patsubst examples/activities/%.c,$(BUILD)/examples/lib%.so,$(wildcard examples/activities/*.c))
# C workflows the integration tests load with --workflows.
TEST_WORKFLOW_LIBS := $(patsubst tests/workflows/%.c,$(BUILD)/tests/workflows/lib%.so,$(wildcard tests/workflows/*.c))
EXAMPLE_WORKFLOWS := $(BUILD)/examples/libworkflows.so
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
PROBE := $(BUILD)/tests/client-probe

.PHONY: all programs setup sdk unit-tests check-unit test test-integration run bench soak cost push-latency \
	idle-streams format format-check clean fuzz fuzz-build fuzz-smoke images
.DEFAULT_GOAL := all
# Keep objects of test programs between builds.
.SECONDARY:

# The bench's C workflows and the JSON bench (which calls the gateway's request and response
# functions) are built too, so that a change of those APIs breaks the build, not a later make bench.
all: sdk programs $(UNIT_BIN) $(PROBE) $(TEST_WORKFLOW_LIBS) $(BUILD)/bench/libbenchworkflows.so $(BUILD)/bench/json_bench

# What is deployed: the gateway, the worker and the activity libraries (the Docker images' build).
programs: $(BUILD)/portico $(BUILD)/portico-worker $(EXAMPLE_LIBS) $(EXAMPLE_WORKFLOWS)

setup:
	@scripts/setup.sh

# --- Temporal API: descriptor set from the pinned package, then protoc-c, at build time --------
$(GEN)/.generated: versions.env scripts/protoset.py scripts/gen_registry.py | $(PYTHON)
	@rm -rf $(GEN) && mkdir -p $(GEN)
	@echo "gen   Temporal API (temporalio $(TEMPORALIO_VERSION)) -> $(GEN)"
	@$(PYTHON) scripts/protoset.py $(GEN)/temporal.fds >$(GEN)/protos.txt
	@protoc-c --descriptor_set_in=$(GEN)/temporal.fds --c_out=$(GEN) $$(cat $(GEN)/protos.txt)
	@$(PYTHON) scripts/gen_registry.py $(GEN) >$(GEN)/registry.c
	@touch $@

$(GEN)/libtemporal-api.a: $(GEN)/.generated
	@echo "cc    $(GEN)/**/*.pb-c.c"
	@find $(GEN) -name '*.pb-c.c' -o -name registry.c | grep -v '^$(GEN)/obj/' | xargs -P $$(nproc) -n 1 sh -c \
		'o=$(GEN)/obj/$${0#$(GEN)/}.o; mkdir -p $${o%/*} && $(CC) $(GEN_CFLAGS) -Isdk -c $$0 -o $$o'
	@rm -f $@ && find $(GEN)/obj -name '*.o' | xargs ar rcs $@

$(PYTHON):
	@scripts/setup.sh

# --- The OpenAPI document and the docs page, embedded in the gateway ------------------------------
# openapi/portico.yaml completed from the Temporal API; /docs renders it with Redoc (from npm).
REDOC := .tools/redoc/redoc.standalone.js

$(GEN)/openapi.json: openapi/portico.yaml scripts/gen_openapi.py $(GEN)/.generated
	@echo "gen   $(GEN)/openapi.json, openapi.yaml (from openapi/portico.yaml and the Temporal API)"
	@$(PYTHON) scripts/gen_openapi.py openapi/portico.yaml $(GEN)/temporal.fds $(GEN)

$(GEN)/embedded.c: $(GEN)/openapi.json openapi/docs.html $(REDOC) scripts/embed.py
	@$(PYTHON) scripts/embed.py $@ portico_openapi_json=$(GEN)/openapi.json portico_openapi_yaml=$(GEN)/openapi.yaml \
		portico_docs_html=openapi/docs.html portico_redoc_js=$(REDOC)

$(GEN)/embedded.o: $(GEN)/embedded.c
	@mkdir -p $(dir $@)
	@echo "cc    $<"
	@$(CC) $(GEN_CFLAGS) -c $< -o $@

$(REDOC):
	@scripts/setup.sh

# --- The SDK -------------------------------------------------------------------------------------
sdk: $(BUILD)/libportico.a

$(BUILD)/obj/%.o: %.c $(GEN)/.generated
	@mkdir -p $(dir $@)
	@echo "cc    $<"
	@$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libportico.a: $(SDK_OBJ)
	@rm -f $@ && ar rcs $@ $^

PORTICO_LIBS := $(BUILD)/libportico.a $(GEN)/libtemporal-api.a

# --- The HTTP server, shared by the gateway and the worker -------------------------------------
$(BUILD)/libhttpd.a: $(HTTPD_OBJ)
	@rm -f $@ && ar rcs $@ $^

# --- Flows ---------------------------------------------------------------------------------------
$(BUILD)/libflow.a: $(FLOW_OBJ)
	@rm -f $@ && ar rcs $@ $^

# --- The gateway ---------------------------------------------------------------------------------
# The traits and route table (permissions, overlay): a change of the tables rebuilds only this.
$(GEN)/routes.c: $(GEN)/.generated scripts/gen_routes.py gateway/permissions.tsv gateway/traits.tsv
	@$(PYTHON) scripts/gen_routes.py $(GEN)/temporal.fds gateway/permissions.tsv gateway/traits.tsv >$@.tmp && mv $@.tmp $@

$(BUILD)/obj/gen/routes.o: $(GEN)/routes.c gateway/router.h gateway/traits.h gateway/proxy.h gateway/result.h gateway/events.h gateway/flows.h \
		gateway/exchange.h gateway/permission.h gateway/auth.h
	@mkdir -p $(dir $@)
	@$(CC) $(CFLAGS) -c $(GEN)/routes.c -o $@

$(BUILD)/libgateway.a: $(GATEWAY_OBJ)
	@rm -f $@ && ar rcs $@ $^

$(BUILD)/portico: $(BUILD)/obj/gateway/main.o $(BUILD)/libgateway.a $(BUILD)/libflow.a $(BUILD)/libhttpd.a $(PORTICO_LIBS)
	@echo "link  $@"
	@$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# --- The bundled worker ---------------------------------------------------------------------------
$(BUILD)/libworker.a: $(WORKER_OBJ)
	@rm -f $@ && ar rcs $@ $^

# Activity libraries (dlopen'ed) resolve the SDK's functions from the worker, which exports the
# public API only: the functions of libportico.a that a public header names (those marked
# " * Public:" at their top), given to the linker as a dynamic list. A list made from the headers
# leaves them free of export macros, and, unlike -rdynamic with -fvisibility=hidden on the SDK,
# also keeps out every other object linked in (generated protobuf-c code, the HTTP server, the
# worker's own). After the link, the symbols exported must be the list, and an internal one
# (the transport's) must not be there.
PUBLIC_HEADERS := $(shell grep -l '^ \* Public:' sdk/*.h)

$(BUILD)/portico-worker.symbols: $(BUILD)/libportico.a $(PUBLIC_HEADERS)
	@grep -ohw 'portico_[a-z0-9_]*' $(PUBLIC_HEADERS) | sort -u >$@.names
	@nm -g --defined-only $(BUILD)/libportico.a | awk 'NF == 3 { print $$3 }' | sort -u | comm -12 - $@.names >$@
	@rm -f $@.names

$(BUILD)/portico-worker.exports: $(BUILD)/portico-worker.symbols
	@{ echo '{'; sed 's/.*/\t&;/' $<; echo '};'; } >$@

$(BUILD)/portico-worker: $(BUILD)/obj/worker/main.o $(BUILD)/libworker.a $(BUILD)/libflow.a $(BUILD)/libhttpd.a $(PORTICO_LIBS) \
		$(BUILD)/portico-worker.exports
	@echo "link  $@"
	@$(CC) $(LDFLAGS) -Wl,--dynamic-list=$(BUILD)/portico-worker.exports -Wl,--whole-archive $(BUILD)/libportico.a \
		-Wl,--no-whole-archive $(filter %.o %.a,$^) -o $@ $(LDLIBS) -ldl
	@nm -D --defined-only $@ | awk '$$3 ~ /^portico_/ { print $$3 }' | sort | cmp -s - $(BUILD)/portico-worker.symbols \
		|| { echo "$@ exports other portico_ symbols than its public headers declare" >&2; rm -f $@; exit 1; }
	@! nm -D --defined-only $@ | grep -qw portico_transport_call \
		|| { echo "$@ exports the transport's portico_transport_call" >&2; rm -f $@; exit 1; }

# User activities: a shared object per examples/activities/*.c, loaded with --activities.
$(BUILD)/examples/lib%.so: examples/activities/%.c $(PUBLIC_HEADERS) $(GEN)/.generated
	@mkdir -p $(dir $@)
	@echo "cc    $@"
	@$(CC) $(CFLAGS) -fPIC -shared $< -o $@

# The example workflows in C: one shared object of examples/workflows-c/*.c, loaded with --workflows.
$(EXAMPLE_WORKFLOWS): $(wildcard examples/workflows-c/*.c examples/workflows-c/*.h) $(PUBLIC_HEADERS) $(GEN)/.generated
	@mkdir -p $(dir $@)
	@echo "cc    $@"
	@$(CC) $(CFLAGS) -fPIC -shared $(filter %.c,$^) -o $@

# --- Tests ---------------------------------------------------------------------------------------
$(BUILD)/tests/workflows/lib%.so: tests/workflows/%.c $(PUBLIC_HEADERS) $(GEN)/.generated
	@mkdir -p $(dir $@)
	@echo "cc    $@"
	@$(CC) $(CFLAGS) -fPIC -shared $< -o $@

$(BUILD)/tests/test_%: $(BUILD)/obj/tests/unit/test_%.o $(BUILD)/libgateway.a $(BUILD)/libworker.a $(BUILD)/libflow.a $(BUILD)/libhttpd.a \
	$(PORTICO_LIBS)
	@mkdir -p $(dir $@)
	@echo "link  $@"
	@$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS) -lcmocka

$(PROBE): $(BUILD)/obj/tests/integration/client_probe.o $(PORTICO_LIBS)
	@mkdir -p $(dir $@)
	@echo "link  $@"
	@$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

check-unit: $(UNIT_BIN)
	@for t in $(UNIT_BIN); do echo "run   $$t"; $$t || exit 1; done

# ASan/UBSan: leak checks stay on; gRPC's process-wide caches are not ours to free.
SAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# make test's builds and fuzz runs use every core; its steps run one after the other.
JOBS := -j$(shell nproc)

test: setup
	@$(MAKE) --no-print-directory format-check
	@$(MAKE) --no-print-directory $(JOBS) all
	@$(MAKE) --no-print-directory $(JOBS) BUILD=build/asan SANITIZE=1 all
	@$(MAKE) --no-print-directory check-unit
	@$(SAN_ENV) $(MAKE) --no-print-directory BUILD=build/asan SANITIZE=1 check-unit
	@$(MAKE) --no-print-directory $(JOBS) fuzz-smoke
	@$(MAKE) --no-print-directory test-integration

# The integration tests run a file per core at once (pytest-xdist): each worker starts its own dev
# server and programs, so files share nothing but the machine. INTEGRATION_JOBS=0: one at a time,
# in pytest's own process.
INTEGRATION_JOBS ?= $(shell nproc)

test-integration:
	@$(SAN_ENV) PORTICO_PROBES="$(CURDIR)/$(BUILD)/tests/client-probe $(CURDIR)/build/asan/tests/client-probe" \
		TEMPORAL_CLI="$(CURDIR)/$(TEMPORAL)" $(PYTHON) -m pytest -q --durations=15 \
		-n $(INTEGRATION_JOBS) --dist loadfile tests/integration

run: setup all
	@scripts/run.sh

# The images of docker/Dockerfile, built with podman from a base made here when no image registry
# answers (scripts/images.sh); built from the sources, not from build/.
images:
	@scripts/images.sh

# --- Fuzzing: one libFuzzer harness per parser (fuzz/fuzz_*.c), built with clang ----------------
#   make fuzz            every harness for FUZZ_SECONDS (60) from its seed corpus, one line each,
#                        FUZZ_JOBS (one per core) at once
#   make fuzz-smoke      every harness for a few seconds, and every regression input (make test)
FUZZ_BUILD := build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_JOBS ?= $(shell nproc)
FUZZ_TARGETS := $(patsubst fuzz/%.c,$(FUZZ_BUILD)/%,$(wildcard fuzz/fuzz_*.c))

fuzz-build: $(GEN)/.generated
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang SANITIZE=fuzz $(FUZZ_TARGETS)

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/fuzz/fuzz_%.o $(FUZZ_BUILD)/libgateway.a $(FUZZ_BUILD)/libworker.a $(FUZZ_BUILD)/libflow.a \
		$(FUZZ_BUILD)/libhttpd.a \
		$(PORTICO_LIBS)
	@echo "link  $@"
	@$(CC) -fsanitize=fuzzer,address,undefined $^ -o $@ $(LDLIBS)

fuzz: setup
	@$(MAKE) --no-print-directory fuzz-build
	@FUZZ_JOBS=$(FUZZ_JOBS) scripts/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz-build
	@FUZZ_JOBS=$(FUZZ_JOBS) scripts/fuzz.sh 4 $(FUZZ_TARGETS)

# Benchmarks side by side with the peers (not part of make test): BENCH_FLAGS=--smoke for a short run.
bench: all $(BUILD)/bench/codec_bench $(BUILD)/bench/json_bench
	@scripts/setup.sh --bench
	@$(PYTHON) bench/run.py $(BENCH_FLAGS)

# The soak of make bench alone (SOAK_SECONDS, read by bench/soak.py): bench/results/<date>-soak.md.
soak: all
	@$(SAN_ENV) $(PYTHON) bench/soak.py --gateway $(BUILD)/portico

$(BUILD)/bench/codec_bench: $(BUILD)/obj/bench/codec_bench.o $(PORTICO_LIBS)
	@mkdir -p $(dir $@)
	@echo "link  $@"
	@$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# JSON <-> protobuf per byte, through the gateway's own request and response functions.
$(BUILD)/bench/json_bench: $(BUILD)/obj/bench/json_bench.o $(BUILD)/libgateway.a $(BUILD)/libflow.a $(BUILD)/libhttpd.a \
		$(PORTICO_LIBS)
	@mkdir -p $(dir $@)
	@echo "link  $@"
	@$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# The workflow benchmark's C workflows (bench/workflows.c), loaded with portico-worker --workflows.
$(BUILD)/bench/libbenchworkflows.so: bench/workflows.c $(PUBLIC_HEADERS) $(GEN)/.generated
	@mkdir -p $(dir $@)
	@echo "cc    $@"
	@$(CC) $(CFLAGS) -fPIC -shared $< -o $@

# Wake-up latency of a result wait (history long poll) against a completion webhook (callback).
push-latency: all
	@$(PYTHON) bench/push_latency.py --gateway $(BUILD)/portico

# Instructions per request (valgrind's callgrind): deterministic enough to compare two commits.
cost: $(BUILD)/portico
	@$(PYTHON) bench/gateway_cost.py --gateway $(BUILD)/portico $(COST_FLAGS)

# The gateway's memory per idle event stream (STREAMS, 2000, on one running workflow).
idle-streams: $(BUILD)/portico
	@$(PYTHON) bench/idle_streams.py --gateway $(BUILD)/portico --streams $(or $(STREAMS),2000)

# --- Style ---------------------------------------------------------------------------------------
C_SOURCES = $(shell git ls-files --cached --others --exclude-standard '*.c' '*.h' 2>/dev/null)
format:
	@clang-format -i $(C_SOURCES)
format-check:
	@clang-format --dry-run -Werror $(C_SOURCES)

clean:
	rm -rf build

-include $(SDK_OBJ:.o=.d) $(wildcard $(BUILD)/obj/flow/*.d $(BUILD)/obj/httpd/*.d $(BUILD)/obj/gateway/*.d $(BUILD)/obj/worker/*.d \
	$(BUILD)/obj/tests/*/*.d $(BUILD)/obj/fuzz/*.d)
