/*
 * ps_procs.c — `geomx-bench ps`: the geomx-ps children (spawned, told to
 * stop, reaped) and the thread that takes SIGINT/SIGTERM/SIGHUP for the
 * whole run. The benchmark itself is in ps.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../cli.h"
#include "ps_internal.h"

#define START_TIMEOUT 10.0 /* s: a geomx-ps prints its port */

struct child {
	pid_t pid;     /* 0 once reaped */
	int status;    /* wait status once reaped */
	char what[24]; /* "global 0", "local 1" */
};

/* Shared with the signal thread, under kid_mu (declared in ps_internal.h,
 * which also says what else kid_mu guards). */
pthread_mutex_t kid_mu = PTHREAD_MUTEX_INITIALIZER;
static struct child kids[2 * MAX_PEERS];
static int nkids;
atomic_int got_sig;
sigset_t stop_sigs;

void kill_kids(int sig)
{
	pthread_mutex_lock(&kid_mu);
	for (int i = 0; i < nkids; i++)
		if (kids[i].pid > 0)
			kill(kids[i].pid, sig);
	pthread_mutex_unlock(&kid_mu);
}

/* SIGINT, SIGTERM and SIGHUP are blocked in every thread and taken here:
 * stop the servers (the workers' waits then fail), unblock the baseline,
 * wake the main thread. It cleans up and ends by the same signal. */
void *sig_main(void *ud)
{
	(void)ud;
	for (;;) {
		int s;
		if (sigwait(&stop_sigs, &s) != 0)
			continue;
		if (atomic_load(&got_sig)) /* a second one: no more patience */
			_exit(128 + s);
		atomic_store(&got_sig, s);
		kill_kids(SIGTERM);
		pthread_mutex_lock(&kid_mu);
		for (int i = 0; i < 2; i++)
			if (tcp_fds[i] >= 0)
				shutdown(tcp_fds[i], SHUT_RDWR);
		chain_interrupt();
		pthread_mutex_unlock(&kid_mu);
		ctl_wake();
	}
	return NULL;
}

/* Starts BIN with argv; reads the port it prints on stdout. Returns the
 * port, or -1 (said why; the child, if any, is left in kids to be reaped). */
int spawn_server(const char *bin, char *const *argv, const char *what)
{
	int pfd[2];
	if (nkids >= (int)(sizeof kids / sizeof kids[0])) {
		cli_error("ps: too many servers");
		return -1;
	}
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		cli_error("ps: pipe: %s", strerror(errno));
		return -1;
	}
	pid_t parent = getpid();
	pthread_mutex_lock(&kid_mu);
	pid_t pid = fork();
	if (pid == 0) {
		/* Only async-signal-safe calls from here to exec. */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		if (dup2(pfd[1], 1) < 0)
			_exit(127);
		if (strchr(bin, '/'))
			execv(bin, argv);
		else
			execvp(bin, argv);
		static const char msg[] = "geomx-bench: ps: cannot run the server program\n";
		if (write(2, msg, sizeof msg - 1) < 0)
			_exit(127);
		_exit(127);
	}
	if (pid > 0) {
		kids[nkids].pid = pid;
		kids[nkids].status = 0;
		snprintf(kids[nkids].what, sizeof kids[nkids].what, "%s", what);
		nkids++;
	}
	pthread_mutex_unlock(&kid_mu);
	close(pfd[1]);
	if (pid < 0) {
		cli_error("ps: fork: %s", strerror(errno));
		close(pfd[0]);
		return -1;
	}

	char line[32];
	size_t len = 0;
	double until = cli_now() + START_TIMEOUT;
	int port = -1;
	for (;;) {
		double left = until - cli_now();
		if (left <= 0) {
			cli_error("ps: %s (%s) did not tell its port within %g s", what, bin,
				  START_TIMEOUT);
			break;
		}
		struct pollfd p = {pfd[0], POLLIN, 0};
		int r = poll(&p, 1, (int)(left * 1000) + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			continue;
		ssize_t n = read(pfd[0], line + len, sizeof line - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (!atomic_load(&got_sig))
				cli_error("ps: %s (%s) exited before telling its port", what, bin);
			break;
		}
		len += (size_t)n;
		line[len] = '\0';
		char *nl = strchr(line, '\n');
		if (nl || len == sizeof line - 1) {
			long v;
			if (nl)
				*nl = '\0';
			if (!nl || cli_parse_int(line, 1, 65535, &v)) {
				cli_error("ps: %s (%s) printed '%s', not a port", what, bin, line);
				break;
			}
			port = (int)v;
			break;
		}
	}
	close(pfd[0]);
	return port;
}

/* Waits for every child until the deadline; then (or at once when sig)
 * signals the rest, SIGTERM then SIGKILL, and reaps them all. Returns 0
 * when every child exited with status 0 by itself. */
int reap_kids(int sig, double timeout)
{
	int bad = 0;
	if (sig)
		kill_kids(sig);
	double until = cli_now() + timeout;
	int stage = sig ? 1 : 0; /* 0 waiting, 1 SIGTERM sent, 2 SIGKILL sent */
	for (;;) {
		int left = 0;
		pthread_mutex_lock(&kid_mu);
		for (int i = 0; i < nkids; i++) {
			if (kids[i].pid <= 0)
				continue;
			int st;
			pid_t r = waitpid(kids[i].pid, &st, WNOHANG);
			if (r == kids[i].pid || (r < 0 && errno == ECHILD)) {
				kids[i].pid = 0;
				kids[i].status = r < 0 ? 0 : st;
				if (r > 0 && stage == 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
					if (WIFEXITED(st))
						cli_error("ps: %s exited with status %d", kids[i].what,
							  WEXITSTATUS(st));
					else if (WIFSIGNALED(st))
						cli_error("ps: %s was killed by signal %d", kids[i].what,
							  WTERMSIG(st));
					bad = 1;
				}
			} else {
				left++;
			}
		}
		pthread_mutex_unlock(&kid_mu);
		if (!left)
			break;
		if (cli_now() >= until) {
			if (stage == 0) {
				cli_error("ps: %d server(s) still running %g s after the workers left; stopping them",
					  left, timeout);
				bad = 1;
				kill_kids(SIGTERM);
				stage = 1;
				until = cli_now() + KILL_TIMEOUT;
			} else if (stage == 1) {
				kill_kids(SIGKILL);
				stage = 2;
				until = cli_now() + 3600;
			}
		}
		struct timespec ts = {0, 5000000}; /* 5 ms */
		nanosleep(&ts, NULL);
	}
	return bad || sig ? -1 : 0;
}

const char *find_program(const char *opt, const char *env, const char *name, char *buf, size_t cap)
{
	if (opt)
		return opt;
	const char *e = cli_env(env);
	if (e)
		return e;
	ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
	if (n > 0) {
		buf[n] = '\0';
		char *slash = strrchr(buf, '/');
		if (slash && (size_t)(slash - buf) + 1 + strlen(name) + 1 <= cap) {
			strcpy(slash + 1, name);
			if (access(buf, X_OK) == 0)
				return buf;
		}
	}
	return name;
}

int watch_stop_signals(void *(*main)(void *))
{
	pthread_t th;
	sigemptyset(&stop_sigs);
	sigaddset(&stop_sigs, SIGINT);
	sigaddset(&stop_sigs, SIGTERM);
	sigaddset(&stop_sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop_sigs, NULL);
	if (pthread_create(&th, NULL, main, NULL) != 0)
		return -1;
	pthread_detach(th);
	return 0;
}
