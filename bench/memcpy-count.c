/*
 * memcpy-count.c — an LD_PRELOAD shim for bench/copies.sh: counts the bytes
 * a process copies with memcpy/memmove in calls of at least 16 KiB (tensor
 * payloads, not headers) and appends "PROG PID BYTES" to the file named by
 * GX_MEMCPY_COUNT at exit. It measures any build of geomx the same way,
 * so copies can be compared across versions without instrumenting them.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BIG (16u << 10)

static unsigned long long copied;

/* A byte loop of our own: calling libc's memcpy from here would recurse. */
static void *copy_fwd(void *d, const void *s, size_t n)
{
	unsigned char *dp = d;
	const unsigned char *sp = s;
	while (n--)
		*dp++ = *sp++;
	return d;
}

typedef void *copy_fn(void *, const void *, size_t);
static copy_fn *real_memcpy, *real_memmove;

void *memcpy(void *d, const void *s, size_t n)
{
	if (!real_memcpy)
		real_memcpy = (copy_fn *)dlsym(RTLD_NEXT, "memcpy");
	if (n >= BIG)
		__atomic_add_fetch(&copied, n, __ATOMIC_RELAXED);
	return real_memcpy ? real_memcpy(d, s, n) : copy_fwd(d, s, n);
}

void *memmove(void *d, const void *s, size_t n)
{
	if (!real_memmove)
		real_memmove = (copy_fn *)dlsym(RTLD_NEXT, "memmove");
	if (n >= BIG)
		__atomic_add_fetch(&copied, n, __ATOMIC_RELAXED);
	return real_memmove(d, s, n);
}

__attribute__((destructor)) static void report(void)
{
	const char *path = getenv("GX_MEMCPY_COUNT");
	char prog[64] = "?", line[160];
	if (!path)
		return;
	int f = open("/proc/self/comm", O_RDONLY);
	if (f >= 0) {
		ssize_t n = read(f, prog, sizeof prog - 1);
		prog[n > 0 ? n - 1 : 0] = '\0';
		close(f);
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd < 0)
		return;
	int n = snprintf(line, sizeof line, "%s %ld %llu\n", prog, (long)getpid(), copied);
	if (write(fd, line, (size_t)n) < 0) {
		/* nothing to do: the count is lost, the bench says so */
	}
	close(fd);
}
