/*
 * test_fileio.c — atomic file replacement (commit, abort, permissions, no
 * leftover temporaries) and the EINTR- and short-count-safe read/write
 * helpers.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "geomx.h"
#include "t.h"

static char dir[256];

static void path_in(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", dir, name);
}

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	int rc = gx_write_full(fd, s, strlen(s));
	close(fd);
	return rc;
}

/* The file's contents as a string in buf, or "" when it cannot be read. */
static const char *read_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	buf[0] = '\0';
	if (fd < 0)
		return buf;
	long n = gx_read_full(fd, buf, cap - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* Entries in the scratch directory, . and .. excepted. */
static int dir_entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void clean_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[512];
	if (!d)
		return;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			path_in(p, sizeof p, e->d_name);
			unlink(p);
		}
	closedir(d);
}

static void atomic_commit_replaces(void)
{
	char path[512], tmp[600], buf[256];
	clean_dir();
	path_in(path, sizeof path, "state.bin");
	T_REQUIRE(write_file(path, "old contents") == 0);
	int fd = gx_atomic_open(path, tmp, sizeof tmp);
	T_REQUIRE(fd >= 0);
	/* the temporary sits beside path, under a recognisable name */
	T_ASSERT(strncmp(tmp, path, strlen(path)) == 0);
	T_ASSERT(strncmp(tmp + strlen(path), ".tmp.", 5) == 0);
	T_ASSERT(strchr(tmp + strlen(path) + 5, '/') == NULL);
	T_EQ(dir_entries(), 2);
	T_EQ(gx_write_full(fd, "new", 3), 0);
	/* not visible under path before the commit */
	T_ASSERT(strcmp(read_file(path, buf, sizeof buf), "old contents") == 0);
	T_EQ(gx_atomic_commit(fd, tmp, path), 0);
	T_ASSERT(strcmp(read_file(path, buf, sizeof buf), "new") == 0);
	T_EQ(dir_entries(), 1);
	T_ASSERT(access(tmp, F_OK) != 0);
}

static void atomic_commit_creates(void)
{
	char path[512], tmp[600], buf[256];
	clean_dir();
	path_in(path, sizeof path, "fresh");
	int fd = gx_atomic_open(path, tmp, sizeof tmp);
	T_REQUIRE(fd >= 0);
	T_ASSERT(access(path, F_OK) != 0);
	T_EQ(gx_write_full(fd, "hello", 5), 0);
	T_EQ(gx_atomic_commit(fd, tmp, path), 0);
	T_ASSERT(strcmp(read_file(path, buf, sizeof buf), "hello") == 0);
	T_EQ(dir_entries(), 1);
}

static void atomic_abort_keeps_old(void)
{
	char path[512], tmp[600], buf[256];
	clean_dir();
	path_in(path, sizeof path, "state.bin");
	T_REQUIRE(write_file(path, "old contents") == 0);
	int fd = gx_atomic_open(path, tmp, sizeof tmp);
	T_REQUIRE(fd >= 0);
	T_EQ(gx_write_full(fd, "half-written", 12), 0);
	errno = EPIPE; /* abort keeps the errno of the failure that led to it */
	gx_atomic_abort(fd, tmp);
	T_EQ(errno, EPIPE);
	T_ASSERT(strcmp(read_file(path, buf, sizeof buf), "old contents") == 0);
	T_EQ(dir_entries(), 1);
	/* and without an old file, nothing at all is left */
	clean_dir();
	fd = gx_atomic_open(path, tmp, sizeof tmp);
	T_REQUIRE(fd >= 0);
	gx_atomic_abort(fd, tmp);
	T_EQ(dir_entries(), 0);
}

static mode_t mode_of(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_mode & 07777 : (mode_t)-1;
}

static void atomic_new_file_honours_umask(void)
{
	char path[512], tmp[600];
	static const mode_t masks[] = { 022, 077, 002, 027 };
	mode_t old = umask(022);
	for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++) {
		clean_dir();
		umask(masks[i]);
		path_in(path, sizeof path, "m");
		int fd = gx_atomic_open(path, tmp, sizeof tmp);
		T_REQUIRE(fd >= 0);
		T_EQ(gx_atomic_commit(fd, tmp, path), 0);
		T_EQ(mode_of(path), 0666 & ~masks[i]);
	}
	umask(old);
}

static void atomic_keeps_existing_mode(void)
{
	char path[512], tmp[600];
	mode_t old = umask(022);
	clean_dir();
	path_in(path, sizeof path, "m");
	T_REQUIRE(write_file(path, "x") == 0);
	T_REQUIRE(chmod(path, 0640) == 0);
	int fd = gx_atomic_open(path, tmp, sizeof tmp);
	T_REQUIRE(fd >= 0);
	T_EQ(gx_atomic_commit(fd, tmp, path), 0);
	T_EQ(mode_of(path), 0640);
	T_REQUIRE(chmod(path, 0600) == 0);
	fd = gx_atomic_open(path, tmp, sizeof tmp);
	T_REQUIRE(fd >= 0);
	T_EQ(gx_atomic_commit(fd, tmp, path), 0);
	T_EQ(mode_of(path), 0600);
	umask(old);
}

static void atomic_open_errors(void)
{
	char path[512], tmp[600];
	clean_dir();
	path_in(path, sizeof path, "no-such-dir/f");
	errno = 0;
	T_EQ(gx_atomic_open(path, tmp, sizeof tmp), GX_EIO);
	T_EQ(errno, ENOENT);
	path_in(path, sizeof path, "f");
	/* the temporary's name does not fit: refused, nothing created */
	T_EQ(gx_atomic_open(path, tmp, strlen(path) + 11), GX_EINVAL);
	T_EQ(errno, ENAMETOOLONG);
	T_EQ(dir_entries(), 0);
	int fd = gx_atomic_open(path, tmp, strlen(path) + 12); /* ".tmp." + 6 + NUL */
	T_ASSERT(fd >= 0);
	gx_atomic_abort(fd, tmp);
	T_EQ(gx_atomic_open(NULL, tmp, sizeof tmp), GX_EINVAL);
	T_EQ(gx_atomic_open(path, NULL, 0), GX_EINVAL);
	T_EQ(dir_entries(), 0);
}

/* A failed commit reports GX_EIO and still removes the temporary. */
static void atomic_commit_failure_cleans_up(void)
{
	char path[512], tmp[600], sub[512];
	clean_dir();
	path_in(path, sizeof path, "f");
	path_in(sub, sizeof sub, "f/g"); /* rename onto a path below a file */
	int fd = gx_atomic_open(path, tmp, sizeof tmp);
	T_REQUIRE(fd >= 0);
	errno = 0;
	T_EQ(gx_atomic_commit(fd, tmp, sub), GX_EIO);
	T_ASSERT(errno == ENOENT || errno == ENOTDIR);
	T_EQ(dir_entries(), 0);
	T_ASSERT(fcntl(fd, F_GETFD) == -1); /* the descriptor is closed */
}

/* Many temporaries for the same path get distinct names. */
static void atomic_distinct_names(void)
{
	char path[512], tmp[40][600];
	int fds[40];
	clean_dir();
	path_in(path, sizeof path, "f");
	for (int i = 0; i < 40; i++) {
		fds[i] = gx_atomic_open(path, tmp[i], sizeof tmp[i]);
		T_REQUIRE(fds[i] >= 0);
	}
	T_EQ(dir_entries(), 40);
	for (int i = 0; i < 40; i++)
		gx_atomic_abort(fds[i], tmp[i]);
	T_EQ(dir_entries(), 0);
}

/* ----------------------------------------------- read_full, write_full */

/* A file of name in the scratch directory, last written age seconds ago. */
static void old_file(const char *name, int age)
{
	char p[512];
	path_in(p, sizeof p, name);
	T_REQUIRE(write_file(p, "partial") == 0);
	struct timespec ts[2];
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= age;
	ts[1] = ts[0];
	T_REQUIRE(utimensat(AT_FDCWD, p, ts, 0) == 0);
}

static int exists(const char *name)
{
	char p[512];
	struct stat st;
	path_in(p, sizeof p, name);
	return stat(p, &st) == 0;
}

/* What a writer killed mid-write left is swept; what a live writer holds,
 * what was just made, and anything not a temporary of the path stay. */
static void atomic_sweep_stale(void)
{
	clean_dir();
	char path[512], p[512];
	path_in(path, sizeof path, "model.bin");
	old_file("model.bin.tmp.AbC-9_", 60);  /* a dead writer's */
	old_file("model.bin.tmp.live01", 60);  /* a live writer's (locked below) */
	old_file("model.bin.tmp.fresh1", 0);   /* just made */
	old_file("model.bin.tmp.toolong", 60); /* not a temporary's name */
	old_file("other.bin.tmp.AbC-9_", 60);  /* another file's */
	old_file("model.bin", 60);
	path_in(p, sizeof p, "model.bin.tmp.live01");
	int held = open(p, O_RDONLY);
	T_REQUIRE(held >= 0 && flock(held, LOCK_EX | LOCK_NB) == 0);
	T_EQ(gx_atomic_sweep(path), 1);
	T_ASSERT(!exists("model.bin.tmp.AbC-9_"));
	T_ASSERT(exists("model.bin.tmp.live01"));
	T_ASSERT(exists("model.bin.tmp.fresh1"));
	T_ASSERT(exists("model.bin.tmp.toolong"));
	T_ASSERT(exists("other.bin.tmp.AbC-9_"));
	T_ASSERT(exists("model.bin"));
	/* the writer dies: its temporary is stale at the next write */
	close(held);
	char tmp[600];
	int fd = gx_atomic_open(path, tmp, sizeof tmp);
	T_ASSERT(fd >= 0);
	T_ASSERT(!exists("model.bin.tmp.live01"));
	/* and a live write's temporary is locked against the sweep */
	int other = open(tmp, O_RDONLY);
	T_ASSERT(other >= 0 && flock(other, LOCK_EX | LOCK_NB) != 0);
	close(other);
	T_EQ(gx_atomic_commit(fd, tmp, path), 0);
	T_EQ(gx_atomic_sweep("/nonexistent-dir/x"), 0);
	T_EQ(gx_atomic_sweep(""), GX_EINVAL);
	clean_dir();
}

static void on_alarm(int sig)
{
	(void)sig;
}

/* Interrupts blocking calls every millisecond: a handler without SA_RESTART
 * makes read and write fail with EINTR or return short counts. */
static void start_interrupts(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = { { 0, 1000 }, { 0, 1000 } };
	setitimer(ITIMER_REAL, &it, NULL);
}

static void stop_interrupts(void)
{
	struct itimerval it;
	memset(&it, 0, sizeof it);
	setitimer(ITIMER_REAL, &it, NULL);
	signal(SIGALRM, SIG_DFL);
}

/* The child writes n bytes (pattern i*7) in dribbles of `piece` with pauses. */
static pid_t slow_writer(int fd, size_t n, size_t piece)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	uint8_t b[4096];
	for (size_t off = 0; off < n;) {
		size_t k = n - off < piece ? n - off : piece;
		for (size_t i = 0; i < k; i++)
			b[i] = (uint8_t)((off + i) * 7);
		if (gx_write_full(fd, b, k) != 0)
			_exit(1);
		off += k;
		usleep(300);
	}
	_exit(0);
}

static void read_full_pieces_and_eof(void)
{
	enum { N = 100000 };
	static uint8_t buf[N + 100];
	int fds[2];
	T_REQUIRE(pipe(fds) == 0);
	pid_t pid = slow_writer(fds[1], N, 1500);
	T_REQUIRE(pid >= 0);
	close(fds[1]);
	start_interrupts();
	long a = gx_read_full(fds[0], buf, 30000);
	long b = gx_read_full(fds[0], buf + 30000, N + 100 - 30000); /* asks past the end */
	long c = gx_read_full(fds[0], buf, 10);
	stop_interrupts();
	T_EQ(a, 30000);
	T_EQ(b, N - 30000);
	T_EQ(c, 0);
	for (size_t i = 0; i < N; i++)
		if (buf[i] != (uint8_t)(i * 7)) {
			T_ASSERT(buf[i] == (uint8_t)(i * 7));
			break;
		}
	close(fds[0]);
	int st;
	T_REQUIRE(waitpid(pid, &st, 0) == pid);
	T_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void write_full_through_slow_reader(void)
{
	enum { N = 1 << 20 };
	uint8_t *buf = malloc(N);
	int fds[2];
	T_REQUIRE(buf && pipe(fds) == 0);
	for (size_t i = 0; i < N; i++)
		buf[i] = (uint8_t)(i * 13);
	pid_t pid = fork();
	T_REQUIRE(pid >= 0);
	if (pid == 0) {
		/* reads slowly and checks; exit status 0 when all N bytes came */
		uint8_t b[3000];
		size_t got = 0;
		long r;
		close(fds[1]);
		while ((r = gx_read_full(fds[0], b, sizeof b)) > 0) {
			for (long i = 0; i < r; i++)
				if (b[i] != (uint8_t)((got + (size_t)i) * 13))
					_exit(2);
			got += (size_t)r;
			if (got % 60000 < 3000)
				usleep(1000);
		}
		_exit(got == N ? 0 : 1);
	}
	close(fds[0]);
	start_interrupts();
	int rc = gx_write_full(fds[1], buf, N);
	stop_interrupts();
	T_EQ(rc, 0);
	close(fds[1]);
	int st;
	T_REQUIRE(waitpid(pid, &st, 0) == pid);
	T_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	free(buf);
}

static void read_write_errors(void)
{
	char b[4];
	int fds[2];
	errno = 0;
	T_EQ(gx_read_full(-1, b, sizeof b), GX_EIO);
	T_EQ(errno, EBADF);
	errno = 0;
	T_EQ(gx_write_full(-1, b, sizeof b), GX_EIO);
	T_EQ(errno, EBADF);
	T_EQ(gx_read_full(0, NULL, 0), 0);
	T_EQ(gx_write_full(1, NULL, 0), 0);
	T_EQ(gx_read_full(0, NULL, 5), GX_EINVAL);
	T_EQ(gx_write_full(1, NULL, 5), GX_EINVAL);
	T_REQUIRE(pipe(fds) == 0);
	close(fds[0]);
	signal(SIGPIPE, SIG_IGN);
	errno = 0;
	T_EQ(gx_write_full(fds[1], "abc", 3), GX_EIO);
	T_EQ(errno, EPIPE);
	signal(SIGPIPE, SIG_DFL);
	close(fds[1]);
}

int main(void)
{
	const char *t = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/gx-fileio.XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(dir)) {
		printf("cannot make a scratch directory in %s\n", t && *t ? t : "/tmp");
		return 77;
	}
	T_RUN(atomic_commit_replaces);
	T_RUN(atomic_sweep_stale);
	T_RUN(atomic_commit_creates);
	T_RUN(atomic_abort_keeps_old);
	T_RUN(atomic_new_file_honours_umask);
	T_RUN(atomic_keeps_existing_mode);
	T_RUN(atomic_open_errors);
	T_RUN(atomic_commit_failure_cleans_up);
	T_RUN(atomic_distinct_names);
	T_RUN(read_full_pieces_and_eof);
	T_RUN(write_full_through_slow_reader);
	T_RUN(read_write_errors);
	clean_dir();
	rmdir(dir);
	T_DONE();
}
