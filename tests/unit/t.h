/*
 * t.h — the unit-test harness: one binary per tests/unit/test_*.c, one line
 * per case on stdout ("ok NAME", "not ok NAME", "skip NAME: why"), failed
 * assertions as "#" lines before it. tests/run.sh counts the lines.
 */
#ifndef GX_T_H
#define GX_T_H

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_case_failed, t_case_skipped, t_any_failed;
static char t_skip_reason[256];

#define T_ASSERT(c)                                                                          \
	do {                                                                                 \
		if (!(c)) {                                                                  \
			printf("#   %s:%d: assertion failed: %s\n", __FILE__, __LINE__, #c); \
			t_case_failed = 1;                                                   \
		}                                                                            \
	} while (0)

/* Like T_ASSERT but also returns from the case (for conditions later checks need). */
#define T_REQUIRE(c)                                                                         \
	do {                                                                                 \
		if (!(c)) {                                                                  \
			printf("#   %s:%d: requirement failed: %s\n", __FILE__, __LINE__, #c); \
			t_case_failed = 1;                                                   \
			return;                                                              \
		}                                                                            \
	} while (0)

#define T_EQ(a, b)                                                                            \
	do {                                                                                  \
		long long t_a_ = (long long)(a), t_b_ = (long long)(b);                       \
		if (t_a_ != t_b_) {                                                           \
			printf("#   %s:%d: %s == %s: %lld != %lld\n", __FILE__, __LINE__, #a, #b, \
			       t_a_, t_b_);                                                   \
			t_case_failed = 1;                                                    \
		}                                                                             \
	} while (0)

#define T_NEAR(a, b, tol)                                                                     \
	do {                                                                                  \
		double t_a_ = (double)(a), t_b_ = (double)(b);                                \
		if (!(fabs(t_a_ - t_b_) <= (tol))) {                                          \
			printf("#   %s:%d: %s ~ %s: %.9g vs %.9g (tol %g)\n", __FILE__, __LINE__, \
			       #a, #b, t_a_, t_b_, (double)(tol));                            \
			t_case_failed = 1;                                                    \
		}                                                                             \
	} while (0)

#define T_SKIP(...)                                                                 \
	do {                                                                        \
		snprintf(t_skip_reason, sizeof t_skip_reason, __VA_ARGS__);         \
		t_case_skipped = 1;                                                 \
		return;                                                             \
	} while (0)

static void t_run(const char *name, void (*fn)(void))
{
	t_case_failed = t_case_skipped = 0;
	fflush(stdout);
	fn();
	if (t_case_failed) {
		printf("not ok %s\n", name);
		t_any_failed = 1;
	} else if (t_case_skipped) {
		printf("skip %s: %s\n", name, t_skip_reason);
	} else {
		printf("ok %s\n", name);
	}
	fflush(stdout);
}

#define T_RUN(fn) t_run(#fn, fn)
#define T_DONE() return t_any_failed ? 1 : 0

/* Open descriptors of this process (entries of /proc/self/fd, the one
 * reading them included), or -1 without /proc: a test counts at its start
 * and at its end to tell that every descriptor was closed. */
static inline int t_count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

#endif
