# geomx — one GNU Makefile for libgeomx.a, the programs, tests, fuzzers, man pages.
#
# Knobs: CUDA=1  SAN=address|undefined  DEBUG=1  V=1  PREFIX=/usr/local  DESTDIR=
#        BUILD=build (output folder; several builds may live side by side)
# Targets: all test demo install uninstall bench fuzz clean deps

PREFIX  ?= /usr/local
DESTDIR ?=
# Builds with different knobs get their own folder, so objects never mix.
BUILD   ?= build$(if $(SAN),-$(SAN))$(if $(filter 1,$(CUDA)),-cuda)$(if $(filter 1,$(DEBUG)),-debug)
CC      ?= cc
NVCC    ?= nvcc
CUDA_HOME ?= /usr/local/cuda
WERROR  ?= 1

ifeq ($(origin CC),default)
CC := cc
endif

# User CFLAGS/LDFLAGS are appended to ours, never replace them.
OPT      ?= -O2
GX_CPPFLAGS := -Ilib -Ikernels -D_GNU_SOURCE $(CPPFLAGS)
# Programs see only the public headers: lib/geomx.h and each room's
# gx_ROOM.h, staged in $(BUILD)/include as `make install` lays them out, so
# a program that includes a private header of lib/ does not compile.
PUB_HDRS := lib/geomx.h $(wildcard lib/*/gx_*.h)
PUB_DIR  := $(BUILD)/include/geomx
PUB_STAGED := $(PUB_HDRS:lib/%=$(PUB_DIR)/%)
CMD_CPPFLAGS := -I$(PUB_DIR) -D_GNU_SOURCE $(CPPFLAGS)
# -fno-math-errno: nothing reads errno after math calls, and it lets sqrtf
# vectorize (the optimizers' loops).
GX_CFLAGS   := -std=c11 -g -Wall -Wextra -Wshadow -Wno-unused-parameter -fno-strict-aliasing \
	       -fno-math-errno \
	       -MMD -MP
ifeq ($(WERROR),1)
GX_CFLAGS   += -Werror
endif
GX_LDFLAGS  :=
LDLIBS   += -lopenblas -lsodium -lzstd -lz -lm -lpthread

ifeq ($(DEBUG),1)
OPT      := -O0 -g3
GX_CPPFLAGS += -DGX_DEBUG=1
endif
ifneq ($(SAN),)
GX_CFLAGS   += -fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=all
GX_LDFLAGS  += -fsanitize=$(SAN)
endif
GX_CFLAGS += $(OPT) $(CFLAGS)
GX_LDFLAGS += $(LDFLAGS)
ifeq ($(V),1)
Q :=
else
Q := @
endif

LIB_SRC  := $(wildcard lib/*/*.c) $(wildcard kernels/cpu/*.c)
ifeq ($(CUDA),1)
CU_SRC   := $(wildcard kernels/cuda/*.cu)
GX_CPPFLAGS += -DGX_HAVE_CUDA=1
NVFLAGS  ?= -O2 -std=c++17 -Ilib -Ikernels -Xcompiler -fPIC,-Wall \
	    -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
	    -gencode arch=compute_90,code=compute_90
LDLIBS   += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcudart -lstdc++
else
CU_SRC   :=
LIB_SRC  += kernels/cuda_none.c
endif

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(CU_SRC:%.cu=$(BUILD)/obj/%.o)
LIBA     := $(BUILD)/libgeomx.a

CLI_OBJ  := $(BUILD)/obj/cmd/cli.o
PROGS_SRC := $(wildcard cmd/geomx-*.c)
PROGS    := $(PROGS_SRC:cmd/%.c=$(BUILD)/bin/%)

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNITS    := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
REPLAYS  := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/tests/replay_%)
FUZZERS  := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)

MAN1     := $(wildcard man/man1/*.1)
MAN7     := $(wildcard man/man7/*.7)

# Keep objects of chained rules (tests, replays) between runs.
.SECONDARY:

.PHONY: all test check demo install uninstall bench fuzz clean deps man
.DEFAULT_GOAL := all

all: $(LIBA) $(PROGS)

# The optimizers' element-wise loops vectorize only under -O3's cost model
# (measured: Adam 3.5 -> ~1 ns per element); results are identical.
$(BUILD)/obj/lib/optim/optim.o: GX_CFLAGS += -O3

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(GX_CPPFLAGS) $(GX_CFLAGS) -c $< -o $@

$(PUB_STAGED): $(PUB_DIR)/%.h: lib/%.h
	@mkdir -p $(dir $@)
	$(Q)cp $< $@

$(BUILD)/obj/cmd/%.o: cmd/%.c | $(PUB_STAGED)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CMD_CPPFLAGS) $(GX_CFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.cu
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  NVCC    $<")
	$(Q)$(NVCC) $(NVFLAGS) -DGX_HAVE_CUDA=1 -c $< -o $@

$(LIBA): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

# A program is cmd/NAME.c plus, when it grows, the files of cmd/NAME/.
.SECONDEXPANSION:
# (addprefix/basename, not patsubst: a % there would be the rule's stem.)
$(BUILD)/bin/%: $(BUILD)/obj/cmd/%.o $$(addprefix $(BUILD)/obj/,$$(addsuffix .o,$$(basename $$(wildcard cmd/$$*/*.c)))) \
		$(CLI_OBJ) $(LIBA)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(GX_CFLAGS) $(GX_LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/test_%: $(BUILD)/obj/tests/unit/test_%.o $(LIBA)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(GX_CFLAGS) $(GX_LDFLAGS) $^ $(LDLIBS) -o $@

# Replay drivers: each fuzz target linked with a main() that runs its corpus.
$(BUILD)/tests/replay_%: $(BUILD)/obj/tests/fuzz/%.o $(BUILD)/obj/tests/fuzz/replay.o $(LIBA)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(GX_CFLAGS) $(GX_LDFLAGS) $^ $(LDLIBS) -o $@

# libFuzzer builds, with clang, in their own folder.
FUZZ_CC ?= clang
FUZZ_FLAGS ?= -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
fuzz:
	$(MAKE) BUILD=$(BUILD)/fuzzbuild CC=$(FUZZ_CC) WERROR=0 OPT=-O1 \
		CFLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined" \
		$(BUILD)/fuzzbuild/libgeomx.a
	@mkdir -p $(BUILD)/fuzz
	$(Q)for f in $(FUZZ_SRC); do n=$$(basename $$f .c); \
		echo "  FUZZ    $$n"; \
		$(FUZZ_CC) $(GX_CPPFLAGS) $(FUZZ_FLAGS) $$f $(BUILD)/fuzzbuild/libgeomx.a $(LDLIBS) \
			-o $(BUILD)/fuzz/$$n || exit 1; done
	@echo "fuzzers in $(BUILD)/fuzz/; run e.g. $(BUILD)/fuzz/fuzz_frame -runs=1000000 tests/fuzz/corpus/frame"

deps:
	@sh scripts/deps.sh

# The whole suite: unit tests, CLI golden tests, fuzz corpus replays.
test: deps
	@$(MAKE) --no-print-directory check

check: all $(UNITS) $(REPLAYS)
	@BUILD=$(BUILD) sh tests/run.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) sh examples/demo.sh

bench: all
	@BUILD=$(BUILD) sh bench/run.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include \
		$(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man7
	install -m 755 $(PROGS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(LIBA) $(DESTDIR)$(PREFIX)/lib/
	for h in $(PUB_HDRS:lib/%=%); do install -D -m 644 lib/$$h $(DESTDIR)$(PREFIX)/include/geomx/$$h || exit 1; done
	printf '/* geomx.h — libgeomx: the rooms'"'"' headers live in geomx/. */\n#include "geomx/geomx.h"\n' \
		>$(DESTDIR)$(PREFIX)/include/geomx.h
	chmod 644 $(DESTDIR)$(PREFIX)/include/geomx.h
	install -m 644 $(MAN1) $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 $(MAN7) $(DESTDIR)$(PREFIX)/share/man/man7/

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(notdir $(PROGS)))
	rm -f $(DESTDIR)$(PREFIX)/lib/libgeomx.a $(DESTDIR)$(PREFIX)/include/geomx.h
	rm -rf $(DESTDIR)$(PREFIX)/include/geomx
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/share/man/man1/,$(notdir $(MAN1)))
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/share/man/man7/,$(notdir $(MAN7)))

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
