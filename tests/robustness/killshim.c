/* killshim.c - an LD_PRELOAD shim for the robustness suite: kills pkishared with SIGKILL
 * exactly at one of its hand-offs to systemd's file descriptor store.
 *
 * A hand-off is a notification that carries FDSTORE=1 or FDSTOREREMOVE=1 (sd_notify,
 * sd_notifyf, sd_pid_notify_with_fds). When the file named by $PKS_KILL_ARM exists and
 * holds "N before" or "N after", the shim counts hand-offs down from N: at the one that
 * reaches 0 it removes the file and kills the process, before the message is sent or
 * right after. Each hand-off is also appended to $PKS_KILL_TRACE (when set), so a test
 * can tell how many hand-offs an operation made. Test code only: never installed. */
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

/* Exported whatever -fvisibility says: these are what the preload interposes. */
#define SHIM_EXPORT __attribute__((visibility("default")))
SHIM_EXPORT int sd_notify(int unset_environment, const char *state);
SHIM_EXPORT int sd_notifyf(int unset_environment, const char *format, ...);
SHIM_EXPORT int sd_pid_notify_with_fds(pid_t pid, int unset_environment, const char *state,
				       const int *fds, unsigned n_fds);

static bool is_handoff(const char *state)
{
	return state && (strstr(state, "FDSTORE=1") || strstr(state, "FDSTOREREMOVE=1"));
}

static void trace(const char *state)
{
	const char *path = getenv("PKS_KILL_TRACE");
	if (!path)
		return;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	char line[256];
	int n = snprintf(line, sizeof(line), "%d ", (int)getpid());
	for (const char *p = state; *p && n < (int)sizeof(line) - 2; p++)
		line[n++] = *p == '\n' ? ' ' : *p;
	line[n++] = '\n';
	(void)!write(fd, line, (size_t)n);
	close(fd);
}

/* 1: kill before sending, 2: kill after sending, 0: go on. */
static int armed(void)
{
	const char *path = getenv("PKS_KILL_ARM");
	char buf[64] = "", mode[16] = "";
	long n = -1;
	FILE *f = path ? fopen(path, "re") : NULL;
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f) || sscanf(buf, "%ld %15s", &n, mode) != 2 || n < 0) {
		fclose(f);
		return 0;
	}
	fclose(f);
	if (n > 0) {
		f = fopen(path, "we");
		if (f) {
			fprintf(f, "%ld %s\n", n - 1, mode);
			fclose(f);
		}
		return 0;
	}
	unlink(path);
	return strcmp(mode, "before") == 0 ? 1 : 2;
}

static int handoff(const char *state, const int *fds, unsigned n_fds)
{
	static int (*real)(pid_t, int, const char *, const int *, unsigned);
	if (!real)
		real = (int (*)(pid_t, int, const char *, const int *, unsigned))dlsym(
		    RTLD_NEXT, "sd_pid_notify_with_fds");
	int when = is_handoff(state) ? armed() : 0;
	if (is_handoff(state))
		trace(state);
	if (when == 1)
		kill(getpid(), SIGKILL);
	int r = real(0, 0, state, fds, n_fds);
	if (when == 2)
		kill(getpid(), SIGKILL);
	return r;
}

int sd_notify(int unset_environment, const char *state)
{
	(void)unset_environment;
	return handoff(state, NULL, 0);
}

int sd_notifyf(int unset_environment, const char *format, ...)
{
	char *state = NULL;
	va_list ap;
	(void)unset_environment;
	va_start(ap, format);
	int n = vasprintf(&state, format, ap);
	va_end(ap);
	if (n < 0)
		return -12; /* -ENOMEM */
	int r = handoff(state, NULL, 0);
	free(state);
	return r;
}

int sd_pid_notify_with_fds(pid_t pid, int unset_environment, const char *state, const int *fds,
			   unsigned n_fds)
{
	(void)pid;
	(void)unset_environment;
	return handoff(state, fds, n_fds);
}
