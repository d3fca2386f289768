# mod_xport -- build, run, test.
#
#   make            build mod_xport.so (apxs) and the engine library
#   make run        install missing packages (as root), build, start httpd on
#                   127.0.0.1:8080 with the demo database
#   make test       install missing packages (as root), build, run the suite
#   make install    install the module and conf/xport.{load,conf} for a2enmod
#   make SANITIZE=1 ...   build everything with AddressSanitizer + UBSan

APXS     ?= apxs
CC       ?= cc
SANITIZE ?=
# sanitizer builds live apart so the two never mix objects
BUILD    := $(if $(filter 1,$(SANITIZE)),build-asan,build)

ENGINE   := util section json hash filter archive manifest source store export \
            areader ndjson import sink multipart
GLUE     := config status worker http api_native upload

WARN     := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes
APR_CFLAGS := $(shell pkg-config --cflags apr-1 apr-util-1 2>/dev/null)
APR_LIBS   := $(shell pkg-config --libs apr-1 apr-util-1 2>/dev/null)
EXT_LIBS   := -ljansson -larchive -lcrypto -lz -lzstd -lsqlite3
OPT      ?= -O2 -g
ifeq ($(SANITIZE),1)
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer
OPT      := -O1 -g
endif
CFLAGS_ENGINE := $(OPT) $(WARN) $(SAN) -fPIC -std=gnu99 -Iinclude $(APR_CFLAGS)
HTTPD_INC := $(shell $(APXS) -q INCLUDEDIR 2>/dev/null)

ENGINE_OBJ := $(ENGINE:%=$(BUILD)/%.o)
LIB        := $(BUILD)/libxport.a
UNIT_SRC   := $(wildcard t/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:t/unit/%.c=$(BUILD)/unit/%)

.PHONY: all module lib unit deps run test install clean bench fmt

all: module

lib: $(LIB)

$(BUILD)/%.o: src/%.c $(wildcard include/*.h) | $(BUILD)
	$(CC) $(CFLAGS_ENGINE) -c -o $@ $<

$(LIB): $(ENGINE_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD):
	mkdir -p $(BUILD) $(BUILD)/unit

# The module: the glue compiled by apxs, linked with the engine library.
module: $(BUILD)/mod_xport.so

$(BUILD)/mod_xport.so: mod_xport.c $(GLUE:%=src/%.c) $(LIB) $(wildcard include/*.h)
	$(APXS) -c -o $(BUILD)/mod_xport.la \
	    -Wc,"$(OPT) $(WARN) $(SAN) -std=gnu99" -Iinclude \
	    $(if $(SAN),-Wl,"$(SAN)") \
	    mod_xport.c $(GLUE:%=src/%.c) $(LIB) $(EXT_LIBS)
	cp $(BUILD)/.libs/mod_xport.so $@
	@rm -f *.lo *.la *.slo src/*.lo src/*.slo src/*.o *.o; rm -rf .libs src/.libs

# C unit tests (TAP), linked against the engine only.
unit: $(UNIT_BIN)

$(BUILD)/unit/%: t/unit/%.c t/unit/tap.h $(LIB) | $(BUILD)
	$(CC) $(CFLAGS_ENGINE) -It/unit -o $@ $< $(LIB) $(APR_LIBS) $(EXT_LIBS) $(SAN)

deps:
	@sh ./conf/deps.sh

install: module
	$(APXS) -i -n xport $(BUILD)/mod_xport.so
	install -d $(DESTDIR)$$($(APXS) -q SYSCONFDIR)/mods-available
	install -m 0644 conf/xport.load conf/xport.conf \
	    $(DESTDIR)$$($(APXS) -q SYSCONFDIR)/mods-available/

run: deps
	@$(MAKE) --no-print-directory all
	@sh ./conf/run.sh

test: deps
	@$(MAKE) --no-print-directory all unit
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) sh ./t/run-tests.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@sh ./bench/run.sh

fmt:
	clang-format -i mod_xport.c src/*.c include/*.h t/unit/*.c

clean:
	rm -rf build build-asan t/logs t/TEST t/conf/httpd.conf t/conf/extra.conf \
	    t/conf/apache_test_config.pm t/conf/modperl_inc.pl t/htdocs/index.html
