# runbox: one binary, build/runbox. Every library comes through pkg-config.
CC ?= cc
PREFIX ?= /usr/local
BUILD ?= build

PKGS := libarchive libcrypto libcjson sqlite3 libmicrohttpd libcurl libseccomp libcap \
	libnl-3.0 libnl-route-3.0 libmnl libnftnl
CFLAGS ?= -O2 -g
# CFLAGS stays the user's (make asan sets it); the project's own flags come on top
ALL_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -D_GNU_SOURCE -pthread \
	$(if $(findstring clang,$(CC)),,-Wno-format-truncation) \
	-I. $(shell pkg-config --cflags $(PKGS))
ALL_CFLAGS += $(CFLAGS)
LDLIBS += $(shell pkg-config --libs $(PKGS)) -pthread

# The library: every room but the CLI. The CLI's files each carry one verb.
LIB_SRC := $(wildcard common/*.c images/*.c fs/*.c isolation/*.c netpolicy/*.c runtime/*.c)
CLI_SRC := $(wildcard cli/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/agent-blob.o
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
# cmocka suites: tests/unit (logic) and tests/security (attacks on the real kernel)
UNIT_SRC := $(wildcard tests/unit/test_*.c tests/security/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/%.c=$(BUILD)/tests/%)
HELPER_SRC := $(wildcard tests/helpers/*.c)
HELPER_BIN := $(HELPER_SRC:tests/helpers/%.c=$(BUILD)/tests/%)
ALL_SRC := $(LIB_SRC) $(CLI_SRC) $(UNIT_SRC) $(HELPER_SRC)

.PHONY: all deps test unit integration lint format asan install clean bench fuzz
all: $(BUILD)/runbox

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

# The agent is static and built without sanitizers (they cannot be linked statically), with
# musl where it is installed: a static glibc program takes about 0.7 ms from exec to main on our
# machines (its start-up touches hundreds of pages), a musl one 0.06 ms, and every sandbox
# start pays it once.
AGENT_CC ?= $(if $(shell command -v musl-gcc),musl-gcc,cc)
AGENT_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter -D_GNU_SOURCE

# The agent: a static program of its own, carried inside runbox and run from a sealed memfd.
$(BUILD)/runbox-agent: isolation/agent/agent.c isolation/agent/proto.h
	@mkdir -p $(dir $@)
	$(AGENT_CC) $(AGENT_CFLAGS) -static -o $@ isolation/agent/agent.c

$(BUILD)/obj/agent-blob.o: $(BUILD)/runbox-agent
	@mkdir -p $(dir $@)
	printf '.section .rodata\n.balign 16\n.global rb_agent_blob_start\n.global rb_agent_blob_end\nrb_agent_blob_start:\n.incbin "%s"\nrb_agent_blob_end:\n.section .note.GNU-stack,"",@progbits\n' $< > $(BUILD)/obj/agent-blob.S
	$(CC) -c -o $@ $(BUILD)/obj/agent-blob.S

$(BUILD)/librunbox.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/runbox: $(CLI_OBJ) $(BUILD)/librunbox.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/unit/%: tests/unit/%.c tests/testutil.h $(BUILD)/librunbox.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/librunbox.a $(LDLIBS) $(shell pkg-config --libs cmocka)

$(BUILD)/tests/security/%: tests/security/%.c tests/testutil.h $(BUILD)/librunbox.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/librunbox.a $(LDLIBS) $(shell pkg-config --libs cmocka)

$(BUILD)/tests/%: tests/helpers/%.c $(BUILD)/librunbox.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/librunbox.a $(LDLIBS)

deps:
	@scripts/deps.sh test

# `make test` sets up what is missing, builds, and runs every suite (as root: real kernel).
test: deps
	@$(MAKE) --no-print-directory all $(UNIT_BIN) $(HELPER_BIN)
	@tests/run.sh

unit: all $(UNIT_BIN)
	@tests/run.sh unit

integration: all $(UNIT_BIN) $(HELPER_BIN)
	@tests/run.sh security-c integration security

asan:
	@$(MAKE) --no-print-directory BUILD=build-asan CC=clang \
		CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		LDFLAGS="-fsanitize=address,undefined" build-asan/runbox \
		$(UNIT_SRC:tests/%.c=build-asan/tests/%)
	@BUILD=build-asan tests/run.sh unit security-c

FORMAT_SRC = $(sort $(filter-out $(BUILD)/% build/% build-asan/%,\
	$(ALL_SRC) $(wildcard isolation/agent/*.c isolation/agent/*.h tests/*/*.c tests/*.h */*.h)))

lint:
	clang-format --dry-run --Werror $(FORMAT_SRC)
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance --inline-suppr \
		--library=.cppcheck/cjson.cfg --suppressions-list=.cppcheck/suppressions.txt \
		-I. -D_GNU_SOURCE $(LIB_SRC) $(CLI_SRC)
	@# clang-tidy only: what the analyzer cannot see across files, in a header force-included
	@# into every file but common/error.c (which defines them): rb_error_set/sys/wrap return < 0
	@# and store their errno, and a cJSON_Is* predicate is false for NULL.
	@mkdir -p $(BUILD)/lint && { echo '#include "common/error.h"'; echo '#include <cjson/cJSON.h>'; \
		for f in set sys; do echo "#define rb_error_$$f(e, n, ...) __extension__({ \
			struct rb_error *rb_lint_e_ = (e); int rb_lint_n_ = (n), \
			rb_lint_r_ = (rb_error_$$f)(rb_lint_e_, rb_lint_n_, __VA_ARGS__); \
			if (rb_lint_r_ >= 0 || (rb_lint_e_ && rb_lint_e_->errnum != rb_lint_n_)) \
			__builtin_unreachable(); rb_lint_r_; })"; done; \
		echo '#define rb_error_wrap(e, ...) __extension__({ struct rb_error *rb_lint_e_ = (e); \
			int rb_lint_n_ = rb_lint_e_->errnum, rb_lint_r_ = (rb_error_wrap)(rb_lint_e_, __VA_ARGS__); \
			if (rb_lint_r_ >= 0 || rb_lint_e_->errnum != rb_lint_n_) __builtin_unreachable(); rb_lint_r_; })'; \
		for t in String Number Array Object Bool True False Null; do \
			echo "#define cJSON_Is$$t(i) ((cJSON_Is$$t)(i) && (i))"; done; } >$(BUILD)/lint/contracts.h
	@# One clang-tidy per file, nproc at a time; each file's report printed whole, without the
	@# compiler's "N warnings generated." lines.
	printf '%s\n' $(LIB_SRC) $(CLI_SRC) | xargs -P$$(nproc) -n1 sh -c \
		'inc="-include $(abspath $(BUILD))/lint/contracts.h"; [ "$$0" != common/error.c ] || inc=; \
		out=$$(clang-tidy --quiet "$$0" -- $(ALL_CFLAGS) -Wno-unknown-warning-option $$inc 2>&1); rc=$$?; \
		[ -z "$$out" ] || printf "%s\n" "$$out" | grep -v "^[0-9]* warnings\{0,1\} generated\.$$"; exit $$rc'

format:
	clang-format -i $(FORMAT_SRC)

# libFuzzer targets for the parsers (clang): make fuzz, then e.g.
# build-fuzz/fuzz/fuzz_dns -max_total_time=60 CORPUS_DIR
fuzz: build-fuzz/fuzz/fuzz_dns

build-fuzz/fuzz/fuzz_dns: tests/fuzz/fuzz_dns.c netpolicy/dns-wire.c common/error.c netpolicy/dns.h
	@mkdir -p $(dir $@)
	clang -std=gnu11 -O1 -g -D_GNU_SOURCE -I. -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -o $@ $(filter %.c,$^)

bench: all
	bench/run.sh

install: $(BUILD)/runbox
	install -D -m 0755 $(BUILD)/runbox $(DESTDIR)$(PREFIX)/bin/runbox
	install -D -m 0644 docs/runbox.1 $(DESTDIR)$(PREFIX)/share/man/man1/runbox.1

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) build-asan -name '*.d' 2>/dev/null)
