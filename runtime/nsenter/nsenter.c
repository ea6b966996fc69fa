// The nsenter constructor: see doc.go. Kept to what Go cannot do.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

// Set when the constructor entered namespaces; read from Go.
int hull_nsenter_done;

// report sends {"type":"error","error":"..."} on the sync socket named
// by _HULL_INIT, which is what the parent reads from a failed init, then
// exits.
static void report(const char *what, const char *path, int err) {
	char msg[1024];
	const char *fd = getenv("_HULL_INIT");
	snprintf(msg, sizeof msg, "{\"type\":\"error\",\"error\":\"nsenter: %s %s: %s\"}", what, path, strerror(err));
	if (fd != NULL)
		send(atoi(fd), msg, strlen(msg), 0);
	_exit(1);
}

struct ns {
	const char *name;
	int flag;
};

// The order of entry: user first (it grants the capabilities needed for
// the others, which the container's user namespace owns), mnt last. The
// runtime enters ipc, uts, net, pid and cgroup itself, before the fork,
// unless it is unprivileged: setns into those needs CAP_SYS_ADMIN in the
// caller's own user namespace too, which only entering the container's
// user namespace first gives.
static const struct ns order[] = {
	{"user", CLONE_NEWUSER},
	{"ipc", CLONE_NEWIPC},
	{"uts", CLONE_NEWUTS},
	{"net", CLONE_NEWNET},
	{"pid", CLONE_NEWPID},
	{"cgroup", CLONE_NEWCGROUP},
	{"time", CLONE_NEWTIME},
	{"mnt", CLONE_NEWNS},
};
#define NNS (int)(sizeof order / sizeof order[0])

static pid_t relay_child;

static void relay_signal(int sig) { kill(relay_child, sig); }

// relay runs in the process the runtime started once its child, the one
// in the container's pid namespace, exists: it tells the runtime the
// child's pid ({"type":"pid","pid":N} on the sync socket), passes every
// signal it gets on to the child, and ends as the child ends, so that
// its wait status is the child's.
static void relay(pid_t child) {
	char msg[64];
	const char *fd = getenv("_HULL_INIT");
	relay_child = child;
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP && sig != SIGCHLD)
			signal(sig, relay_signal);
	if (fd != NULL) {
		snprintf(msg, sizeof msg, "{\"type\":\"pid\",\"pid\":%d}", (int)child);
		send(atoi(fd), msg, strlen(msg), 0);
		close(atoi(fd)); // the runtime sees the child's end of the socket only
	}
	int status;
	for (;;) {
		pid_t w = waitpid(child, &status, 0);
		if (w == child)
			break;
		if (w < 0 && errno != EINTR)
			_exit(127);
	}
	if (WIFEXITED(status))
		_exit(WEXITSTATUS(status));
	struct rlimit none = {0, 0};
	setrlimit(RLIMIT_CORE, &none);
	signal(WTERMSIG(status), SIG_DFL);
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_UNBLOCK, &all, NULL);
	raise(WTERMSIG(status));
	_exit(128 + WTERMSIG(status));
}

// new_timens makes the init's time namespace (_HULL_TIMENS): unshare
// puts only future children in it, the offsets ("monotonic 3600 0", one
// write each) must be written before any process is, and setns moves
// this one in, which the kernel allows a single-threaded process only.
static void new_timens(const char *offsets) {
	char buf[256];
	if (strlen(offsets) >= sizeof buf)
		report("parse", "_HULL_TIMENS", E2BIG);
	strcpy(buf, offsets);
	if (unshare(CLONE_NEWTIME) < 0)
		report("unshare", "CLONE_NEWTIME", errno);
	if (buf[0] != '\0') {
		int fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			report("open", "/proc/self/timens_offsets", errno);
		char *save = NULL;
		for (char *line = strtok_r(buf, ";", &save); line != NULL; line = strtok_r(NULL, ";", &save))
			if (write(fd, line, strlen(line)) < 0)
				report("write /proc/self/timens_offsets", line, errno);
		close(fd);
	}
	int ns = open("/proc/self/ns/time_for_children", O_RDONLY | O_CLOEXEC);
	if (ns < 0)
		report("open", "/proc/self/ns/time_for_children", errno);
	if (setns(ns, CLONE_NEWTIME) < 0)
		report("setns", "/proc/self/ns/time_for_children", errno);
	close(ns);
}

__attribute__((constructor)) static void hull_nsenter(void) {
	// A user namespace holder (for idmapped mounts): the runtime clones
	// this process into a new user namespace, writes its maps, opens
	// /proc/<pid>/ns/user, then closes our stdin. Nothing else runs.
	if (getenv("_HULL_USERNS_HOLDER") != NULL) {
		char c;
		while (read(0, &c, 1) > 0 || errno == EINTR)
			;
		_exit(0);
	}
	const char *spec = getenv("_HULL_NSENTER");
	const char *timens = getenv("_HULL_TIMENS");
	if ((spec == NULL || *spec == '\0') && timens == NULL)
		return;
	if (spec == NULL)
		spec = "";
	char buf[4096];
	if (strlen(spec) >= sizeof buf)
		report("parse", "_HULL_NSENTER", E2BIG);
	strcpy(buf, spec);

	// "user=/proc/1/ns/user,mnt=/proc/1/ns/mnt": open every file before
	// entering any namespace, since entering mnt changes what paths
	// mean.
	int fds[NNS];
	const char *paths[NNS] = {0};
	for (int i = 0; i < NNS; i++)
		fds[i] = -1;
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		if (eq == NULL)
			report("parse", tok, EINVAL);
		*eq = '\0';
		for (int i = 0; i < NNS; i++) {
			if (strcmp(tok, order[i].name) == 0) {
				paths[i] = eq + 1;
				fds[i] = open(eq + 1, O_RDONLY | O_CLOEXEC);
				if (fds[i] < 0)
					report("open", eq + 1, errno);
			}
		}
	}
	int pidns = 0;
	for (int i = 0; i < NNS; i++) {
		// A new time namespace takes the place of a joined one: after
		// the user namespace that owns it, before the mount namespace.
		if (order[i].flag == CLONE_NEWTIME && timens != NULL)
			new_timens(timens);
		if (fds[i] < 0)
			continue;
		if (setns(fds[i], order[i].flag) < 0)
			report("setns", paths[i], errno);
		close(fds[i]);
		pidns = pidns || order[i].flag == CLONE_NEWPID;
	}
	unsetenv("_HULL_NSENTER");
	unsetenv("_HULL_TIMENS");
	hull_nsenter_done = 1;
	// setns into a pid namespace places only the caller's children
	// there: the child goes on to be the runtime's init, this process
	// relays.
	if (pidns) {
		pid_t child = fork();
		if (child < 0)
			report("fork", "into the pid namespace", errno);
		if (child > 0)
			relay(child);
	}
}
