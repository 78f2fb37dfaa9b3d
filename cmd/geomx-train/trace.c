/*
 * trace.c — geomx-train --trace FILE: when each step's gradients left and
 * how long the step waited for their answers, a line each, so that where a
 * distributed step's time goes can be read off (as Horovod's timeline or
 * BytePS's trace let one do) rather than guessed. The file is written to a
 * temporary beside FILE and renamed over it at the end, so a reader never
 * sees half a trace; a run that fails still leaves what it traced.
 *
 * One line per event, TSV after a header:
 *   step  event  first  last  start  end
 * event push: tensors first..last handed to the client (start = end);
 * event wait: the step waited from start to end for the answers of
 * tensors first..last (p3: the forward pass, layer by layer, a line for
 * each layer whose answers were not all in; fifo: every tensor at once
 * after the backward pass). Times are Unix times in seconds (to the
 * microsecond), measured on the monotonic clock from the moment the trace
 * was opened, so that the traces of a job's workers line up.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../cli.h"
#include "train.h"

int trace_open(struct state *s, const char *path)
{
	s->trace_fd = gx_atomic_open(path, s->trace_tmp, sizeof s->trace_tmp);
	if (s->trace_fd < 0 || !(s->trace = fdopen(s->trace_fd, "w"))) {
		cli_error("cannot write --trace %s: %s", path, strerror(errno));
		if (s->trace_fd >= 0)
			gx_atomic_abort(s->trace_fd, s->trace_tmp);
		s->trace_fd = -1;
		return -1;
	}
	s->trace_path = path;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	s->trace_t0 = cli_now();
	s->trace_unix0 = (double)ts.tv_sec + ts.tv_nsec / 1e9;
	fputs("step\tevent\tfirst\tlast\tstart\tend\n", s->trace);
	return 0;
}

void trace_event(struct state *s, const char *event, size_t t0, size_t t1, double start,
		 double end)
{
	if (!s->trace || t1 <= t0)
		return;
	double u = s->trace_unix0 - s->trace_t0;
	fprintf(s->trace, "%" PRIu64 "\t%s\t%zu\t%zu\t%.6f\t%.6f\n", s->step, event, t0, t1 - 1,
		u + start, u + end);
}

int trace_close(struct state *s)
{
	if (!s->trace)
		return 0;
	/* the descriptor is the FILE's: flushed and checked here, then
	 * gx_atomic_commit syncs, renames and closes it */
	int bad = fflush(s->trace) != 0 || ferror(s->trace);
	int fd = dup(s->trace_fd);
	fclose(s->trace);
	s->trace = NULL;
	if (bad || fd < 0) {
		int e = errno ? errno : EIO;
		gx_atomic_abort(fd, s->trace_tmp);
		cli_error("cannot write --trace %s: %s", s->trace_path, strerror(e));
		return -1;
	}
	/* (closes fd and removes the temporary whatever happens) */
	if (gx_atomic_commit(fd, s->trace_tmp, s->trace_path) != 0) {
		cli_error("cannot write --trace %s: %s", s->trace_path, strerror(errno));
		return -1;
	}
	return 0;
}
