# Makefile for trail: AWS CloudTrail rebuilt inside PostgreSQL.
#
# The two commands a newcomer needs:
#   make sandbox   install what is missing, build, start ./sandbox with trail, show it working
#   make test      the same bootstrap, then every test suite on throwaway clusters
# Everything else is ordinary PGXS (make, make install).

EXTENSION = trail
MODULE_big = trail
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
DATA = $(wildcard trail--*.sql)

# pg_regress suites (sql/*.sql, expected/*.out); run by scripts/test.sh
REGRESS = $(basename $(notdir $(sort $(wildcard sql/*.sql))))
REGRESS_OPTS = --inputdir=.

PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
PG_CPPFLAGS = -I$(srcdir)/src
# Warning-free under -Wall -Wextra -Werror; the two -Wno- are for PostgreSQL's own headers
# and its Node/DefElem idioms, not for our code paths.
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
SHLIB_LINK = -lcrypto -lz -ldeflate

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# every object is rebuilt when any of our headers changes (PGXS tracks none)
$(OBJS): $(wildcard src/*.h) src/error_names.h

# SQLSTATE -> condition name, from the server's own list (errorCode of failed
# statements: 42501 -> insufficient_privilege -> InsufficientPrivilege)
ERRCODES_TXT = $(shell $(PG_CONFIG) --sharedir)/errcodes.txt
src/error_names.h: $(ERRCODES_TXT)
	awk '$$2 ~ /^[EWS]$$/ && NF >= 4 {printf "\t{\"%s\", \"%s\"},\n", $$1, $$4}' $< > $@
EXTRA_CLEAN = src/error_names.h

# resource ARNs name the database: give the regression database a stable name
CONTRIB_TESTDB = trail_regress

.PHONY: bootstrap sandbox sandbox-stop test bench

bootstrap:
	@bash scripts/bootstrap.sh

sandbox:
	@bash scripts/sandbox.sh start

sandbox-stop:
	@bash scripts/sandbox.sh stop

test:
	@bash scripts/test.sh

bench:
	@bash bench/lookup.sh

# trail-validate: the offline validator
# A standalone command for auditors (tools/trail_validate.c) on the same
# checking code as the extension (src/log_validation.c), built without any
# PostgreSQL header; its copy of log_validation.o lives in tools/ so that it
# does not clash with the PGXS object src/log_validation.o.
VALIDATE_CFLAGS = -std=c99 -O2 -g -Wall -Wextra -Werror -I src
VALIDATE_OBJS = tools/trail_validate.o tools/log_validation.o

all: trail-validate

trail-validate: $(VALIDATE_OBJS)
	$(CC) $(VALIDATE_CFLAGS) -o $@ $(VALIDATE_OBJS) -lcrypto -lz

tools/trail_validate.o: tools/trail_validate.c src/log_validation.h
	$(CC) $(VALIDATE_CFLAGS) -c -o $@ tools/trail_validate.c

tools/log_validation.o: src/log_validation.c src/log_validation.h
	$(CC) $(VALIDATE_CFLAGS) -c -o $@ src/log_validation.c

.PHONY: install-validate
install: install-validate

install-validate: trail-validate
	$(MKDIR_P) '$(DESTDIR)$(bindir)'
	$(INSTALL_PROGRAM) trail-validate '$(DESTDIR)$(bindir)/trail-validate'

.PHONY: clean-validate
clean: clean-validate

clean-validate:
	rm -f trail-validate $(VALIDATE_OBJS)

.PHONY: uninstall-validate
uninstall: uninstall-validate

uninstall-validate:
	rm -f '$(DESTDIR)$(bindir)/trail-validate'
