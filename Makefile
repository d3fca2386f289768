# mod_xport -- build, run, test.
#
#   make            build mod_xport.so (apxs) and the engine library
#   make run        install missing packages (as root), build, start httpd on
#                   127.0.0.1:8080 with the demo database
#   make test       install missing packages (as root), build, run the suite
#   make install    install the module and conf/xport.{load,conf} for a2enmod
#   make load       build, then 200 clients poll for 60 s while jobs run
#                   (bench/load.sh; XPORT_LOAD_BACKEND=sqlite|pgsql)
#   make bench-events  build, then 200 clients poll a job with and without
#                   100 event streams open (bench/events.sh, via bench/run.sh)
#   make SANITIZE=1 ...   build everything with AddressSanitizer + UBSan
#   make fuzz       build the libFuzzer targets (clang) into build/fuzz/
#   make fuzz-run   run each for FUZZ_SECONDS (60), two at a time

APXS     ?= apxs
CC       ?= cc
SANITIZE ?=
# sanitizer builds live apart so the two never mix objects
BUILD    := $(if $(filter 1,$(SANITIZE)),build-asan,build)

# the engine (src/engine/, no httpd header)
ENGINE   := $(sort $(notdir $(basename $(wildcard src/engine/*.c))))
# the glue: httpd plumbing under src/httpd/, one file per API under src/api/
GLUE     := $(wildcard src/httpd/*.c) $(wildcard src/api/*.c)

WARN     := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes
APR_CFLAGS := $(shell pkg-config --cflags apr-1 apr-util-1 2>/dev/null)
APR_LIBS   := $(shell pkg-config --libs apr-1 apr-util-1 2>/dev/null)
# libpq: the native PostgreSQL connection (exports read with COPY TO,
# imports write with COPY FROM and prepared statements)
PQ_CFLAGS  := $(shell pkg-config --cflags libpq 2>/dev/null || echo -I/usr/include/postgresql)
EXT_LIBS   := -ljansson -larchive -lcrypto -lz -lzstd -lsqlite3 -lpq
OPT      ?= -O2 -g
ifeq ($(SANITIZE),1)
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer
OPT      := -O1 -g
endif
CFLAGS_ENGINE := $(OPT) $(WARN) $(SAN) -fPIC -std=gnu99 -Iinclude $(APR_CFLAGS) \
                 $(PQ_CFLAGS)
HTTPD_INC := $(shell $(APXS) -q INCLUDEDIR 2>/dev/null)

ENGINE_OBJ := $(ENGINE:%=$(BUILD)/%.o)
LIB        := $(BUILD)/libxport.a
UNIT_SRC   := $(wildcard t/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:t/unit/%.c=$(BUILD)/unit/%)

.PHONY: all module lib unit deps run test install clean bench bench-events load fmt fuzz fuzz-run fuzz-regress

all: module

lib: $(LIB)

$(BUILD)/%.o: src/engine/%.c $(wildcard include/*.h) | $(BUILD)
	$(CC) $(CFLAGS_ENGINE) -c -o $@ $<

$(LIB): $(ENGINE_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD):
	mkdir -p $(BUILD) $(BUILD)/unit

# The module: the glue compiled by apxs, linked with the engine library.
module: $(BUILD)/mod_xport.so

$(BUILD)/mod_xport.so: mod_xport.c $(GLUE) $(LIB) $(wildcard include/*.h)
	$(APXS) -c -o $(BUILD)/mod_xport.la \
	    -Wc,"$(OPT) $(WARN) $(SAN) -std=gnu99" -Iinclude \
	    $(if $(SAN),-Wl,"$(SAN)") \
	    mod_xport.c $(GLUE) $(LIB) $(EXT_LIBS)
	cp $(BUILD)/.libs/mod_xport.so $@
	@rm -f *.lo *.la *.slo *.o src/*/*.lo src/*/*.slo src/*/*.o; rm -rf .libs src/*/.libs

# C unit tests (TAP), linked against the engine only.
unit: $(UNIT_BIN)

$(BUILD)/unit/%: t/unit/%.c $(wildcard t/unit/*.h) $(LIB) | $(BUILD)
	@mkdir -p $(BUILD)/unit # build/ may exist already (make fuzz)
	$(CC) $(CFLAGS_ENGINE) -It/unit -o $@ $< $(LIB) $(APR_LIBS) $(EXT_LIBS) $(SAN)

deps:
	@sh ./conf/deps.sh

# ------------------------------------------------------------------ fuzz
# libFuzzer targets (fuzz/fuzz_*.c), each linked with the engine sources
# compiled again by clang with ASan + UBSan (any UB aborts); the engine
# library above is gcc's and cannot carry libFuzzer's instrumentation.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_DIR     := build/fuzz
FUZZ_TARGETS := filter manifest ndjson entryname multipart areader
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                -fno-omit-frame-pointer
FUZZ_CFLAGS  := -O1 -g $(WARN) $(FUZZ_SAN) -std=gnu99 -Iinclude $(APR_CFLAGS) \
                $(PQ_CFLAGS)
FUZZ_OBJ     := $(ENGINE:%=$(FUZZ_DIR)/obj/%.o)
FUZZ_BIN     := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)

fuzz: $(FUZZ_BIN)

.SECONDARY: $(FUZZ_OBJ)

$(FUZZ_DIR)/obj/%.o: src/engine/%.c $(wildcard include/*.h)
	@mkdir -p $(FUZZ_DIR)/obj
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_DIR)/fuzz_%: fuzz/fuzz_%.c $(wildcard fuzz/*.h) $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Wno-missing-prototypes -fsanitize=fuzzer \
	    -o $@ $< $(FUZZ_OBJ) $(APR_LIBS) $(EXT_LIBS)

# Each target for FUZZ_SECONDS from its seed corpus and regression
# inputs, two at a time; fails if any finds a crash, leak or UB (the
# input is kept under build/fuzz/crashes/<target>/).
fuzz-run: fuzz
	@FUZZ_DIR=$(FUZZ_DIR) sh ./fuzz/run.sh run $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# Every input under fuzz/regress/ and fuzz/corpus/, replayed once.
fuzz-regress: fuzz
	@FUZZ_DIR=$(FUZZ_DIR) sh ./fuzz/run.sh regress $(FUZZ_TARGETS)

install: module
	$(APXS) -i -n xport $(BUILD)/mod_xport.so
	install -d $(DESTDIR)$$($(APXS) -q SYSCONFDIR)/mods-available
	install -m 0644 conf/xport.load conf/xport.conf \
	    $(DESTDIR)$$($(APXS) -q SYSCONFDIR)/mods-available/

run: deps
	@$(MAKE) --no-print-directory all
	@sh ./conf/run.sh

# The suite replays every fuzz regression input and corpus file (from
# t/run-tests.sh); the bounded fuzz runs (a minute a target) are
# `make fuzz-run`, which .ci/run adds after the suite.
test: deps
	@$(MAKE) --no-print-directory all unit fuzz
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) sh ./t/run-tests.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@sh ./bench/run.sh

load: deps
	@$(MAKE) --no-print-directory all
	@sh ./bench/load.sh

bench-events: deps
	@$(MAKE) --no-print-directory all
	@BENCHES=events sh ./bench/run.sh

fmt:
	clang-format -i mod_xport.c src/*/*.c include/*.h t/unit/*.c

clean:
	rm -rf build build-asan t/logs t/TEST t/conf/httpd.conf t/conf/extra.conf \
	    t/conf/apache_test_config.pm t/conf/modperl_inc.pl t/htdocs/index.html
