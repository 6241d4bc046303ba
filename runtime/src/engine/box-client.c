/*
 * box-client: the small front end of `box` when the engine is running (`box engine start`).
 *
 * A Node process needs ~25 ms just to start, as long as runc needs for a whole container.
 * Docker answers this with a client and a daemon: `docker` is a small program that hands the
 * request to dockerd, which is already running, warm, and does the work. box does the same:
 * this client starts in about a millisecond, sends its command line to the engine over a
 * unix socket ($BOX_ROOT/engine.sock, mode 0600: root only), and then only relays.
 *
 * What crosses the socket (runtime/src/engine/protocol.ts has the same, from the other side):
 *   client -> engine  "box-engine 1", cwd, rows, cols, tty flags, argc, argv..., envc, env...
 *                     (NUL-terminated strings), then lines: "got" (terminal taken), "sig N".
 *   engine -> client  lines: "fallback", "say TEXT" (a message for stderr), "pty PID FD",
 *                     "exit CODE".
 * No file descriptors are sent. The engine learns our pid from the kernel (SO_PEERCRED) and
 * copies our stdin/stdout/stderr with pidfd_getfd(2), so the container writes straight into
 * our terminal or pipe. For `-it` it is the other way round: we copy the terminal's master
 * out of the container's box-init, and copy bytes between it and our own terminal.
 *
 * Anything the engine does not serve ("fallback": `box ps`, `box run -d`, ...), and any
 * failure to reach it, runs the ordinary Node CLI instead (runtime/bin/box, BOX_ENGINE=off).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

static char **args;

/* Run the Node CLI instead: runtime/bin/box beside our runtime/build/box-client. */
static void fallback(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0 || n >= (ssize_t)sizeof self - 1) { /* a full buffer may be a cut path */
		fprintf(stderr, "box: cannot find box: readlink /proc/self/exe: %s\n", n <= 0 ? strerror(errno) : "path too long");
		exit(125);
	}
	self[n] = 0;
	char *slash = strrchr(self, '/'); /* .../runtime/build/box-client */
	if (slash) *slash = 0;
	slash = strrchr(self, '/');
	if (slash) *slash = 0;
	char wrapper[PATH_MAX + 16];
	snprintf(wrapper, sizeof wrapper, "%s/bin/box", self);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL); /* blocked signals would outlive execve */
	setenv("BOX_ENGINE", "off", 1);
	args[0] = wrapper;
	execv(wrapper, args);
	fprintf(stderr, "box: cannot run %s: %s\n", wrapper, strerror(errno));
	exit(127);
}

/* ---- the request -------------------------------------------------------------------- */

static char *req;
static size_t req_len, req_cap;

static void put(const char *s)
{
	size_t n = strlen(s) + 1;
	if (req_len + n > req_cap) {
		req_cap = (req_len + n) * 2 + 4096;
		req = realloc(req, req_cap);
		if (!req) {
			fprintf(stderr, "box: out of memory building the request to the engine\n");
			exit(125);
		}
	}
	memcpy(req + req_len, s, n);
	req_len += n;
}

static void put_num(long v)
{
	char b[32];
	snprintf(b, sizeof b, "%ld", v);
	put(b);
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR) continue;
		if (w <= 0) return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* ---- lines from the engine ---------------------------------------------------------- */

/* The engine's lines are short (a message, an exit code), but none is cut: the buffer grows
 * to hold a whole line, up to LINE_MAX_BYTES, and a longer one is an error, not a spin. */
#define LINE_MAX_BYTES (1u << 20)
static char *inbuf;
static size_t inlen, incap;

/* Read what has arrived; returns 0 on EOF. */
static int fill(int sock)
{
	if (inlen == incap) {
		if (incap >= LINE_MAX_BYTES) {
			fprintf(stderr, "box: the engine sent a line over %u bytes (see engine.log under BOX_ROOT)\n", LINE_MAX_BYTES);
			exit(125);
		}
		incap = incap ? incap * 2 : 65536;
		inbuf = realloc(inbuf, incap);
		if (!inbuf) {
			fprintf(stderr, "box: out of memory reading from the engine\n");
			exit(125);
		}
	}
	ssize_t n = read(sock, inbuf + inlen, incap - inlen);
	if (n < 0) return errno == EINTR || errno == EAGAIN ? 1 : 0;
	inlen += (size_t)n;
	return n > 0;
}

/* Take the next complete line (without its newline) into *out, a copy with two spare bytes
 * (for "\r\n"); 0 if none is complete. The caller frees it. */
static int next_line(char **out)
{
	char *nl = inbuf ? memchr(inbuf, '\n', inlen) : NULL;
	if (!nl) return 0;
	size_t n = (size_t)(nl - inbuf);
	*out = malloc(n + 3);
	if (!*out) {
		fprintf(stderr, "box: out of memory reading from the engine\n");
		exit(125);
	}
	memcpy(*out, inbuf, n);
	(*out)[n] = 0;
	memmove(inbuf, nl + 1, inlen - n - 1);
	inlen -= n + 1;
	return 1;
}

/* ---- the terminal of `box run -it` -------------------------------------------------- */

static int master = -1;
static struct termios saved;
static int raw_on;

static void restore_terminal(void)
{
	if (raw_on) tcsetattr(0, TCSADRAIN, &saved);
	raw_on = 0;
}

static void copy_size(void)
{
	struct winsize ws;
	if (master >= 0 && ioctl(1, TIOCGWINSZ, &ws) == 0) ioctl(master, TIOCSWINSZ, &ws);
}

/* pidfd_getfd(2): a copy of file descriptor fd of process pid (the container's box-init). */
static int take_master(int pid, int fd)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) return -1;
	int m = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	close(pidfd);
	if (m < 0) return -1;
	fcntl(m, F_SETFD, FD_CLOEXEC);
	return m;
}

static void raw_mode(void)
{
	if (!isatty(0) || tcgetattr(0, &saved) != 0) return;
	struct termios t = saved;
	cfmakeraw(&t);
	if (tcsetattr(0, TCSADRAIN, &t) == 0) raw_on = 1;
}

/* After the exit: copy what the container's last writes left in the terminal. The slave side
 * is closed once every process of the container is gone, and then read() says EIO. */
static void drain_master(void)
{
	char buf[8192];
	struct pollfd p = { .fd = master, .events = POLLIN };
	while (poll(&p, 1, 200) > 0) {
		ssize_t n = read(master, buf, sizeof buf);
		if (n <= 0) break;
		if (write_all(1, buf, (size_t)n) < 0) break;
	}
}

int main(int argc, char **argv)
{
	args = argv;
	const char *root = getenv("BOX_ROOT");
	if (!root || !*root) root = "/var/lib/box";
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if ((size_t)snprintf(addr.sun_path, sizeof addr.sun_path, "%s/engine.sock", root) >= sizeof addr.sun_path) fallback();
	int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/* No engine, a stale socket, or not root (the socket is 0600): the Node CLI serves. */
	if (sock < 0 || connect(sock, (struct sockaddr *)&addr, sizeof addr) != 0) fallback();

	/* From here on, signals are read as data (signalfd) and forwarded to the container. */
	sigset_t sigs;
	sigemptyset(&sigs);
	int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
	for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++) sigaddset(&sigs, forwarded[i]);
	sigaddset(&sigs, SIGWINCH);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	int sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	signal(SIGPIPE, SIG_IGN);

	/* getcwd(NULL, 0) allocates to fit: a directory deeper than PATH_MAX is still sent whole.
	 * No working directory at all (it was removed): the Node CLI says so in its own words. */
	char *cwd = getcwd(NULL, 0);
	if (!cwd) fallback();
	struct winsize ws = { 0 };
	if (!isatty(1) || ioctl(1, TIOCGWINSZ, &ws) != 0) memset(&ws, 0, sizeof ws);
	extern char **environ;
	put("box-engine 1");
	put(cwd);
	put_num(ws.ws_row);
	put_num(ws.ws_col);
	put_num((isatty(0) ? 1 : 0) | (isatty(1) ? 2 : 0) | (isatty(2) ? 4 : 0));
	put_num(argc - 1);
	for (int i = 1; i < argc; i++) put(argv[i]);
	long envc = 0;
	for (char **e = environ; *e; e++) envc++;
	put_num(envc);
	for (char **e = environ; *e; e++) put(*e);
	if (write_all(sock, req, req_len) < 0) fallback();

	int code = -1, stdin_open = 1, master_open = 1;
	char *line;
	for (;;) {
		while (next_line(&line)) {
			if (!strcmp(line, "fallback")) {
				close(sock);
				fallback();
			} else if (!strncmp(line, "say ", 4)) {
				/* In raw mode the terminal does not turn \n into \r\n: do it here. */
				size_t n = strlen(line + 4);
				if (raw_on) line[4 + n++] = '\r';
				line[4 + n++] = '\n';
				write_all(2, line + 4, n);
			} else if (!strncmp(line, "pty ", 4)) {
				int pid = 0, fd = -1;
				sscanf(line + 4, "%d %d", &pid, &fd);
				master = take_master(pid, fd);
				if (master < 0) {
					fprintf(stderr, "box: cannot take the container's terminal: %s\n", strerror(errno));
					return 125; /* our socket closes: the engine stops the container */
				}
				copy_size(); /* before the command starts and asks (stty size, a line editor) */
				raw_mode();
				write_all(sock, "got\n", 4);
			} else if (!strncmp(line, "exit ", 5)) {
				code = atoi(line + 5);
			}
			free(line);
		}
		if (code >= 0) break;

		struct pollfd p[4] = {
			{ .fd = sock, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
			{ .fd = master >= 0 && master_open ? master : -1, .events = POLLIN },
			{ .fd = master >= 0 && stdin_open ? 0 : -1, .events = POLLIN },
		};
		if (poll(p, 4, -1) < 0) {
			if (errno == EINTR) continue;
			break;
		}
		if (p[0].revents) {
			if (!fill(sock)) {
				restore_terminal();
				if (inlen) continue;
				fprintf(stderr, "box: lost the engine before the container exited (see %s/engine.log)\n", root);
				return 125;
			}
		}
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof si) == sizeof si) {
				if (si.ssi_signo == SIGWINCH) {
					copy_size();
				} else {
					char msg[32];
					int n = snprintf(msg, sizeof msg, "sig %u\n", si.ssi_signo);
					write_all(sock, msg, (size_t)n);
				}
			}
		}
		char buf[16384];
		if (p[2].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(master, buf, sizeof buf);
			if (n > 0) write_all(1, buf, (size_t)n);
			else if (n == 0 || errno != EINTR) master_open = 0; /* EIO: every slave closed; the exit follows */
		}
		if (p[3].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(0, buf, sizeof buf);
			if (n > 0) write_all(master, buf, (size_t)n);
			else stdin_open = 0;
		}
	}
	if (master >= 0) drain_master();
	restore_terminal();
	/* Messages that came with the exit (the OOM killer's note) are printed last. */
	while (next_line(&line)) {
		if (!strncmp(line, "say ", 4)) fprintf(stderr, "%s\n", line + 4);
		free(line);
	}
	return code;
}
