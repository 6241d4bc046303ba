/*
 * box-init: the first process of every container.
 *
 * Why C, in a runtime written in TypeScript? For the same reason runc's nsexec is C in a
 * runtime written in Go: both runtimes are multithreaded, and some kernel work needs a
 * fresh single-threaded process.
 *   - unshare(CLONE_NEWUSER) and setns() into a user or time namespace fail with EINVAL
 *     in a multithreaded process (Node always has V8 and libuv threads);
 *   - /proc must be mounted by a process inside the new PID namespace;
 *   - a Node process costs ~30 ms to start; this one costs ~1 ms, which keeps `box run`
 *     close to runc.
 *
 * It makes no decisions. TypeScript computes a *plan*, a list of system calls
 * (runtime/src/container/build-plan.ts decides them, init/plan.ts writes them down), and writes
 * it to fd 3; box-init executes them in order and reports each result on fd 4, so box can
 * trace them and name the one that failed.
 *
 * Plan: a header line "<bytes>\n" with the size of what follows, then one op per line,
 * fields separated by 0x1f (ASCII unit separator), ending with a line "end". Nothing about
 * a plan has a fixed size here: the ops, their arguments and the environment are allocated
 * to fit, and a plan over PLAN_MAX_BYTES is refused whole (box refuses it first, with the
 * same bound, in init/plan.ts). Report lines: "OK <i> <result>", "ERR <i> <errno>"
 * (i = -1: the plan itself was refused), "SYNC <i> <pid> <point>", "PTY <i> <fd>".
 * fd 4 is close-on-exec: when the final execve succeeds box sees EOF, and knows the
 * user's command is running.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <grp.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <linux/openat2.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

/* The plan comes on fd 3 and reports go out on fd 4, unless the caller keeps N descriptors
 * for the command at 3..3+N-1 (runc's --preserve-fds N): then box passes "--preserve-fds N"
 * and the two pipes come right after them (plan_fds_after_preserved). */
static int PLAN_FD = 3;
static int REPORT_FD = 4;
/* The same bound as PLAN_MAX_BYTES in init/plan.ts. The kernel's own limits are far
 * below it (execve takes at most a quarter of the stack limit for argv and environment,
 * 2 MiB with the usual 8 MiB stack; a seccomp filter at most 4096 instructions). */
#define PLAN_MAX_BYTES (16u << 20)

/* The points at which we stop and wait for box ("sync <point>" ops). The numbers are the
 * ones of SyncPoint in runtime/src/init/sync-point.ts, where they are explained;
 * test/unit/sync-point.test.ts reads this enum and fails if the two differ. */
enum sync_point {
	SYNC_ID_MAP = 1,      /* box writes uid_map and gid_map */
	SYNC_CGROUP = 2,      /* box puts us in our cgroup, plugs the network in */
	SYNC_LEAF = 3,        /* a lab sandbox: box moves us into a leaf cgroup */
	SYNC_CREATED = 4,     /* OCI create: box records the container; we wait on exec.fifo next */
	SYNC_HOOKS = 5,       /* OCI create: box runs the create hooks */
	SYNC_JOIN_CGROUP = 6, /* box exec: box puts us in the container's cgroup */
};

struct op {
	char **argv; /* argv[0] is the op name; NULL-terminated */
	int argc;
};

static struct op *ops;
static int root_fd = -1; /* a container's root, held across setns (box exec) */
static int nops;
static char **envp; /* allocated for every "env" op of the plan, plus the NULL */
static int nenv;

static void report(const char *what, int i, long value);

/* The plan cannot be read whole: say why on the report fd (box turns it into one line) and
 * stop before anything has been done. */
static void refuse(int err)
{
	report("ERR", -1, err);
	_exit(125);
}

static void *must_alloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);
	if (!p) refuse(ENOMEM);
	return p;
}

/* ---- reading the plan ---------------------------------------------------------------- */

static char *unescape(char *s);

static int read_byte(int fd, char *c)
{
	for (;;) {
		ssize_t r = read(fd, c, 1);
		if (r < 0 && errno == EINTR) continue;
		return r == 1;
	}
}

/* The header, byte by byte (it is short), then exactly that many bytes: the plan fd stays
 * open after the plan, and the newlines that answer our sync points come on it. */
static char *read_plan(int fd)
{
	size_t len = 0;
	char c;
	for (int digits = 0;; digits++) {
		if (!read_byte(fd, &c)) refuse(EIO);
		if (c == '\n' && digits > 0) break;
		if (c < '0' || c > '9' || digits > 9) refuse(EINVAL);
		len = len * 10 + (size_t)(c - '0');
	}
	if (len > PLAN_MAX_BYTES) refuse(E2BIG);
	char *buf = must_alloc(len + 1);
	for (size_t n = 0; n < len;) {
		ssize_t r = read(fd, buf + n, len - n);
		if (r < 0 && errno == EINTR) continue;
		if (r <= 0) refuse(EIO);
		n += (size_t)r;
	}
	buf[len] = 0;
	return buf;
}

static size_t count(const char *s, char c)
{
	size_t n = 0;
	for (; *s; s++) n += *s == c;
	return n;
}

static void parse_plan(char *buf)
{
	ops = must_alloc((count(buf, '\n') + 1) * sizeof *ops);
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		if (strcmp(line, "end") == 0) break;
		struct op *o = &ops[nops++];
		o->argv = must_alloc((count(line, 0x1f) + 2) * sizeof *o->argv);
		char *p = line;
		o->argc = 0;
		for (;;) {
			char *sep = strchr(p, 0x1f);
			o->argv[o->argc++] = p;
			if (!sep) break;
			*sep = 0;
			p = sep + 1;
		}
		o->argv[o->argc] = NULL;
		for (int k = 0; k < o->argc; k++) unescape(o->argv[k]);
	}
	int env_ops = 0;
	for (int i = 0; i < nops; i++) env_ops += strcmp(ops[i].argv[0], "env") == 0;
	envp = must_alloc((env_ops + 1) * sizeof *envp);
}

/* ---- reporting ------------------------------------------------------------------------ */

/* Set once an OCI container waits on exec.fifo: `box create` has exited, no one reads reports. */
static int reports_gone;

static void report(const char *what, int i, long value)
{
	if (reports_gone) return;
	char line[64];
	int n = snprintf(line, sizeof line, "%s %d %ld\n", what, i, value);
	(void)!write(REPORT_FD, line, n);
}

/* A failed op: report its errno and stop. box prints which call failed and why. */
static void fail(int i, int err)
{
	report("ERR", i, err);
	_exit(err == ENOENT ? 127 : err == EACCES ? 126 : 125);
}

static const char *nul(const char *s) { return s[0] ? s : NULL; }
static unsigned long num(const char *s) { return strtoul(s, NULL, 0); }

/* Wait until box says go at `point` (it has written our uid_map, or put us in our cgroup).
 * i < 0: no report, box already knows we wait (after PTY). */
static void wait_for_go(int i, pid_t pid, enum sync_point point)
{
	char c;
	if (i >= 0) {
		if (reports_gone) return;
		char line[96];
		int n = snprintf(line, sizeof line, "SYNC %d %ld %d\n", i, (long)pid, (int)point);
		(void)!write(REPORT_FD, line, n);
	}
	for (;;) {
		ssize_t r = read(PLAN_FD, &c, 1);
		if (r < 0 && errno == EINTR) continue;
		if (r != 1) _exit(125); /* box went away: nothing to do but stop */
		if (c == '\n') return;
	}
}

/* ---- console: a terminal from the container's own devpts instance (a pty from the host's
 * would not exist in the container's /dev/pts, and `tty` would say "not a tty"). The slave
 * becomes our stdin/stdout/stderr; box takes the master with pidfd_getfd(2) while we wait. */

/* An OCI runtime's caller (conmon, for `podman run -t`) gives a unix socket instead
 * (--console-socket): connected while its host path is still visible ("consolesock"), and
 * the master goes there with SCM_RIGHTS, as runc sends it, instead of to box. */
static int console_sock = -1;

static int connect_console_socket(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof addr.sun_path) { errno = ENAMETOOLONG; return -1; }
	strcpy(addr.sun_path, path);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) return -1;
	if (connect(s, (struct sockaddr *)&addr, sizeof addr) < 0) { int err = errno; close(s); errno = err; return -1; }
	return console_sock = s;
}

/* One message: the name "/dev/ptmx" as its bytes, the master as its SCM_RIGHTS payload. */
static int send_console_master(int master)
{
	char name[] = "/dev/ptmx";
	struct iovec iov = { .iov_base = name, .iov_len = sizeof name - 1 };
	union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
	memset(&u, 0, sizeof u);
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &master, sizeof(int));
	int rc = sendmsg(console_sock, &msg, MSG_NOSIGNAL) < 0 ? -1 : 0;
	int err = errno;
	close(console_sock);
	console_sock = -1;
	errno = err;
	return rc;
}

static int open_console(int i, const char *rows, const char *cols)
{
	int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0) return -1;
	int unlock = 0, n;
	if (ioctl(m, TIOCSPTLCK, &unlock) < 0 || ioctl(m, TIOCGPTN, &n) < 0) return -1;
	if (rows && cols) { /* process.consoleSize */
		struct winsize ws = { .ws_row = num(rows), .ws_col = num(cols) };
		if (ioctl(m, TIOCSWINSZ, &ws) < 0) return -1;
	}
	char path[32];
	snprintf(path, sizeof path, "/dev/pts/%d", n);
	int s = open(path, O_RDWR | O_NOCTTY);
	if (s < 0) return -1;
	for (int fd = 0; fd < 3; fd++)
		if (dup2(s, fd) < 0) return -1;
	if (s > 2) close(s);
	if (console_sock >= 0) {
		int rc = send_console_master(m);
		close(m); /* the receiver has its own copy now */
		return rc;
	}
	report("PTY", i, m);
	wait_for_go(-1, 0, 0);
	close(m); /* box has its own copy now */
	return 0;
}

/* ---- fork: after unshare(CLONE_NEWPID) or setns() into a PID namespace, only a child
 * enters it. The parent stays behind as a small reaper that mirrors the child's exit. ---- */

/* Fork so that box hears "OK <step> <pid>" before anything the child reports (it must know
 * which process the container is): the child waits on a pipe until the parent, having
 * reported, closes its end (or exits). `deathsig` is the child's PR_SET_PDEATHSIG, set before
 * the wait so that no moment is uncovered; 0 for none. 0 in the child; in the parent the
 * child's pid, and `release` the end to close once the pid is reported. */
static pid_t fork_ordered(int i, int deathsig, int *release)
{
	int order[2];
	if (pipe2(order, O_CLOEXEC) < 0) fail(i, errno);
	pid_t pid = fork();
	if (pid < 0) fail(i, errno);
	if (pid == 0) {
		char c;
		if (deathsig) prctl(PR_SET_PDEATHSIG, deathsig);
		close(order[1]);
		while (read(order[0], &c, 1) < 0 && errno == EINTR) {}
		close(order[0]);
		return 0;
	}
	close(order[0]);
	*release = order[1];
	return pid;
}

static pid_t child_pid;
static void forward(int sig) { if (child_pid > 0) kill(child_pid, sig); }

static void do_fork(int i)
{
	int release;
	pid_t pid = fork_ordered(i, SIGKILL, &release);
	if (pid == 0) return; /* the child runs the rest of the plan */
	child_pid = pid;
	report("OK", i, pid);
	close(release); /* EOF: the child goes on */
	close(REPORT_FD); /* the child reports from now on */
	int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };
	for (unsigned k = 0; k < sizeof sigs / sizeof *sigs; k++) signal(sigs[k], forward);
	int status;
	for (;;) { /* reap every child (--init: orphans come to us); leave with the command's */
		pid_t w = waitpid(-1, &status, 0);
		if (w == pid) break;
		if (w < 0 && errno != EINTR) _exit(125);
	}
	if (WIFSIGNALED(status)) _exit(128 + WTERMSIG(status));
	_exit(WEXITSTATUS(status));
}

/* ---- detach: fork, and the parent leaves at once (runc's exec --detach). Node reaps every
 * child it spawned the moment it ends (libuv's SIGCHLD handler), so box-init, Node's child,
 * must not be the pid box gives in --pid-file: a quick command's exit status would go to
 * Node, and the caller's subreaper (conmon), which waits for that pid, would never get it.
 * Node reaps only this parent; the child, orphaned, is reparented to that subreaper (or to
 * the system's init), which alone learns its status. After a setns() into a PID namespace
 * the child is in it, as runc's exec'd process is. ---- */

static void do_detach(int i)
{
	int release;
	pid_t pid = fork_ordered(i, 0, &release);
	if (pid == 0) return; /* the child runs the rest of the plan */
	report("OK", i, pid);
	_exit(0); /* closes `release`: the child goes on, an orphan */
}

/* ---- exec.fifo: box as an OCI runtime (oci/runtime.ts). `box create` exits while the
 * container waits before exec, and `box start` is another process: the wait is a fifo, whose
 * open(O_WRONLY) blocks in the kernel until start opens it for reading. It is opened O_PATH
 * while the host's path is still visible ("fifo"), and reopened through /proc/self/fd after
 * pivot_root ("fifowait"), as runc does. Nothing reads our reports any more: stop writing
 * them (a write to the closed pipe would kill us with SIGPIPE). */

static int fifo_fd = -1;

static int wait_fifo(void)
{
	char path[32];
	reports_gone = 1;
	close(REPORT_FD);
	close(PLAN_FD);
	snprintf(path, sizeof path, "/proc/self/fd/%d", fifo_fd);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) return -1;
	int rc = write(fd, "0", 1) == 1 ? 0 : -1;
	close(fd);
	close(fifo_fd);
	return rc;
}

/* ---- init (--init, Docker's tini): stay as the container's PID 1 in front of the command.
 * The kernel gives PID 1 of a namespace no default signal actions (a SIGTERM it has no
 * handler for is dropped) and hands it every orphan to reap; a command that was not written
 * as an init does neither. So: fork as above, the command runs as PID 2 with the default
 * actions, the signals box sends are forwarded to it, and every child that ends is reaped. */

static void do_init(int i)
{
	/* Orphans come to us even when the container has no PID namespace of its own. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) fail(i, errno);
	do_fork(i);
}

/* ---- exec: search PATH from the container's environment, not ours ------------------- */

static void do_exec(int i, struct op *o)
{
	envp[nenv] = NULL;
	const char *file = o->argv[1];
	char **argv = &o->argv[2];
	if (strchr(file, '/')) {
		execve(file, argv, envp);
		fail(i, errno);
	}
	const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	for (int k = 0; k < nenv; k++)
		if (strncmp(envp[k], "PATH=", 5) == 0) path = envp[k] + 5;
	int saw_eacces = 0;
	char *full = must_alloc(strlen(path) + strlen(file) + 2); /* a PATH entry, '/', file */
	for (const char *p = path; *p;) {
		const char *end = strchrnul(p, ':');
		sprintf(full, "%.*s/%s", (int)(end - p), p, file);
		execve(full, argv, envp);
		if (errno == EACCES) saw_eacces = 1;
		p = *end ? end + 1 : end;
	}
	fail(i, saw_eacces ? EACCES : ENOENT);
}

/* ---- capabilities: capset(2) takes the version 3 header and two 32-bit halves -------- */

struct cap_header { unsigned version; int pid; };
struct cap_data { unsigned effective, permitted, inheritable; };

/* The bounding set limits what any later execve can gain: drop what we don't keep. */
static int drop_bounding(unsigned long long keep, int last_cap)
{
	for (int c = 0; c <= last_cap; c++)
		if (!(keep & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			return -1;
	return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
}

/* The three sets. box's own containers: effective = permitted = keep, inheritable empty, as
 * Docker since CVE-2022-24769; an OCI config may give each set (and an inheritable one). */
static int set_caps(unsigned long long eff, unsigned long long perm, unsigned long long inh)
{
	struct cap_header h = { 0x20080522, 0 }; /* _LINUX_CAPABILITY_VERSION_3 */
	struct cap_data d[2] = {
		{ eff & 0xffffffff, perm & 0xffffffff, inh & 0xffffffff },
		{ eff >> 32, perm >> 32, inh >> 32 },
	};
	return syscall(SYS_capset, &h, d);
}

/* The ambient set (process.capabilities.ambient): kept across an execve of a file without
 * file capabilities, so a non-root command keeps them. The kernel raises one only if it is
 * both permitted and inheritable already. */
static int raise_ambient(unsigned long long mask, int last_cap)
{
	for (int c = 0; c <= last_cap; c++)
		if ((mask & (1ULL << c)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
			return -1;
	return 0;
}

static int hexval(char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }

static int set_seccomp(const char *hex)
{
	size_t n = strlen(hex) / 2;
	unsigned char *bytes = malloc(n ? n : 1);
	if (!bytes) return -1; /* errno is ENOMEM */
	for (size_t k = 0; k < n; k++) bytes[k] = hexval(hex[2 * k]) << 4 | hexval(hex[2 * k + 1]);
	struct sock_fprog prog = { .len = n / sizeof(struct sock_filter), .filter = (struct sock_filter *)bytes };
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

static int write_file(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) return -1;
	ssize_t n = write(fd, data, strlen(data));
	int err = errno;
	close(fd);
	errno = err;
	return n < 0 ? -1 : 0;
}

/* Bring an interface up: what `ip link set lo up` does, through the older ioctl interface. */
static int link_up(const char *name)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0) return -1;
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
	int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
	if (rc == 0) {
		ifr.ifr_flags |= IFF_UP;
		rc = ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	int err = errno;
	close(s);
	errno = err;
	return rc;
}

/* mkdir and symlink: a path that is already there is fine (the image may have it). */
static int exists_ok(int rc) { return rc < 0 && errno == EEXIST ? 0 : rc; }

/* A plan line cannot hold a newline or a separator: box writes a newline as "\\n", 0x1f as
 * "\\u", and a backslash as "\\\\". */
static char *unescape(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1]) {
			r++;
			*w++ = *r == 'n' ? '\n' : *r == 'u' ? 0x1f : *r;
		} else {
			*w++ = *r;
		}
	}
	*w = 0;
	return s;
}

/* ---- mounts on paths that come from images and users ---------------------------------
 * A volume's target is a path inside the container's root, and the image (or a volume that
 * another container wrote) may hold symlinks along it. Resolved by path from outside, an
 * absolute link would lead to the host's own tree (runc's CVE-2021-30465 class). So, as crun
 * does, each path is opened with openat2(RESOLVE_IN_ROOT) under an fd of the root, where "/"
 * and ".." stop at that root, and the mount goes onto /proc/self/fd/N: the directory we
 * opened, wherever a symlink pointed. */

static int open_in(const char *root, const char *path, int flags)
{
	int rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0) return -1;
	struct open_how how = { .flags = flags | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	int fd = syscall(SYS_openat2, rfd, path[0] ? path : ".", &how, sizeof how);
	int err = errno;
	close(rfd);
	errno = err;
	return fd;
}

static int make_in_buf(const char *root, char *buf, int file);

/* mkdirin ROOT PATH dir|file: make each missing component of PATH, every one looked up in ROOT. */
static int make_in(const char *root, const char *path, int file)
{
	char *buf = strdup(path); /* a copy we cut at each '/': as long as the path (the kernel
	                            * says ENAMETOOLONG past PATH_MAX when it is looked up) */
	if (!buf) return -1;
	int rc = make_in_buf(root, buf, file);
	int err = errno;
	free(buf);
	errno = err;
	return rc;
}

static int make_in_buf(const char *root, char *buf, int file)
{
	size_t len = strlen(buf);
	for (size_t end = 1; end <= len; end++) {
		if (end < len && buf[end] != '/') continue;
		if (buf[end - 1] == '/') continue;
		char saved = buf[end];
		buf[end] = 0;
		int fd = open_in(root, buf, O_PATH);
		if (fd >= 0) { close(fd); buf[end] = saved; continue; }
		if (errno != ENOENT) return -1;
		char *slash = strrchr(buf, '/');
		*slash = 0;
		int parent = open_in(root, buf, O_PATH | O_DIRECTORY);
		*slash = '/';
		if (parent < 0) return -1;
		int rc;
		if (file && end == len) {
			/* O_EXCL|O_NOFOLLOW: never create through a symlink */
			rc = openat(parent, slash + 1, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
			if (rc >= 0) rc = close(rc);
		} else {
			rc = mkdirat(parent, slash + 1, 0755);
		}
		int err = errno;
		close(parent);
		/* EEXIST after ENOENT: a symlink whose target is missing. Not followed: refused. */
		errno = err;
		if (rc < 0) return -1;
		buf[end] = saved;
	}
	return 0;
}

/* mountin SOURCE ROOT PATH FSTYPE FLAGS DATA: mount(2) onto PATH as resolved inside ROOT. A
 * remount opens PATH again, so it reaches the mount now on top of it. */
static int mount_in(char **a)
{
	int fd = open_in(a[2], a[3], O_PATH);
	if (fd < 0) return -1;
	char target[64];
	snprintf(target, sizeof target, "/proc/self/fd/%d", fd);
	int rc = mount(nul(a[1]), target, nul(a[4]), num(a[5]), nul(a[6]));
	int err = errno;
	close(fd);
	errno = err;
	return rc;
}

/* ---- the interpreter ------------------------------------------------------------------ */

static long run_op(int i, struct op *o)
{
	const char *name = o->argv[0];
	char **a = o->argv;
#define IS(s) (strcmp(name, s) == 0)
	if (IS("unshare")) return unshare(num(a[1]));
	if (IS("setns")) {
		int fd = open(a[1], O_RDONLY | O_CLOEXEC);
		if (fd < 0) return -1;
		int rc = setns(fd, num(a[2]));
		int err = errno;
		close(fd);
		errno = err;
		return rc;
	}
	if (IS("sync")) {
		if (o->argc < 2) { errno = EINVAL; return -1; }
		long p = (long)num(a[1]);
		if (p < SYNC_ID_MAP || p > SYNC_JOIN_CGROUP) { errno = EINVAL; return -1; } /* a point box does not know */
		wait_for_go(i, getpid(), (enum sync_point)p);
		return 0;
	}
	if (IS("fork")) { do_fork(i); return 0; }
	if (IS("detach")) { do_detach(i); return 0; }
	if (IS("init")) { do_init(i); return 0; }
	if (IS("mount")) return mount(nul(a[1]), a[2], nul(a[3]), num(a[4]), nul(a[5]));
	if (IS("mkdirin")) return make_in(a[1], a[2], strcmp(a[3], "file") == 0);
	if (IS("mountin")) return mount_in(a);
	if (IS("umount2")) return umount2(a[1], num(a[2]));
	if (IS("mkdir")) return exists_ok(mkdir(a[1], num(a[2])));
	if (IS("touch")) {
		int fd = open(a[1], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		return fd < 0 ? -1 : close(fd);
	}
	if (IS("symlink")) return exists_ok(symlink(a[1], a[2]));
	if (IS("mknod")) return mknod(a[1], num(a[2]), makedev(num(a[3]), num(a[4])));
	if (IS("chmod")) return chmod(a[1], num(a[2]));
	if (IS("lchown")) return lchown(a[1], num(a[2]), num(a[3]));
	if (IS("chdir")) return chdir(a[1]);
	if (IS("rootfd")) return root_fd = open(a[1], O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (IS("rlimit")) {
		struct rlimit r = { strtoull(a[2], NULL, 0), strtoull(a[3], NULL, 0) };
		return setrlimit(num(a[1]), &r);
	}
	if (IS("fifo")) return fifo_fd = open(a[1], O_PATH | O_CLOEXEC);
	if (IS("fifowait")) return wait_fifo();
	if (IS("enterroot")) return fchdir(root_fd) < 0 ? -1 : chroot(".") < 0 ? -1 : chdir("/");
	if (IS("chroot")) return chroot(a[1]);
	if (IS("pivot_root")) return syscall(SYS_pivot_root, a[1], a[2]);
	if (IS("linkup")) return link_up(a[1]);
	if (IS("sethostname")) return sethostname(a[1], strlen(a[1]));
	if (IS("write")) return write_file(a[1], a[2]);
	if (IS("console")) return open_console(i, o->argc > 2 ? a[1] : NULL, o->argc > 2 ? a[2] : NULL);
	if (IS("setsid")) return setsid();
	if (IS("tiocsctty")) return ioctl(0, TIOCSCTTY, 0);
	if (IS("setgroups")) {
		gid_t *g = must_alloc(o->argc * sizeof *g);
		for (int k = 1; k < o->argc; k++) g[k - 1] = num(a[k]);
		int rc = setgroups(o->argc - 1, g);
		free(g);
		return rc;
	}
	if (IS("setresgid")) return setresgid(num(a[1]), num(a[1]), num(a[1]));
	if (IS("setresuid")) return setresuid(num(a[1]), num(a[1]), num(a[1]));
	if (IS("bounding")) return drop_bounding(strtoull(a[1], NULL, 0), num(a[2]));
	if (IS("capset")) {
		unsigned long long eff = strtoull(a[1], NULL, 0);
		return o->argc > 3 ? set_caps(eff, strtoull(a[2], NULL, 0), strtoull(a[3], NULL, 0)) : set_caps(eff, eff, 0);
	}
	if (IS("ambient")) return raise_ambient(strtoull(a[1], NULL, 0), num(a[2]));
	if (IS("umask")) { umask(num(a[1])); return 0; }
	if (IS("consolesock")) return connect_console_socket(a[1]);
	if (IS("prctl")) return prctl(num(a[1]), num(a[2]), 0, 0, 0);
	if (IS("seccomp")) return set_seccomp(a[1]);
	if (IS("close_range")) return syscall(SYS_close_range, num(a[1]), ~0U, 4 /* CLOSE_RANGE_CLOEXEC */);
	if (IS("env")) { envp[nenv++] = a[1]; return 0; }
	if (IS("exec")) { do_exec(i, o); return -1; }
	errno = ENOSYS;
	return -1;
#undef IS
}

/* box-init --preserve-fds N: the caller's descriptors 3..3+N-1 stay where they are, for the
 * command (close_range in the plan starts after them); our two pipes come next. */
static void plan_fds_after_preserved(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--preserve-fds") == 0) {
		int n = atoi(argv[2]);
		PLAN_FD = 3 + n;
		REPORT_FD = 4 + n;
	}
}

int main(int argc, char **argv)
{
	plan_fds_after_preserved(argc, argv);
	/* The report fd closes itself on exec: EOF there means "the user's command runs". */
	fcntl(REPORT_FD, F_SETFD, FD_CLOEXEC);
	parse_plan(read_plan(PLAN_FD));
	for (int i = 0; i < nops; i++) {
		errno = 0;
		long rc = run_op(i, &ops[i]);
		if (rc < 0) fail(i, errno ? errno : EINVAL);
		if (strcmp(ops[i].argv[0], "fork") != 0 && strcmp(ops[i].argv[0], "detach") != 0 && strcmp(ops[i].argv[0], "sync") != 0 && strcmp(ops[i].argv[0], "env") != 0)
			report("OK", i, rc);
	}
	fail(nops, ENOEXEC); /* a plan must end in exec */
}
