/*
 * fileio.c — whole reads and writes that survive EINTR and short counts, and
 * atomic replacement of a file (temporary + fsync + rename + directory fsync)
 * so a crash leaves either the old file or the new one, never a torn mix.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "gx_base.h"

#define TMP_SUFFIX ".tmp."
#define TMP_RAND 6 /* random characters after the suffix, like mkstemp's XXXXXX */
#define TMP_STALE_S 10 /* a temporary untouched this long, its writer gone, is stale */

/* Random bits for temporary names. They need to be unpredictable only
 * enough to avoid collisions; O_EXCL makes the creation itself safe. */
static uint64_t name_bits(void)
{
	uint64_t r;
	if (getrandom(&r, sizeof r, GRND_NONBLOCK) == (ssize_t)sizeof r)
		return r;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	r = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 30 ^ (uint64_t)getpid() << 12;
	/* splitmix64 finaliser: spread the low-entropy bits over all 64 */
	r = (r ^ (r >> 30)) * 0xbf58476d1ce4e5b9ull;
	r = (r ^ (r >> 27)) * 0x94d049bb133111ebull;
	return r ^ (r >> 31);
}

/* Whether name is base's temporary: base, the suffix, TMP_RAND characters. */
static int is_tmp_of(const char *name, const char *base, size_t blen)
{
	const size_t sl = sizeof TMP_SUFFIX - 1;
	if (strncmp(name, base, blen) != 0 || strncmp(name + blen, TMP_SUFFIX, sl) != 0)
		return 0;
	const char *x = name + blen + sl;
	if (strlen(x) != TMP_RAND)
		return 0;
	for (int i = 0; i < TMP_RAND; i++)
		if (!((x[i] >= 'a' && x[i] <= 'z') || (x[i] >= 'A' && x[i] <= 'Z') ||
		      (x[i] >= '0' && x[i] <= '9') || x[i] == '-' || x[i] == '_'))
			return 0;
	return 1;
}

int gx_atomic_sweep(const char *path)
{
	if (!path || !*path) {
		errno = EINVAL;
		return GX_EINVAL;
	}
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	size_t dl = slash ? (slash == path ? 1 : (size_t)(slash - path)) : 1;
	if (dl >= sizeof dir) {
		errno = ENAMETOOLONG;
		return GX_EIO;
	}
	memcpy(dir, slash ? path : ".", dl);
	dir[dl] = '\0';
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT ? 0 : GX_EIO;
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return GX_EIO;
	}
	size_t blen = strlen(base);
	int swept = 0;
	time_t now = time(NULL);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (!is_tmp_of(e->d_name, base, blen))
			continue;
		int fd = openat(dfd, e->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			continue;
		struct stat st;
		/* unlocked: its writer is gone; old: not one that has just
		 * been created and is about to be locked */
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && now - st.st_mtime >= TMP_STALE_S &&
		    flock(fd, LOCK_EX | LOCK_NB) == 0 && unlinkat(dfd, e->d_name, 0) == 0)
			swept++;
		close(fd);
	}
	closedir(d);
	return swept;
}

int gx_atomic_open(const char *path, char *tmp, size_t tmpcap)
{
	static const char chars[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
	struct stat st;
	int keep_mode;

	if (!path || !*path || !tmp) {
		errno = EINVAL;
		return GX_EINVAL;
	}
	size_t plen = strlen(path);
	size_t need = plen + sizeof TMP_SUFFIX - 1 + TMP_RAND + 1;
	if (tmpcap < need) {
		errno = ENAMETOOLONG;
		return GX_EINVAL;
	}
	/* An existing file keeps its permission bits across the replacement;
	 * a new one gets 0666 minus the umask, which open() applies itself.
	 * (mkstemp would create 0600 and leave us to read the umask, which
	 * cannot be done without briefly changing it for every thread.) */
	keep_mode = stat(path, &st) == 0 && S_ISREG(st.st_mode);
	(void)gx_atomic_sweep(path); /* what an earlier writer left, killed */

	for (int attempt = 0; attempt < 100; attempt++) {
		uint64_t r = name_bits();
		memcpy(tmp, path, plen);
		memcpy(tmp + plen, TMP_SUFFIX, sizeof TMP_SUFFIX - 1);
		char *x = tmp + plen + sizeof TMP_SUFFIX - 1;
		for (int i = 0; i < TMP_RAND; i++, r >>= 6)
			x[i] = chars[r & 63];
		x[TMP_RAND] = '\0';

		int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd < 0) {
			if (errno == EEXIST)
				continue;
			return GX_EIO;
		}
		/* Held until the descriptor closes, the writer's death included:
		 * how gx_atomic_sweep tells a live write from a dead one. (A file
		 * system without flock leaves it unlocked, and so never swept.) */
		(void)flock(fd, LOCK_EX | LOCK_NB);
		if (keep_mode && fchmod(fd, st.st_mode & 07777) != 0) {
			int e = errno;
			close(fd);
			unlink(tmp);
			errno = e;
			return GX_EIO;
		}
		return fd;
	}
	errno = EEXIST;
	return GX_EIO;
}

/* fsyncs the directory holding path, so the rename itself is durable.
 * Returns 0 or GX_EIO with errno set. */
static int sync_dir(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t n;

	if (!slash) {
		strcpy(dir, ".");
	} else {
		n = slash == path ? 1 : (size_t)(slash - path);
		if (n >= sizeof dir) {
			errno = ENAMETOOLONG;
			return GX_EIO;
		}
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return GX_EIO;
	int rc = fsync(fd);
	int e = errno;
	close(fd);
	/* Some file systems cannot fsync a directory (EINVAL); there is
	 * nothing more to do there, so it is not a failure. */
	if (rc != 0 && e != EINVAL) {
		errno = e;
		return GX_EIO;
	}
	return 0;
}

int gx_atomic_commit(int fd, const char *tmp, const char *path)
{
	int e;

	if (fd < 0 || !tmp || !path) {
		errno = EINVAL;
		return GX_EINVAL;
	}
	/* Data first, then the name: renaming before the data is on disk
	 * could leave an empty file under the final name after a crash. */
	if (fsync(fd) != 0) {
		e = errno;
		close(fd);
		goto fail;
	}
	/* close can report a deferred write error (NFS); it counts. */
	if (close(fd) != 0) {
		e = errno;
		goto fail;
	}
	if (rename(tmp, path) != 0) {
		e = errno;
		goto fail;
	}
	if (sync_dir(path) != 0)
		return GX_EIO;
	return GX_OK;
fail:
	unlink(tmp);
	errno = e;
	return GX_EIO;
}

void gx_atomic_abort(int fd, const char *tmp)
{
	/* Usually called on an error path: keep the errno that describes it. */
	int e = errno;
	if (fd >= 0)
		close(fd);
	if (tmp)
		unlink(tmp);
	errno = e;
}

long gx_read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t got = 0;

	if ((!buf && len) || len > LONG_MAX) {
		errno = EINVAL;
		return GX_EINVAL;
	}
	while (got < len) {
		ssize_t r = read(fd, p + got, len - got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return GX_EIO;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (long)got;
}

int gx_write_full(int fd, const void *buf, size_t len)
{
	if (!buf && len) {
		errno = EINVAL;
		return GX_EINVAL;
	}
	struct iovec v = { (void *)buf, len };
	return gx_writev_full(fd, &v, 1);
}

int gx_writev_full(int fd, struct iovec *v, int n)
{
	while (n > 0 && v->iov_len == 0)
		v++, n--;
	while (n > 0) {
		ssize_t w = writev(fd, v, n > IOV_MAX ? IOV_MAX : n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return GX_EIO;
		}
		/* writev() returning 0 for a nonzero count would loop forever. */
		if (w == 0) {
			errno = EIO;
			return GX_EIO;
		}
		size_t left = (size_t)w;
		while (n > 0 && left >= v->iov_len) {
			left -= v->iov_len;
			v++;
			n--;
		}
		if (n > 0) {
			v->iov_base = (uint8_t *)v->iov_base + left;
			v->iov_len -= left;
		}
	}
	return GX_OK;
}

int gx_file_replace(const char *path, const void *buf, size_t len)
{
	char tmp[4200];
	int fd = gx_atomic_open(path, tmp, sizeof tmp);
	if (fd < 0)
		return GX_EIO;
	if (gx_write_full(fd, buf, len) != 0) {
		int e = errno;
		gx_atomic_abort(fd, tmp);
		errno = e;
		return GX_EIO;
	}
	return gx_atomic_commit(fd, tmp, path) == 0 ? 0 : GX_EIO;
}

long gx_file_read(const char *path, uint8_t **out, size_t max)
{
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return GX_EIO;
	struct stat st;
	long rc = GX_EIO;
	if (fstat(fd, &st) != 0)
		goto out;
	if ((uint64_t)st.st_size > max || (uint64_t)st.st_size >= LONG_MAX) {
		rc = GX_ELENGTH;
		goto out;
	}
	uint8_t *b = malloc((size_t)st.st_size + 1);
	if (!b) {
		rc = GX_ENOMEM;
		goto out;
	}
	long n = gx_read_full(fd, b, (size_t)st.st_size + 1);
	if (n != (long)st.st_size) { /* a read error, or the file changed size */
		if (n >= 0)
			errno = EIO;
		free(b);
		goto out;
	}
	*out = b;
	rc = n;
out:;
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}
