/*
 * box-dns: the name server of a user-defined box network, as Docker's embedded resolver is
 * for a Docker network. box starts one per network on the bridge's gateway address, writes
 * the network's containers to a hosts file, and points each container's /etc/resolv.conf at
 * it; so `ping web` inside a container asks box-dns, and box-dns reads the answer from the
 * file. Names it does not know it asks the host's name servers (--upstream) about.
 *
 *   box-dns --listen IP[:PORT] --hosts FILE [--upstream IP[:PORT]]... [--ready-fd N]
 *
 * DNS in one paragraph (RFC 1035): a message is a 12-byte header (id, flags, four counts),
 * then the question (a name as length-prefixed labels, "\3web\0", a type and a class), then
 * resource records (name, type, class, TTL, data). A name inside a message may end in a
 * pointer (two bytes, 0xC0 | offset) to a name earlier in the message. UDP messages are at
 * most 512 bytes unless the client says otherwise (EDNS, RFC 6891); a longer answer is sent
 * cut short with the TC flag, and the client asks again over TCP, where every message is
 * preceded by its length in two bytes.
 *
 * Every byte of a message comes from a container, which is not trusted: every read below is
 * checked against the message's length, and a name's pointers may only point backwards, so
 * a loop of pointers cannot make box-dns spin.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/*
 * Docker's embedded DNS answers with a TTL of 600 s. Names here come and go with containers,
 * and a removed container's address is soon given to the next one, so an answer should not
 * outlive it: 5 s. (busybox, glibc and musl do not cache at all; only a caching resolver
 * inside a container would keep an answer this long.)
 */
#define TTL 5
#define UDP_LIMIT 512     /* what a client without EDNS accepts */
#define EDNS_LIMIT 4096   /* the most we relay over UDP to a client that offers more */
#define MSG_MAX 65535     /* a TCP message's length is two bytes */
#define MAX_UPSTREAMS 8
#define MAX_CONNS 32      /* TCP clients at once; the next one waits in the backlog */
#define MAX_FORWARDS 64   /* questions waiting for an upstream at once */
#define UPSTREAM_MS 2000  /* how long one upstream gets before the next is asked */
#define IDLE_MS 10000     /* a TCP client that sends nothing this long is closed */

enum { T_A = 1, T_PTR = 12, T_OPT = 41, T_AAAA = 28, T_ANY = 255, C_IN = 1 };
enum { RC_OK = 0, RC_FORMERR = 1, RC_SERVFAIL = 2, RC_NXDOMAIN = 3, RC_NOTIMP = 4, RC_REFUSED = 5 };

/* ---- addresses ----------------------------------------------------------------------- */

struct addr {
	struct sockaddr_storage sa;
	socklen_t len;
};

/* "1.2.3.4", "1.2.3.4:5353", "::1", "[::1]:5353". Returns 0, or -1 if it is none of those. */
static int parse_addr(const char *text, struct addr *out)
{
	char host[64];
	const char *port = NULL;
	memset(out, 0, sizeof *out);
	if (text[0] == '[') {
		const char *end = strchr(text, ']');
		if (!end || (size_t)(end - text - 1) >= sizeof host) return -1;
		memcpy(host, text + 1, end - text - 1);
		host[end - text - 1] = 0;
		if (end[1] == ':') port = end + 2;
		else if (end[1]) return -1;
	} else {
		if (strlen(text) >= sizeof host) return -1;
		strcpy(host, text);
		char *colon = strchr(host, ':');
		if (colon && !strchr(colon + 1, ':')) { /* one colon: IPv4 and a port */
			*colon = 0;
			port = colon + 1;
		}
	}
	long p = 53;
	if (port) {
		char *end;
		errno = 0;
		p = strtol(port, &end, 10);
		if (!*port || *end || errno || p < 1 || p > 65535) return -1;
	}
	struct sockaddr_in *v4 = (struct sockaddr_in *)&out->sa;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&out->sa;
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(p);
		out->len = sizeof *v4;
	} else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(p);
		out->len = sizeof *v6;
	} else {
		return -1;
	}
	return 0;
}

static const char *show_addr(const struct addr *a)
{
	static char text[80];
	char host[INET6_ADDRSTRLEN];
	if (a->sa.ss_family == AF_INET) {
		const struct sockaddr_in *v4 = (const void *)&a->sa;
		inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
		snprintf(text, sizeof text, "%s:%d", host, ntohs(v4->sin_port));
	} else {
		const struct sockaddr_in6 *v6 = (const void *)&a->sa;
		inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
		snprintf(text, sizeof text, "[%s]:%d", host, ntohs(v6->sin6_port));
	}
	return text;
}

/* ---- the hosts file ------------------------------------------------------------------ */

/*
 * One (address, name) pair per line's name: "10.0.5.2 web db" is two. `canonical` marks a
 * line's first name, which is what a reverse (PTR) lookup of the address answers.
 *
 * A line may start with "@ADDRESS": it answers only questions asked from that address. This
 * is how a container on several networks resolves the names of all of them, as Docker's
 * resolver lets it: its first network's box-dns (the one in its resolv.conf) also gets the
 * names of the container's other networks, seen by that container alone. Another container
 * of this network, not on those networks, gets NXDOMAIN for them, as in Docker.
 */
struct peer {
	int family;          /* 0: unknown (no scoped line matches) */
	unsigned char addr[16];
};

struct host {
	char name[254];
	int family;
	unsigned char addr[16];
	int canonical;
	struct peer scope;   /* family 0: for every client */
};

static const char *hosts_path;
static struct host *hosts;
static size_t nhosts, hosts_cap;
static struct stat hosts_seen; /* st_ino == 0: not read yet, or the file was missing */

/* A name as the file and the question are compared: lower case, no trailing dot. */
static int normalize(const char *in, char *out, size_t cap)
{
	size_t n = strlen(in);
	if (n && in[n - 1] == '.') n--;
	if (n == 0 || n >= cap) return -1;
	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		out[i] = (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
	}
	out[n] = 0;
	return 0;
}

static void hosts_add(const struct host *h)
{
	if (nhosts == hosts_cap) {
		size_t cap = hosts_cap ? hosts_cap * 2 : 64;
		struct host *grown = realloc(hosts, cap * sizeof *hosts);
		if (!grown) return; /* out of memory: this name is left out, the server goes on */
		hosts = grown;
		hosts_cap = cap;
	}
	hosts[nhosts++] = *h;
}

static void hosts_read(FILE *f)
{
	char *line = NULL;
	size_t cap = 0;
	nhosts = 0;
	while (getline(&line, &cap, f) >= 0) {
		char *hash = strchr(line, '#');
		if (hash) *hash = 0;
		char *save, *ip = strtok_r(line, " \t\r\n", &save);
		if (!ip) continue;
		struct host h = { 0 };
		if (ip[0] == '@') { /* scoped: only for questions from this address */
			if (inet_pton(AF_INET, ip + 1, h.scope.addr) == 1) h.scope.family = AF_INET;
			else if (inet_pton(AF_INET6, ip + 1, h.scope.addr) == 1) h.scope.family = AF_INET6;
			else continue;
			if (!(ip = strtok_r(NULL, " \t\r\n", &save))) continue;
		}
		if (inet_pton(AF_INET, ip, h.addr) == 1) h.family = AF_INET;
		else if (inet_pton(AF_INET6, ip, h.addr) == 1) h.family = AF_INET6;
		else continue; /* not an address: the line is skipped, as glibc skips it */
		h.canonical = 1;
		for (char *name; (name = strtok_r(NULL, " \t\r\n", &save));) {
			if (normalize(name, h.name, sizeof h.name) < 0) continue;
			hosts_add(&h);
			h.canonical = 0;
		}
	}
	free(line);
}

/*
 * Read the file again if it is not the one read last. box replaces it with rename(2), which
 * gives the path a new inode; an editor may rewrite it in place, which changes its size or
 * modification time. So: stat the path (not an open descriptor, which would keep seeing the
 * old inode) before every answer; a stat is far cheaper than the round trip of a query.
 */
static void hosts_refresh(void)
{
	struct stat st;
	if (stat(hosts_path, &st) < 0) {
		nhosts = 0; /* gone: no names, until it is back */
		memset(&hosts_seen, 0, sizeof hosts_seen);
		return;
	}
	if (st.st_ino == hosts_seen.st_ino && st.st_dev == hosts_seen.st_dev && st.st_size == hosts_seen.st_size &&
	    st.st_mtim.tv_sec == hosts_seen.st_mtim.tv_sec && st.st_mtim.tv_nsec == hosts_seen.st_mtim.tv_nsec)
		return;
	FILE *f = fopen(hosts_path, "re");
	if (!f) {
		nhosts = 0;
		memset(&hosts_seen, 0, sizeof hosts_seen);
		return;
	}
	/* The inode read, not the one stat saw: if it was replaced in between, the next stat differs. */
	if (fstat(fileno(f), &st) == 0) hosts_seen = st;
	hosts_read(f);
	fclose(f);
}

/* ---- reading a message --------------------------------------------------------------- */

struct question {
	uint16_t id, flags, type, class;
	uint8_t wire[255];  /* the name as it was asked, labels uncompressed, case kept */
	size_t wire_len;
	char name[256];     /* the same name dotted and in lower case, for the hosts file */
	int plain;          /* no label holds a '.' or a NUL: the dotted form is the name */
	size_t udp_limit;   /* the largest UDP answer the client takes */
};

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

/*
 * Read the name at *pos into `wire` (uncompressed); *pos moves past it. Returns its length,
 * or -1 if it runs past the message, is longer than 255 bytes, or has a bad pointer.
 * A pointer must point before itself: a chain of pointers then always ends, and a loop
 * that goes through labels is ended by the 255-byte limit.
 */
static int read_name(const uint8_t *msg, size_t len, size_t *pos, uint8_t *wire)
{
	size_t p = *pos, n = 0;
	int jumped = 0;
	for (;;) {
		if (p >= len) return -1;
		uint8_t c = msg[p];
		if ((c & 0xC0) == 0xC0) {
			if (p + 1 >= len) return -1;
			size_t target = (size_t)(c & 0x3F) << 8 | msg[p + 1];
			if (target >= p) return -1;
			if (!jumped) *pos = p + 2;
			jumped = 1;
			p = target;
			continue;
		}
		if (c & 0xC0) return -1; /* 0x40 and 0x80: label types no one uses */
		if (n + 1 + c > 255) return -1;
		if (p + 1 + c > len) return -1;
		memcpy(wire + n, msg + p, 1 + c);
		n += 1 + c;
		if (c == 0) {
			if (!jumped) *pos = p + 1;
			return (int)n;
		}
		p += 1 + c;
	}
}

/* "\3web\3lab\0" -> "web.lab", lower case. Sets *plain to 0 if a label holds a '.' or a NUL. */
static void dotted(const uint8_t *wire, char *out, int *plain)
{
	size_t i = 0, o = 0;
	*plain = 1;
	while (wire[i]) {
		uint8_t n = wire[i++];
		if (o) out[o++] = '.';
		for (uint8_t k = 0; k < n; k++) {
			char c = (char)wire[i++];
			if (c == '.' || c == 0) *plain = 0;
			out[o++] = (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
		}
	}
	out[o] = 0;
}

/* Skip one resource record; returns its type, or -1. */
static int skip_record(const uint8_t *msg, size_t len, size_t *pos, uint16_t *class)
{
	uint8_t wire[255];
	if (read_name(msg, len, pos, wire) < 0 || *pos + 10 > len) return -1;
	int type = get16(msg + *pos);
	*class = get16(msg + *pos + 2);
	size_t rdlen = get16(msg + *pos + 8);
	if (*pos + 10 + rdlen > len) return -1;
	*pos += 10 + rdlen;
	return type;
}

/*
 * Parse a query. Returns RC_OK, or the error to answer with (the question is then filled in
 * only as far as `q->wire_len` says). The records after the question are read only to find
 * an EDNS OPT record, whose class is the UDP size the client accepts.
 */
static int parse_query(const uint8_t *msg, size_t len, struct question *q)
{
	memset(q, 0, sizeof *q);
	q->id = get16(msg);
	q->flags = get16(msg + 2);
	q->udp_limit = UDP_LIMIT;
	if ((q->flags >> 11 & 0xF) != 0) return RC_NOTIMP; /* only QUERY: no IQUERY, STATUS, NOTIFY, UPDATE */
	if (get16(msg + 4) != 1) return RC_FORMERR;        /* exactly one question, as every resolver sends */
	size_t pos = 12;
	int n = read_name(msg, len, &pos, q->wire);
	if (n < 0 || pos + 4 > len) return RC_FORMERR;
	q->wire_len = (size_t)n;
	q->type = get16(msg + pos);
	q->class = get16(msg + pos + 2);
	pos += 4;
	dotted(q->wire, q->name, &q->plain);
	unsigned records = (unsigned)get16(msg + 6) + get16(msg + 8) + get16(msg + 10);
	for (unsigned i = 0; i < records; i++) {
		uint16_t class;
		int type = skip_record(msg, len, &pos, &class);
		if (type < 0) break; /* a broken record after a good question: answer without EDNS */
		if (type == T_OPT && class > UDP_LIMIT) q->udp_limit = class < EDNS_LIMIT ? class : EDNS_LIMIT;
	}
	return RC_OK;
}

/* ---- writing an answer --------------------------------------------------------------- */

struct out {
	uint8_t *p;
	size_t len, cap;
	int full; /* something did not fit */
};

static void put(struct out *o, const void *data, size_t n)
{
	if (o->full || o->len + n > o->cap) {
		o->full = 1;
		return;
	}
	memcpy(o->p + o->len, data, n);
	o->len += n;
}

static void put16(struct out *o, uint16_t v)
{
	uint8_t b[2] = { v >> 8, v & 0xFF };
	put(o, b, 2);
}

static void put32(struct out *o, uint32_t v)
{
	uint8_t b[4] = { v >> 24, v >> 16 & 0xFF, v >> 8 & 0xFF, v & 0xFF };
	put(o, b, 4);
}

/* The header and the question echoed back (the question only if it was read). */
static void put_head(struct out *o, const struct question *q, int rcode, int aa, int ra, unsigned answers)
{
	uint16_t flags = 0x8000 | (q->flags & 0x7800) | (q->flags & 0x0100) | rcode; /* QR, opcode, RD */
	if (aa) flags |= 0x0400;
	if (ra) flags |= 0x0080;
	put16(o, q->id);
	put16(o, flags);
	put16(o, q->wire_len ? 1 : 0);
	put16(o, answers);
	put16(o, 0);
	put16(o, 0);
	if (q->wire_len) {
		put(o, q->wire, q->wire_len);
		put16(o, q->type);
		put16(o, q->class);
	}
}

/* One answer record about the question's name (a pointer to it: offset 12). */
static void put_record(struct out *o, uint16_t type, const void *data, size_t n)
{
	put16(o, 0xC000 | 12);
	put16(o, type);
	put16(o, C_IN);
	put32(o, TTL);
	put16(o, (uint16_t)n);
	put(o, data, n);
}

/* "web.lab" -> "\3web\3lab\0"; returns its length, or 0 if a label is too long. */
static size_t to_wire(const char *name, uint8_t *wire)
{
	size_t o = 0;
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t n = dot ? (size_t)(dot - name) : strlen(name);
		if (n == 0 || n > 63 || o + 1 + n + 1 > 255) return 0;
		wire[o++] = (uint8_t)n;
		memcpy(wire + o, name, n);
		o += n;
		name += n + (dot ? 1 : 0);
	}
	wire[o++] = 0;
	return o;
}

/* "4.3.2.1.in-addr.arpa" -> 1.2.3.4. Returns 0, or -1 if the name is not one of those. */
static int reverse_v4(const char *name, unsigned char addr[4])
{
	unsigned a, b, c, d;
	char rest[32];
	int used = 0;
	if (sscanf(name, "%3u.%3u.%3u.%3u.%n", &d, &c, &b, &a, &used) != 4 || used == 0) return -1;
	if (strlen(name + used) >= sizeof rest) return -1;
	strcpy(rest, name + used);
	if (strcmp(rest, "in-addr.arpa") != 0 || a > 255 || b > 255 || c > 255 || d > 255) return -1;
	addr[0] = a, addr[1] = b, addr[2] = c, addr[3] = d;
	return 0;
}

/* Does this line answer a question from `from`? Unscoped lines answer everyone. */
static int for_client(const struct host *h, const struct peer *from)
{
	if (!h->scope.family) return 1;
	if (!from || from->family != h->scope.family) return 0;
	return memcmp(from->addr, h->scope.addr, from->family == AF_INET ? 4 : 16) == 0;
}

/*
 * The answer from the hosts file to a question from `from` (NULL: unknown), into `o`. Returns
 * 1 if the file has the name (or, for PTR, the address), 0 if it has not and the question
 * should go upstream or get NXDOMAIN.
 */
static int answer_local(const struct question *q, struct out *o, int ra, const struct peer *from)
{
	if (!q->plain) return 0;
	unsigned char v4[4];
	if (q->type == T_PTR && reverse_v4(q->name, v4) == 0) {
		unsigned n = 0;
		for (size_t i = 0; i < nhosts; i++)
			n += hosts[i].family == AF_INET && hosts[i].canonical && for_client(&hosts[i], from) && memcmp(hosts[i].addr, v4, 4) == 0;
		if (!n) return 0;
		put_head(o, q, RC_OK, 1, ra, n);
		for (size_t i = 0; i < nhosts; i++) {
			if (hosts[i].family != AF_INET || !hosts[i].canonical || !for_client(&hosts[i], from) || memcmp(hosts[i].addr, v4, 4)) continue;
			uint8_t wire[255];
			size_t len = to_wire(hosts[i].name, wire);
			if (len) put_record(o, T_PTR, wire, len);
			else o->full = 1; /* cannot happen for a name that came from a question */
		}
		return 1;
	}
	char name[256];
	if (normalize(q->name, name, 254) < 0) return 0;
	int known = 0;
	unsigned n = 0;
	for (size_t i = 0; i < nhosts; i++) {
		if (strcmp(hosts[i].name, name) || !for_client(&hosts[i], from)) continue;
		known = 1;
		int a = hosts[i].family == AF_INET, aaaa = hosts[i].family == AF_INET6;
		n += (a && (q->type == T_A || q->type == T_ANY)) || (aaaa && (q->type == T_AAAA || q->type == T_ANY));
	}
	if (!known) return 0;
	/* Known, but no record of this type (an AAAA question about an IPv4 name): NOERROR, no answers. */
	put_head(o, q, RC_OK, 1, ra, n);
	for (size_t i = 0; i < nhosts; i++) {
		if (strcmp(hosts[i].name, name) || !for_client(&hosts[i], from)) continue;
		if (hosts[i].family == AF_INET && (q->type == T_A || q->type == T_ANY)) put_record(o, T_A, hosts[i].addr, 4);
		if (hosts[i].family == AF_INET6 && (q->type == T_AAAA || q->type == T_ANY)) put_record(o, T_AAAA, hosts[i].addr, 16);
	}
	return 1;
}

enum action { DROP, REPLY, FORWARD };

/*
 * What to do with one message from a client (`from`: its address, NULL if unknown): nothing
 * (DROP), send `reply` (REPLY), or ask the upstreams (FORWARD).
 */
static enum action handle(const uint8_t *msg, size_t len, int tcp, int have_upstreams, struct question *q,
			  uint8_t *reply, size_t *reply_len, const struct peer *from)
{
	if (len < 12) return DROP;        /* not even a header: nothing to answer to */
	if (msg[2] & 0x80) return DROP;   /* QR set: a response, not a question; never answer one */
	struct out o = { reply, 0, MSG_MAX, 0 };
	int rcode = parse_query(msg, len, q);
	if (rcode == RC_OK && q->class != C_IN) rcode = RC_REFUSED; /* Chaos and Hesiod are not ours */
	if (rcode == RC_OK) {
		hosts_refresh();
		if (answer_local(q, &o, have_upstreams, from)) {
			size_t limit = tcp ? MSG_MAX : UDP_LIMIT; /* no OPT in our answers: 512 */
			if (o.full || o.len > limit) { /* too long: the question alone, TC set, ask again over TCP */
				o = (struct out){ reply, 0, MSG_MAX, 0 };
				put_head(&o, q, RC_OK, 1, have_upstreams, 0);
				reply[2] |= 0x02;
			}
			*reply_len = o.len;
			return REPLY;
		}
		if (have_upstreams) return FORWARD;
		rcode = RC_NXDOMAIN;
	}
	if (rcode == RC_FORMERR || rcode == RC_NOTIMP) q->wire_len = 0; /* the question, if any, is not echoed */
	put_head(&o, q, rcode, 0, have_upstreams, 0);
	*reply_len = o.len;
	return REPLY;
}

/* ---- the server ---------------------------------------------------------------------- */

#ifndef BOX_DNS_NO_MAIN

static struct addr upstreams[MAX_UPSTREAMS];
static int nupstreams;
static int udp_fd, tcp_fd;

struct conn {
	int fd;             /* -1: free */
	unsigned gen;       /* changes when the slot is reused, so a late upstream answer is not misdelivered */
	size_t have;        /* bytes of buf read: a two-byte length, then the message */
	struct peer from;   /* the client's address, for scoped hosts lines */
	int64_t deadline;
	uint8_t buf[2 + MSG_MAX];
};
static struct conn conns[MAX_CONNS];

/*
 * A question asked upstream, in the protocol the client used (as Docker's resolver does): a
 * client that came over TCP may want an answer longer than UDP carries.
 */
struct forward {
	int fd;             /* a socket connected to the upstream being asked; -1: free */
	int upstream;
	enum { SENT, CONNECTING } stage; /* TCP: waiting for connect(2) to finish, then SENT */
	uint8_t *answer;    /* TCP: the answer read so far (its two length bytes first) */
	size_t have;
	uint16_t client_id, id;
	int64_t deadline;
	struct question q;  /* for the SERVFAIL or the TC answer */
	int conn;           /* the TCP client's slot, or -1: the UDP client at `client` */
	unsigned conn_gen;
	struct addr client;
	uint8_t *msg;
	size_t len;
};
static struct forward forwards[MAX_FORWARDS];

static volatile sig_atomic_t stopping;
static void on_stop(int sig) { (void)sig; stopping = 1; }

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("box-dns: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(code);
}

static void usage(const char *problem)
{
	die(2, "%s; usage: box-dns --listen IP[:PORT] --hosts FILE [--upstream IP[:PORT]]... [--ready-fd N]", problem);
}

static int listen_on(const struct addr *a, int type)
{
	int fd = socket(a->sa.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) die(1, "socket: %s", strerror(errno));
	int one = 1;
	if (type == SOCK_STREAM) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* restart despite TIME_WAIT */
	if (bind(fd, (const struct sockaddr *)&a->sa, a->len) < 0) {
		const char *proto = type == SOCK_STREAM ? "TCP" : "UDP";
		if (errno == EADDRINUSE) die(1, "cannot listen on %s (%s): the port is in use by another program", show_addr(a), proto);
		if (errno == EADDRNOTAVAIL) die(1, "cannot listen on %s: no interface here has that address", show_addr(a));
		if (errno == EACCES) die(1, "cannot listen on %s: a port below 1024 needs root (CAP_NET_BIND_SERVICE)", show_addr(a));
		die(1, "cannot listen on %s (%s): %s", show_addr(a), proto, strerror(errno));
	}
	if (type == SOCK_STREAM && listen(fd, 64) < 0) die(1, "listen %s: %s", show_addr(a), strerror(errno));
	return fd;
}

/*
 * Once its sockets are bound, box-dns needs no privilege: it reads a file box made readable,
 * and sends and receives on sockets it holds or makes. It parses bytes from containers, so
 * it keeps no capability (no mount, no ptrace, no network configuration) and can gain none
 * by exec. It stays uid 0 only to keep reading the hosts file wherever box keeps it.
 */
static void drop_privileges(void)
{
	struct __user_cap_header_struct head = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct none[2] = { 0 };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || syscall(SYS_capset, &head, none) < 0)
		die(1, "cannot drop privileges: %s", strerror(errno));
}

static void conn_close(int i)
{
	close(conns[i].fd);
	conns[i].fd = -1;
	conns[i].gen++;
}

/* Send one message to a TCP client, its length first. A client that does not read is dropped. */
static void tcp_send(int i, const uint8_t *msg, size_t len)
{
	uint8_t head[2] = { len >> 8, len & 0xFF };
	struct iovec iov[2] = { { head, 2 }, { (void *)msg, len } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	if (sendmsg(conns[i].fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)(len + 2)) conn_close(i);
}

static void forward_free(struct forward *f)
{
	if (f->fd >= 0) close(f->fd);
	f->fd = -1;
	free(f->msg);
	f->msg = NULL;
	free(f->answer);
	f->answer = NULL;
}

/* Send the answer for forward `f` to the client that asked, if it is still there. */
static void forward_reply(struct forward *f, uint8_t *msg, size_t len)
{
	msg[0] = f->client_id >> 8, msg[1] = f->client_id & 0xFF;
	if (f->conn >= 0) {
		if (conns[f->conn].fd >= 0 && conns[f->conn].gen == f->conn_gen) tcp_send(f->conn, msg, len);
		return;
	}
	uint8_t cut[512];
	if (len > f->q.udp_limit) { /* too long for the client: the question alone, TC set */
		struct out o = { cut, 0, sizeof cut, 0 };
		put_head(&o, &f->q, msg[3] & 0xF, 0, 1, 0);
		if (o.full) return;
		cut[2] |= 0x02;
		msg = cut, len = o.len;
	}
	sendto(udp_fd, msg, len, MSG_DONTWAIT, (struct sockaddr *)&f->client.sa, f->client.len);
}

static void forward_fail(struct forward *f)
{
	uint8_t msg[512];
	struct out o = { msg, 0, sizeof msg, 0 };
	put_head(&o, &f->q, RC_SERVFAIL, 0, 1, 0);
	if (!o.full) forward_reply(f, msg, o.len);
	forward_free(f);
}

/*
 * Ask upstream number `u` (or the next that can be asked). A new socket per question,
 * connected to the upstream: the kernel then delivers only that upstream's datagrams, from a
 * random source port, and with a random id that is two guesses an off-path forger must make.
 */
static void forward_try(struct forward *f, int u)
{
	int tcp = f->conn >= 0;
	for (; u < nupstreams; u++) {
		if (f->fd >= 0) close(f->fd);
		f->fd = socket(upstreams[u].sa.ss_family, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (f->fd < 0) continue;
		f->upstream = u;
		f->deadline = now_ms() + UPSTREAM_MS;
		if (getrandom(&f->id, sizeof f->id, 0) != sizeof f->id) f->id = (uint16_t)now_ms();
		f->msg[0] = f->id >> 8, f->msg[1] = f->id & 0xFF;
		if (connect(f->fd, (struct sockaddr *)&upstreams[u].sa, upstreams[u].len) < 0) {
			if (!tcp || errno != EINPROGRESS) continue;
			f->stage = CONNECTING; /* a non-blocking connect: writable once it is done */
			return;
		}
		if (tcp) {
			f->stage = CONNECTING; /* connected at once (loopback): sent when poll says writable */
			return;
		}
		if (send(f->fd, f->msg, f->len, 0) != (ssize_t)f->len) continue;
		f->stage = SENT;
		return;
	}
	forward_fail(f); /* no upstream left to ask */
}

/* TCP: the connection is made (or failed); send the question, its length first. */
static void forward_writable(struct forward *f)
{
	int err = 0;
	socklen_t len = sizeof err;
	uint8_t head[2] = { f->len >> 8, f->len & 0xFF };
	struct iovec iov[2] = { { head, 2 }, { f->msg, f->len } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	if (getsockopt(f->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err ||
	    sendmsg(f->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)(f->len + 2)) {
		forward_try(f, f->upstream + 1);
		return;
	}
	f->stage = SENT;
	f->have = 0;
}

/* The answer is `msg`, if its id is ours and it is an answer; else keep waiting (UDP). */
static int forward_answered(struct forward *f, uint8_t *msg, size_t len)
{
	if (len < 12 || !(msg[2] & 0x80) || get16(msg) != f->id) return 0;
	forward_reply(f, msg, len);
	forward_free(f);
	return 1;
}

/* TCP: read the answer's two length bytes, then the answer. */
static void forward_tcp_readable(struct forward *f)
{
	if (!f->answer && !(f->answer = malloc(2 + MSG_MAX))) {
		forward_fail(f);
		return;
	}
	size_t want = f->have < 2 ? 2 : 2 + get16(f->answer);
	ssize_t n = recv(f->fd, f->answer + f->have, want - f->have, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
	if (n <= 0) { /* closed or failed before the whole answer: ask the next */
		forward_try(f, f->upstream + 1);
		return;
	}
	f->have += (size_t)n;
	if (f->have < 2 || f->have < 2 + (size_t)get16(f->answer)) return;
	if (!forward_answered(f, f->answer + 2, f->have - 2)) forward_try(f, f->upstream + 1);
}

static void forward_start(const uint8_t *msg, size_t len, const struct question *q, int conn, const struct addr *client)
{
	struct forward *f = NULL;
	for (int i = 0; i < MAX_FORWARDS && !f; i++)
		if (forwards[i].fd < 0 && !forwards[i].msg) f = &forwards[i];
	struct forward spare = { .fd = -1 };
	if (!f || !(spare.msg = malloc(len))) { /* too busy: SERVFAIL now rather than silence */
		f = &spare;
		f->q = *q, f->client_id = q->id, f->conn = conn;
		if (conn >= 0) f->conn_gen = conns[conn].gen;
		if (client) f->client = *client;
		forward_fail(f);
		return;
	}
	f->msg = spare.msg;
	memcpy(f->msg, msg, len);
	f->len = len;
	f->q = *q;
	f->client_id = q->id;
	f->conn = conn;
	f->conn_gen = conn >= 0 ? conns[conn].gen : 0;
	if (client) f->client = *client;
	f->fd = -1;
	forward_try(f, 0);
}

static void forward_readable(struct forward *f)
{
	static uint8_t msg[MSG_MAX];
	if (f->conn >= 0) {
		forward_tcp_readable(f);
		return;
	}
	ssize_t n = recv(f->fd, msg, sizeof msg, 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR) return;
		forward_try(f, f->upstream + 1); /* ECONNREFUSED: nothing listens there; ask the next */
		return;
	}
	forward_answered(f, msg, (size_t)n);
}

/* The address part of a socket address, as scoped hosts lines name it. */
static struct peer peer_of(const struct sockaddr_storage *sa)
{
	struct peer p = { 0 };
	if (sa->ss_family == AF_INET) {
		p.family = AF_INET;
		memcpy(p.addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->ss_family == AF_INET6) {
		p.family = AF_INET6;
		memcpy(p.addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	}
	return p;
}

/* One message from a client (UDP, or TCP slot `conn`). */
static void serve(const uint8_t *msg, size_t len, int conn, const struct addr *client)
{
	static uint8_t reply[MSG_MAX];
	size_t reply_len = 0;
	struct question q;
	struct peer from = conn >= 0 ? conns[conn].from : peer_of(&client->sa);
	switch (handle(msg, len, conn >= 0, nupstreams > 0, &q, reply, &reply_len, &from)) {
	case DROP:
		return;
	case FORWARD:
		forward_start(msg, len, &q, conn, client);
		return;
	case REPLY:
		if (conn >= 0) tcp_send(conn, reply, reply_len);
		else sendto(udp_fd, reply, reply_len, MSG_DONTWAIT, (const struct sockaddr *)&client->sa, client->len);
		return;
	}
}

static void udp_readable(void)
{
	static uint8_t msg[MSG_MAX];
	struct addr client;
	client.len = sizeof client.sa;
	ssize_t n = recvfrom(udp_fd, msg, sizeof msg, 0, (struct sockaddr *)&client.sa, &client.len);
	if (n >= 0) serve(msg, (size_t)n, -1, &client);
}

static void tcp_accept(void)
{
	struct sockaddr_storage sa = { 0 };
	socklen_t salen = sizeof sa;
	int fd = accept4(tcp_fd, (struct sockaddr *)&sa, &salen, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) return;
	for (int i = 0; i < MAX_CONNS; i++) {
		if (conns[i].fd >= 0) continue;
		conns[i].fd = fd;
		conns[i].from = peer_of(&sa);
		conns[i].have = 0;
		conns[i].deadline = now_ms() + IDLE_MS;
		return;
	}
	close(fd); /* full: the client may try again */
}

static void tcp_readable(int i)
{
	struct conn *c = &conns[i];
	size_t want = c->have < 2 ? 2 : 2 + get16(c->buf);
	ssize_t n = recv(c->fd, c->buf + c->have, want - c->have, 0);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		conn_close(i);
		return;
	}
	if (n < 0) return;
	c->have += (size_t)n;
	c->deadline = now_ms() + IDLE_MS;
	if (c->have >= 2 && c->have == 2 + (size_t)get16(c->buf)) {
		c->have = 0; /* before serve: the client may send its next question at once */
		serve(c->buf + 2, get16(c->buf), i, NULL);
	}
}

static void parse_args(int argc, char **argv, struct addr *listen_addr, int *ready_fd)
{
	int have_listen = 0;
	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i];
		if (i + 1 >= argc) usage(strncmp(opt, "--", 2) ? "unexpected argument" : "an option lacks its value");
		const char *val = argv[++i];
		if (!strcmp(opt, "--listen")) {
			if (parse_addr(val, listen_addr) < 0) die(2, "--listen %s: not an address (IPv4 or [IPv6], then :PORT if not 53)", val);
			have_listen = 1;
		} else if (!strcmp(opt, "--hosts")) {
			hosts_path = val;
		} else if (!strcmp(opt, "--upstream")) {
			if (nupstreams == MAX_UPSTREAMS) die(2, "--upstream: at most %d", MAX_UPSTREAMS);
			if (parse_addr(val, &upstreams[nupstreams]) < 0) die(2, "--upstream %s: not an address (IPv4 or [IPv6], then :PORT if not 53)", val);
			nupstreams++;
		} else if (!strcmp(opt, "--ready-fd")) {
			char *end;
			long fd = strtol(val, &end, 10);
			if (!*val || *end || fd < 0 || fd > 65535) die(2, "--ready-fd %s: not a file descriptor number", val);
			*ready_fd = (int)fd;
		} else {
			usage("unknown option");
		}
	}
	if (!have_listen) usage("--listen is missing");
	if (!hosts_path) usage("--hosts is missing");
	for (int u = 0; u < nupstreams; u++)
		if (upstreams[u].len == listen_addr->len && !memcmp(&upstreams[u].sa, &listen_addr->sa, listen_addr->len))
			die(2, "--upstream %s is box-dns's own address: it would ask itself forever", show_addr(listen_addr));
}

int main(int argc, char **argv)
{
	struct addr listen_addr;
	int ready_fd = -1;
	parse_args(argc, argv, &listen_addr, &ready_fd);
	FILE *f = fopen(hosts_path, "re");
	if (!f) die(2, "cannot read the hosts file %s: %s", hosts_path, strerror(errno));
	fclose(f);
	hosts_refresh();

	/* SIGTERM and SIGINT are blocked except inside ppoll: one cannot slip in between the
	 * check of `stopping` and the wait, and the wait returns EINTR when one comes. */
	sigset_t block, during_wait;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &during_wait);
	sigdelset(&during_wait, SIGTERM);
	sigdelset(&during_wait, SIGINT);
	struct sigaction sa = { .sa_handler = on_stop };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	udp_fd = listen_on(&listen_addr, SOCK_DGRAM);
	tcp_fd = listen_on(&listen_addr, SOCK_STREAM);
	drop_privileges();
	for (int i = 0; i < MAX_CONNS; i++) conns[i].fd = -1;
	for (int i = 0; i < MAX_FORWARDS; i++) forwards[i].fd = -1;
	if (ready_fd >= 0) {
		if (write(ready_fd, "1", 1) != 1) die(2, "--ready-fd %d: %s", ready_fd, strerror(errno));
		close(ready_fd);
	}

	struct pollfd pfd[2 + MAX_CONNS + MAX_FORWARDS];
	int who[2 + MAX_CONNS + MAX_FORWARDS]; /* 0 UDP, 1 TCP listener, 2+i conn i, 1000+i forward i */
	while (!stopping) {
		int n = 0;
		int64_t now = now_ms(), next = now + IDLE_MS;
		pfd[n] = (struct pollfd){ udp_fd, POLLIN, 0 }, who[n++] = 0;
		pfd[n] = (struct pollfd){ tcp_fd, POLLIN, 0 }, who[n++] = 1;
		for (int i = 0; i < MAX_CONNS; i++) {
			if (conns[i].fd < 0) continue;
			if (conns[i].deadline <= now) {
				conn_close(i);
				continue;
			}
			if (conns[i].deadline < next) next = conns[i].deadline;
			pfd[n] = (struct pollfd){ conns[i].fd, POLLIN, 0 }, who[n++] = 2 + i;
		}
		for (int i = 0; i < MAX_FORWARDS; i++) {
			struct forward *fw = &forwards[i];
			if (fw->fd < 0) continue;
			if (fw->deadline <= now) {
				forward_try(fw, fw->upstream + 1); /* no answer in time: the next upstream */
				if (fw->fd < 0) continue;
			}
			if (fw->deadline < next) next = fw->deadline;
			pfd[n] = (struct pollfd){ fw->fd, fw->stage == CONNECTING ? POLLOUT : POLLIN, 0 }, who[n++] = 1000 + i;
		}
		int64_t wait = next - now;
		struct timespec timeout = { wait / 1000, (wait % 1000) * 1000000 };
		if (ppoll(pfd, n, &timeout, &during_wait) < 0) {
			if (errno == EINTR) continue;
			die(1, "ppoll: %s", strerror(errno));
		}
		for (int k = 0; k < n; k++) {
			if (!pfd[k].revents) continue;
			if (who[k] == 0) udp_readable();
			else if (who[k] == 1) tcp_accept();
			else if (who[k] < 1000) {
				if (conns[who[k] - 2].fd == pfd[k].fd) tcp_readable(who[k] - 2);
			} else if (forwards[who[k] - 1000].fd == pfd[k].fd) {
				struct forward *fw = &forwards[who[k] - 1000];
				if (fw->stage == CONNECTING) forward_writable(fw);
				else forward_readable(fw);
			}
		}
	}
	return 0;
}

#endif /* BOX_DNS_NO_MAIN */
