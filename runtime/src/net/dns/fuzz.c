/*
 * A libFuzzer harness for box-dns: the same code that answers a container, fed every input
 * libFuzzer makes up, with AddressSanitizer and UBSan watching each read and write.
 *
 *   apt-get install clang-14 libclang-rt-14-dev
 *   clang-14 -g -O1 -fsanitize=fuzzer,address,undefined -o /tmp/box-dns-fuzz runtime/src/net/dns/fuzz.c
 *   /tmp/box-dns-fuzz -max_total_time=300 -max_len=1024 /tmp/box-dns-corpus
 *
 * The input's first byte picks what is fuzzed: a question over UDP or TCP (against a fixed
 * hosts file), a hosts file (then asked about), or a --listen/--upstream address.
 */
#define BOX_DNS_NO_MAIN
#include "box-dns.c"

static const char known_hosts[] = "10.213.0.2 web www.lab\n10.213.0.3 db\nfd00::5 six\n# a comment\n10.213.0.2 again\n";

static char path[] = "/tmp/box-dns-fuzz-hostsXXXXXX";
static void remove_hosts(void) { unlink(path); }

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, known_hosts, sizeof known_hosts - 1) != (ssize_t)(sizeof known_hosts - 1)) abort();
	close(fd);
	hosts_path = path;
	hosts_refresh(); /* later refreshes find the same file and keep the table */
	atexit(remove_hosts);
	return 0;
}

static uint8_t reply[MSG_MAX];

/* What every answer must be, whatever the question was. */
static void check(const uint8_t *msg, size_t len, int tcp, enum action a, size_t reply_len)
{
	if (a != REPLY) return;
	if (reply_len < 12 || reply_len > MSG_MAX) __builtin_trap();
	if (!tcp && reply_len > UDP_LIMIT) __builtin_trap();
	if (memcmp(reply, msg, 2) != 0) __builtin_trap();   /* the client's id */
	if (!(reply[2] & 0x80)) __builtin_trap();           /* QR: an answer, never a question */
	(void)len;
}

static void ask(const uint8_t *msg, size_t len, int tcp)
{
	struct question q;
	size_t reply_len = 0;
	enum action a = handle(msg, len, tcp, len & 1, &q, reply, &reply_len, NULL);
	check(msg, len, tcp, a, reply_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1) return 0;
	uint8_t mode = data[0] % 4;
	data++, size--;
	if (mode == 0 || mode == 1) {
		/* A fresh copy of exactly `size` bytes: ASan then sees any read past the message. */
		uint8_t *msg = malloc(size ? size : 1);
		memcpy(msg, data, size);
		ask(msg, size, mode == 1);
		free(msg);
	} else if (mode == 2) {
		FILE *f = fmemopen((void *)data, size, "r");
		if (!f) return 0;
		struct host *saved = malloc(nhosts * sizeof *hosts + 1);
		size_t saved_n = nhosts;
		memcpy(saved, hosts, nhosts * sizeof *hosts);
		hosts_read(f);
		fclose(f);
		for (size_t i = 0; i < nhosts; i++)
			if (strlen(hosts[i].name) > 253) __builtin_trap();
		static const uint8_t q[] = { 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'w', 'e', 'b', 0, 0, 1, 0, 1 };
		ask(q, sizeof q, 0);
		memcpy(hosts, saved, saved_n * sizeof *hosts); /* the fixed table back */
		nhosts = saved_n;
		free(saved);
	} else {
		char text[128];
		size_t n = size < sizeof text - 1 ? size : sizeof text - 1;
		memcpy(text, data, n);
		text[n] = 0;
		struct addr a;
		if (parse_addr(text, &a) == 0) (void)show_addr(&a);
	}
	return 0;
}
