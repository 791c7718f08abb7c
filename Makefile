# tapir - one Makefile for the agent, BPF programs, tests and benchmarks.
# Quiet by default; `make V=1` prints full commands.  Output in build/.
#   make            build/tapir
#   make test       unit + end-to-end tests (needs root for the netns lab)
#   make unit       unit tests only
#   make bench      benchmarks (prints ratios measured in one run), then the soak
#   make CC=clang   the same with clang; both must build with -Werror
#   make fuzz       each libFuzzer harness in turn, FUZZ_SECONDS (60) each
#   make test-asan  unit tests + fuzz replays under clang ASan+UBSan+LSan

.DELETE_ON_ERROR:
.SUFFIXES:

CC      ?= gcc
BUILD   ?= build
PKGS    := libpcap openssl zlib libbrotlidec libnghttp2 libbpf libxdp
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lpcap -lssl -lcrypto -lz -lbrotlidec -lnghttp2 -lxdp -lbpf -lelf)

OPT     ?= -O2 -g
WARN    := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wstrict-prototypes -Wmissing-prototypes
CFLAGS  ?=
CFLAGS  += $(OPT) $(WARN) -std=gnu11 -D_GNU_SOURCE -fno-strict-aliasing $(PKG_CFLAGS) -Iagent -Itc -Ixdp -I$(BUILD)/bpf
LDFLAGS ?=
LDLIBS  += $(PKG_LIBS) -lm

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

AGENT_SRCS := $(sort $(wildcard agent/*.c))
AGENT_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(AGENT_SRCS))
LIB_OBJS   := $(filter-out $(BUILD)/obj/agent/main.o,$(AGENT_OBJS))
UNIT_SRCS  := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
TOOL_SRCS  := $(sort $(wildcard tests/tools/*.c))
TOOL_BINS  := $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(TOOL_SRCS))
BPF_TEST_SRCS := $(sort $(wildcard tests/bpf/test_*.c))
BPF_TEST_BINS := $(patsubst tests/bpf/%.c,$(BUILD)/tests/%,$(BPF_TEST_SRCS))

# BPF programs: clang -target bpf against UAPI headers only, then a libbpf
# skeleton from bpftool that the loader (agent/capture.c) includes.
CLANG   ?= clang
BPFTOOL ?= bpftool
ARCH_INC := /usr/include/$(shell uname -m)-linux-gnu
BPF_CFLAGS := -target bpf -mcpu=v3 -g -O2 -Wall -Werror -I$(ARCH_INC)
BPF_HDRS := $(wildcard bpf/*.h) $(wildcard tc/*.h) $(wildcard xdp/*.h)
SKELS   := $(BUILD)/bpf/capture.skel.h $(BUILD)/bpf/span.skel.h
# kept: the objects include them, and a skeleton is worth keeping to read
.SECONDARY: $(SKELS) $(SKELS:.skel.h=.bpf.o)

# fuzz harnesses: tests/fuzz/fuzz_<name>.c.  In every build each is also
# linked with replay_main.c as a unit binary, build/tests/test_fuzz_<name>,
# that replays tests/fuzz/{regress,corpus}/<name>/.
FUZZ_SRCS  := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(FUZZ_SRCS))
FUZZ_REPLAY_BINS := $(patsubst %,$(BUILD)/tests/test_fuzz_%,$(FUZZ_NAMES))
UNIT_BINS  += $(FUZZ_REPLAY_BINS)
FUZZ_SECONDS ?= 60
FUZZ_BUILD ?= build-fuzz
SAN_FLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer


.PHONY: all clean unit test e2e bench bench-shim demo install-deps tools shim fuzz fuzz-bins test-asan asan-tapir soak
all: $(BUILD)/tapir $(BUILD)/libtapir-keylog.so

$(BUILD)/bpf/%.bpf.o: tc/%.bpf.c $(BPF_HDRS) Makefile
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/bpf/%.bpf.o: xdp/%.bpf.c $(BPF_HDRS) Makefile
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/bpf/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $*_bpf > $@

$(BUILD)/obj/%.o: %.c $(wildcard agent/*.h) $(BPF_HDRS) $(SKELS) Makefile
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/tapir: $(AGENT_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# keys/: the LD_PRELOAD shim.  No OpenSSL at link time (-z defs proves it):
# everything of libssl is found with dlsym, so a program without OpenSSL
# loads it unharmed.
# Never sanitizer-instrumented (OPT/LDFLAGS are not used): it is loaded
# into programs that have no sanitizer runtime.
SHIM_CFLAGS := -O2 -g $(WARN) -std=gnu11 -fPIC -fvisibility=hidden
$(BUILD)/libtapir-keylog.so: keys/keylog_shim.c Makefile
	$(call msg,SHLIB,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(SHIM_CFLAGS) -shared -Wl,-z,defs -Wl,-z,now -o $@ $< -ldl -pthread

shim: $(BUILD)/libtapir-keylog.so

$(BUILD)/libtapir.a: $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/tests/%: tests/unit/%.c tests/unit/tt.h $(BUILD)/libtapir.a
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libtapir.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/test_%_bpf: tests/bpf/test_%_bpf.c tests/unit/tt.h $(wildcard tests/bpf/*.h) $(SKELS) $(BPF_HDRS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(LDFLAGS) $(LDLIBS)

# bench/capture.sh's program cost without traffic needs the skeleton
$(BUILD)/tools/bpf_cost: $(SKELS) $(BPF_HDRS)

$(BUILD)/tools/%: tests/tools/%.c $(BUILD)/libtapir.a
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libtapir.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/test_fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/replay_main.c $(wildcard tests/fuzz/*.h) $(BUILD)/libtapir.a
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -Itests/fuzz -DFUZZ_NAME='"$*"' -DFUZZ_DIR='"$(CURDIR)/tests/fuzz"' \
		-o $@ $< tests/fuzz/replay_main.c $(BUILD)/libtapir.a $(LDFLAGS) $(LDLIBS)

# libFuzzer binaries (only in the fuzz build: agent objects built with
# -fsanitize=fuzzer-no-link, the harness linked with -fsanitize=fuzzer)
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(wildcard tests/fuzz/*.h) $(BUILD)/libtapir.a
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -Itests/fuzz -fsanitize=fuzzer -o $@ $< $(BUILD)/libtapir.a $(LDFLAGS) $(LDLIBS)

fuzz-bins: $(patsubst %,$(BUILD)/fuzz/fuzz_%,$(FUZZ_NAMES))

# make fuzz [FUZZ_SECONDS=60] [FUZZ=name ...]: new inputs go to
# $(FUZZ_BUILD)/corpus/<name>, crashes to $(FUZZ_BUILD)/crashes/<name>/.
fuzz:
	+$(Q)$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang \
		OPT="-O1 -g -fsanitize=fuzzer-no-link $(SAN_FLAGS)" LDFLAGS="$(SAN_FLAGS)" fuzz-bins
	$(Q)tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(or $(FUZZ),$(FUZZ_NAMES))

# unit tests and fuzz replays under ASan + UBSan, LeakSanitizer on
ASAN_MAKE := $(MAKE) --no-print-directory BUILD=build-asan CC=clang OPT="-O1 -g $(SAN_FLAGS)" LDFLAGS="$(SAN_FLAGS)"
test-asan:
	+$(Q)ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		$(ASAN_MAKE) unit

# build-asan/tapir: the agent under ASan + UBSan (tests/e2e/faults.sh, attacks.sh)
asan-tapir:
	+$(Q)$(ASAN_MAKE) build-asan/tapir

# build-tsan/tapir: the agent under ThreadSanitizer (tests/e2e/faults.sh
# runs `tapir read --threads 3` with it)
tsan-tapir:
	+$(Q)$(MAKE) --no-print-directory BUILD=build-tsan CC=clang OPT="-O1 -g -fsanitize=thread" LDFLAGS="-fsanitize=thread" build-tsan/tapir

tools: $(TOOL_BINS)

unit: $(UNIT_BINS) $(BPF_TEST_BINS)
	$(Q)tests/run-unit.sh $(UNIT_BINS) $(BPF_TEST_BINS)

test: all $(UNIT_BINS) $(BPF_TEST_BINS) $(TOOL_BINS)
	$(Q)tests/run.sh

e2e: all $(TOOL_BINS)
	$(Q)tests/run.sh --e2e-only

bench: all $(TOOL_BINS)
	$(Q)bench/run.sh
	$(Q)bench/soak.sh

# SOAK_SECONDS (600) of mixed live lab traffic through tapir capture (root)
soak: all
	$(Q)bench/soak.sh

bench-shim: all $(BUILD)/tools/tls_pair
	$(Q)bench/shim.sh

demo: all
	$(Q)scripts/demo.sh

install-deps:
	$(Q)scripts/install-deps.sh

clean:
	rm -rf $(BUILD)

# The shim's test runs a real OpenSSL program under the shim.
$(BUILD)/tests/test_shim: $(BUILD)/libtapir-keylog.so $(BUILD)/tools/tls_pair
