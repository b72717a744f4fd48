/* attest-swarm: N emulated hosts serving the Agent API v1 from one process,
 * for load benchmarks and tests of the verifier. See docs/simulator.md. */
#include <openssl/evp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "b64enc.h"
#include "err.h"
#include "fileio.h"
#include "hex.h"
#include "log.h"
#include "swarm.h"

#define DEFAULT_FIRST_ADDRESS "127.64.0.1"

static const char WARNING[] =
    "attest-swarm: WARNING: this is an EMULATOR. Every host it serves is a software\n"
    "  imitation of a TPM: EK, AK and TLS keys are ordinary files and memory of this\n"
    "  process, certified by a test CA it made itself. Its quotes prove nothing about\n"
    "  any machine. Use it only against a test verifier whose certified TPM list holds\n"
    "  that test CA; never add its CA to a production verifier.\n";

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: attest-swarm --accept-software-keys --dir DIR --hosts N --eventlog FILE\n"
	    "                    (--trust-verifier SHA256:HEX... | --trust-first-verifier)\n"
	    "                    [OPTIONS]\n"
	    "\n"
	    "Serve the Agent API v1 (docs/protocol.md) over mutual TLS for N emulated hosts\n"
	    "from this one process: each host has its own address, TLS certificate, EK (ECC\n"
	    "P-256, certified by DIR's test CA) and AKs (RSA-2048 or ECC P-256, as the\n"
	    "verifier asks, like attest-agent), answers real TPMS_ATTEST quotes of the PCR\n"
	    "values FILE replays to, signed in software, and activates credentials with its\n"
	    "EK's private key. For benchmarks and tests only (bench/test builds).\n"
	    "\n"
	    "  --accept-software-keys  required: says you know these are not TPMs\n"
	    "  --dir DIR               keys and files: ca-cert.pem (give it to the verifier's\n"
	    "                          --ca-dir), hosts.pem (cached host keys), hosts.tsv\n"
	    "  --hosts N               number of hosts (1..%u)\n"
	    "  --eventlog FILE         the UEFI event log every host booted\n"
	    "  --first-address A       host 1's IPv4 address; host i listens on A + i - 1,\n"
	    "                          skipping .0 and .255 (default %s)\n"
	    "  --port P                the port every host listens on (default 0: a free\n"
	    "                          one). All hosts are served by one listener on the\n"
	    "                          loopback interface's wildcard address and port P,\n"
	    "                          told apart by the address a connection arrived on\n"
	    "                          (about one open file per host)\n"
	    "  --name-prefix P         hosts are named P-00001, ... (default swarm)\n"
	    "  --trust-verifier TP     a verifier certificate thumbprint to accept (repeat)\n"
	    "  --trust-first-verifier  pin the first client that asks for an identity\n"
	    "  --tamper-log LIST       hosts (numbers, comma-separated) whose event log says\n"
	    "                          Secure Boot is off while its digests say on\n"
	    "  --uncertified LIST      hosts whose EK certificate comes from an untrusted CA\n"
	    "  --register URL          add every host to the verifier at https://HOST:PORT\n"
	    "                          (POST /api/v1/hosts, its certificate pinned on the\n"
	    "                          first --trust-verifier); prints 'registered N failed M'\n"
	    "  --token-file F          the admin token for --register\n"
	    "  --interval S            interval_s given to each host added (default: the\n"
	    "                          verifier's)\n"
	    "  --register-parallel K   requests in flight while registering (default 16)\n"
	    "  --rsa-aks K             RSA-2048 AKs to prepare for (default 2 x N): K\n"
	    "                          distinct moduli from a pool of 1024-bit primes made\n"
	    "                          at start on every core; more primes are made when\n"
	    "                          they run out. TEST KEYS: the moduli share factors.\n"
	    "                          0: none made at start (ECC AKs only, or slow RSA)\n"
	    "  --sign-threads N        threads that sign quotes, each answered on the event\n"
	    "                          loop once signed, as hosts with TPMs of their own\n"
	    "                          sign side by side (default: one per CPU, at least\n"
	    "                          2; 0: signed on the event loop, one after another)\n"
	    "  --push URL              push mode: the hosts open no port; once registered\n"
	    "                          (as push hosts) each long-polls the verifier's push\n"
	    "                          listener https://HOST:PORT (attest-verifier\n"
	    "                          --push-listen), its certificate pinned on the first\n"
	    "                          --trust-verifier, as attest-agent --push does\n"
	    "  --help                  this text\n"
	    "\n"
	    "Prints 'listening N hosts' once every host listens (DIR/hosts.tsv then lists\n"
	    "NAME, ADDRESS:PORT and THUMBPRINT per line), and on SIGUSR1 and at exit a\n"
	    "'stats' line: identities, AKs, activations, quotes, refused calls and the mean\n"
	    "software signing time of a quote (the signature itself: sign_ms the CPU time\n"
	    "of the thread that made it, sign_wall_ms its wall time), and the quotes'\n"
	    "answer times since the previous stats line, p50 and p99 (answer_p50_ms,\n"
	    "answer_p99_ms: from the request read to the answer sent, in whole ms rounded\n"
	    "up, over 1000 counted as 1001; -1 with none). SIGTERM or SIGINT stops it.\n",
	    SWARM_MAX_HOSTS, DEFAULT_FIRST_ADDRESS);
}

uint64_t swarm_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int parse_uint(const char *s, unsigned long max, unsigned *ret)
{
	char *end = NULL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || !end || *end || end == s || s[0] == '-' || v > max)
		return ATTEST_E_FORMAT;
	*ret = (unsigned)v;
	return 0;
}

/* "1,5,20" -> flags set on those hosts (1-based). */
static int mark_hosts(struct swarm *sw, const char *list, bool tamper)
{
	char buf[4096];
	if (strlen(list) >= sizeof buf)
		return ATTEST_E_LIMIT;
	snprintf(buf, sizeof buf, "%s", list);
	char *save = NULL;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		unsigned i;
		if (parse_uint(t, sw->n, &i) || i == 0)
			return ATTEST_E_FORMAT;
		if (tamper)
			sw->hosts[i - 1].tampered = true;
		else
			sw->hosts[i - 1].uncertified = true;
	}
	return 0;
}

/* Listen addresses: A, A+1, ... skipping x.x.x.0 and x.x.x.255. */
static int assign_addresses(struct swarm *sw, const char *first, unsigned port)
{
	struct in_addr a;
	if (inet_pton(AF_INET, first, &a) != 1)
		return ATTEST_E_FORMAT;
	uint32_t v = ntohl(a.s_addr);
	for (unsigned i = 0; i < sw->n; i++) {
		while ((v & 0xff) == 0 || (v & 0xff) == 0xff)
			v++;
		if ((v >> 24) != 127) {
			log_error("--first-address %s: %u hosts leave 127.0.0.0/8", first, sw->n);
			return ATTEST_E_ARG;
		}
		struct swarm_host *h = &sw->hosts[i];
		h->sw = sw;
		h->index = i + 1;
		h->addr = v;
		snprintf(h->listen, sizeof h->listen, "%u.%u.%u.%u:%u", v >> 24, (v >> 16) & 0xff,
		         (v >> 8) & 0xff, v & 0xff, port);
		v++;
	}
	return 0;
}

/* Enough descriptors for the one listener and the verifier's connections
 * (one kept alive per host, and one more now and then: swarm_listen's cap,
 * with its room for connections being refused). */
static void raise_nofile(unsigned hosts)
{
	struct rlimit rl;
	rlim_t conns = (rlim_t)hosts + hosts / 8 + 64;
	rlim_t need = conns + conns / 4 + 256;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
		return;
	struct rlimit want = {need, rl.rlim_max > need ? rl.rlim_max : need};
	if (setrlimit(RLIMIT_NOFILE, &want) != 0) {
		want.rlim_cur = want.rlim_max = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &want);
		log_warning("open files limited to %lu, %u hosts want %lu: raise the hard limit "
		            "(ulimit -Hn) or run fewer hosts",
		            (unsigned long)rl.rlim_max, hosts, (unsigned long)need);
	}
}

/* The log every host "booted": parsed, replayed, base64'd; and the copy a
 * tampered host sends, whose first EFI variable event's value is changed
 * (the SecureBoot variable in a Secure Boot log) while its digest is not. */
static int load_eventlog(struct swarm *sw, const char *path)
{
	int rc = fileio_read(path, EVENTLOG_MAX_SIZE, &sw->log, &sw->log_len);
	if (rc) {
		log_error("cannot read the event log %s: %s", path, strerror(errno));
		return rc;
	}
	struct eventlog *ev = NULL;
	if ((rc = eventlog_parse(sw->log, sw->log_len, &ev, NULL)) != 0 ||
	    (rc = eventlog_replay(ev, &sw->pcrs)) != 0) {
		log_error("%s: not an event log we can replay", path);
		eventlog_free(ev);
		return rc;
	}
	size_t at = 0;
	for (size_t i = 0; i < ev->event_count && !at; i++)
		if (ev->events[i].type == EV_EFI_VARIABLE_DRIVER_CONFIG && ev->events[i].data_len)
			at = (size_t)(ev->events[i].data - ev->raw) + ev->events[i].data_len - 1;
	eventlog_free(ev);
	sw->log_b64 = b64enc(sw->log, sw->log_len);
	if (!sw->log_b64 ||
	    !EVP_Digest(sw->log, sw->log_len, sw->log_sha256, NULL, EVP_sha256(), NULL))
		return ATTEST_E_NOMEM;
	if (!at) {
		log_error("%s: no EFI variable event to tamper with", path);
		return ATTEST_E_FORMAT;
	}
	sw->log[at] ^= 0x01;
	sw->log_b64_tampered = b64enc(sw->log, sw->log_len);
	int d = EVP_Digest(sw->log, sw->log_len, sw->log_sha256_tampered, NULL, EVP_sha256(), NULL);
	sw->log[at] ^= 0x01;
	if (!d)
		return ATTEST_E_CRYPTO;
	return sw->log_b64_tampered ? 0 : ATTEST_E_NOMEM;
}

static int write_hosts_tsv(struct swarm *sw)
{
	size_t cap = (size_t)sw->n * 160 + 1, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		return ATTEST_E_NOMEM;
	for (unsigned i = 0; i < sw->n; i++) {
		struct swarm_host *h = &sw->hosts[i];
		len += (size_t)snprintf(buf + len, cap - len, "%s\t%s\t%s\n", h->name, h->listen,
		                        h->tls.thumbprint);
	}
	char path[1024];
	snprintf(path, sizeof path, "%s/hosts.tsv", sw->dir);
	int rc = fileio_write_atomic(path, buf, len, 0644);
	free(buf);
	return rc;
}

/* The answer time below which a share (per mille) of the quotes counted
 * since the last call fell, in ms: a bucket's upper bound (-1: none
 * counted). */
static long answer_quantile(const struct swarm *sw, unsigned permille)
{
	uint64_t n = 0, seen = 0;
	for (unsigned i = 0; i < SWARM_ANSWER_BUCKETS; i++)
		n += sw->answer_ms[i];
	if (n == 0)
		return -1;
	uint64_t want = (n * permille + 999) / 1000;
	for (unsigned i = 0; i < SWARM_ANSWER_BUCKETS; i++) {
		seen += sw->answer_ms[i];
		if (seen >= want)
			return (long)i + 1;
	}
	return SWARM_ANSWER_BUCKETS;
}

static void print_stats(struct swarm *sw)
{
	long a50 = answer_quantile(sw, 500), a99 = answer_quantile(sw, 990);
	memset(sw->answer_ms, 0, sizeof sw->answer_ms);
	printf("stats hosts %u identities %llu aks %llu activations %llu activation_failures %llu "
	       "quotes %llu refused %llu aks_rsa %llu rsa_primes %u sign_wall_ms %.4f sign_ms %.4f "
	       "answer_p50_ms %ld answer_p99_ms %ld\n",
	       sw->n, (unsigned long long)sw->identities, (unsigned long long)sw->aks,
	       (unsigned long long)sw->activations, (unsigned long long)sw->activation_failures,
	       (unsigned long long)sw->quotes, (unsigned long long)sw->refused,
	       (unsigned long long)sw->aks_rsa, swarm_rsa_pool_primes(sw->rsa),
	       sw->sign_count ? (double)sw->sign_wall_ns / (double)sw->sign_count / 1e6 : 0.0,
	       sw->sign_count ? (double)sw->sign_ns / (double)sw->sign_count / 1e6 : 0.0, a50, a99);
	if (sw->push)
		printf("push polls %llu poll_failures %llu\n", (unsigned long long)sw->polls,
		       (unsigned long long)sw->poll_failures);
	fflush(stdout);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct swarm *sw = arg;
	if (sig == SIGUSR1) {
		print_stats(sw);
		return;
	}
	log_notice("stopping on signal %d", (int)sig);
	event_base_loopbreak(sw->base);
}

struct opts {
	const char *dir, *eventlog, *first, *prefix, *tamper, *uncertified, *reg_url, *token_file;
	unsigned hosts, port, interval, parallel;
	long long rsa_aks;      /* -1: 2 x hosts */
	long long sign_threads; /* -1: one per CPU, at least 2 */
	bool accept, prepare;
};

static int parse_args(int argc, char **argv, struct opts *o, struct swarm *sw)
{
	enum {
		O_ACCEPT = 256,
		O_FIRST,
		O_PREFIX,
		O_TRUST,
		O_TRUST_FIRST,
		O_TAMPER,
		O_UNCERT,
		O_REGISTER,
		O_TOKEN,
		O_INTERVAL,
		O_PARALLEL,
		O_PORT,
		O_PREPARE,
		O_PUSH,
		O_RSA_AKS,
		O_SIGN_THREADS
	};
	static const struct option lo[] = {
	    {"accept-software-keys", no_argument, NULL, O_ACCEPT},
	    {"dir", required_argument, NULL, 'd'},
	    {"hosts", required_argument, NULL, 'n'},
	    {"eventlog", required_argument, NULL, 'e'},
	    {"first-address", required_argument, NULL, O_FIRST},
	    {"port", required_argument, NULL, O_PORT},
	    {"name-prefix", required_argument, NULL, O_PREFIX},
	    {"trust-verifier", required_argument, NULL, O_TRUST},
	    {"trust-first-verifier", no_argument, NULL, O_TRUST_FIRST},
	    {"tamper-log", required_argument, NULL, O_TAMPER},
	    {"uncertified", required_argument, NULL, O_UNCERT},
	    {"register", required_argument, NULL, O_REGISTER},
	    {"token-file", required_argument, NULL, O_TOKEN},
	    {"interval", required_argument, NULL, O_INTERVAL},
	    {"register-parallel", required_argument, NULL, O_PARALLEL},
	    {"prepare", no_argument, NULL, O_PREPARE},
	    {"push", required_argument, NULL, O_PUSH},
	    {"rsa-aks", required_argument, NULL, O_RSA_AKS},
	    {"sign-threads", required_argument, NULL, O_SIGN_THREADS},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case O_ACCEPT: o->accept = true; break;
		case O_PREPARE: o->prepare = true; break;
		case O_PUSH:
			if (swarm_parse_url(optarg, sw->push_host, sizeof sw->push_host,
			                    &sw->push_port) != 0) {
				fprintf(stderr,
				        "attest-swarm: --push %s: expected https://HOST:PORT\n",
				        optarg);
				return 2;
			}
			sw->push = true;
			break;
		case 'd': o->dir = optarg; break;
		case 'e': o->eventlog = optarg; break;
		case O_FIRST: o->first = optarg; break;
		case O_PREFIX: o->prefix = optarg; break;
		case O_TAMPER: o->tamper = optarg; break;
		case O_UNCERT: o->uncertified = optarg; break;
		case O_REGISTER: o->reg_url = optarg; break;
		case O_TOKEN: o->token_file = optarg; break;
		case O_TRUST_FIRST: sw->trust_first = true; break;
		case 'n':
			if (parse_uint(optarg, SWARM_MAX_HOSTS, &o->hosts) || o->hosts == 0) {
				fprintf(stderr, "attest-swarm: --hosts: 1..%u\n", SWARM_MAX_HOSTS);
				return 2;
			}
			break;
		case O_PORT:
			if (parse_uint(optarg, 65535, &o->port)) {
				fprintf(stderr, "attest-swarm: --port: 0..65535\n");
				return 2;
			}
			break;
		case O_INTERVAL:
			if (parse_uint(optarg, 86400, &o->interval) || o->interval == 0) {
				fprintf(stderr, "attest-swarm: --interval: 1..86400 seconds\n");
				return 2;
			}
			break;
		case O_RSA_AKS: {
			unsigned k;
			if (parse_uint(optarg, 10u * SWARM_MAX_HOSTS, &k)) {
				fprintf(stderr, "attest-swarm: --rsa-aks: 0..%u\n",
				        10u * SWARM_MAX_HOSTS);
				return 2;
			}
			o->rsa_aks = k;
			break;
		}
		case O_SIGN_THREADS: {
			unsigned k;
			if (parse_uint(optarg, SWARM_MAX_SIGN_THREADS, &k)) {
				fprintf(stderr, "attest-swarm: --sign-threads: 0..%u\n",
				        SWARM_MAX_SIGN_THREADS);
				return 2;
			}
			o->sign_threads = k;
			break;
		}
		case O_PARALLEL:
			if (parse_uint(optarg, 256, &o->parallel) || o->parallel == 0) {
				fprintf(stderr, "attest-swarm: --register-parallel: 1..256\n");
				return 2;
			}
			break;
		case O_TRUST:
			if (sw->ntrusted == SWARM_MAX_TRUSTED ||
			    tlsid_thumbprint_parse(optarg, sw->trusted[sw->ntrusted]) != 0) {
				fprintf(
				    stderr,
				    "attest-swarm: --trust-verifier %s: not a thumbprint (or more "
				    "than %u)\n",
				    optarg, SWARM_MAX_TRUSTED);
				return 2;
			}
			sw->ntrusted++;
			break;
		case 'h': usage(stdout); return 1;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "attest-swarm: unexpected argument %s\n", argv[optind]);
		return 2;
	}
	if (!o->accept) {
		fputs(WARNING, stderr);
		fputs("attest-swarm: refusing to start without --accept-software-keys\n", stderr);
		return 2;
	}
	if (!o->dir || !o->hosts || !o->eventlog ||
	    (!o->prepare && !sw->ntrusted && !sw->trust_first)) {
		fputs("attest-swarm: --dir, --hosts, --eventlog and --trust-verifier (or "
		      "--trust-first-verifier) are required; see --help\n",
		      stderr);
		return 2;
	}
	if (sw->push && (!o->reg_url || !sw->ntrusted)) {
		fputs("attest-swarm: --push needs --register (the hosts poll once added) and "
		      "--trust-verifier (the verifier's certificate, pinned)\n",
		      stderr);
		return 2;
	}
	if (o->reg_url && (!o->token_file || !sw->ntrusted)) {
		fputs("attest-swarm: --register needs --token-file and --trust-verifier (the "
		      "verifier's thumbprint pins its API too)\n",
		      stderr);
		return 2;
	}
	return 0;
}

static int start(struct swarm *sw, struct opts *o, char *token)
{
	int rc;
	sw->n = o->hosts;
	sw->hosts = calloc(sw->n, sizeof *sw->hosts);
	if (!sw->hosts)
		return ATTEST_E_NOMEM;
	if ((rc = assign_addresses(sw, o->first ? o->first : DEFAULT_FIRST_ADDRESS, o->port)) != 0)
		return rc;
	uint32_t resets = (uint32_t)(time(NULL) / 60);
	for (unsigned i = 0; i < sw->n; i++) {
		struct swarm_host *h = &sw->hosts[i];
		uint8_t rnd[16];
		snprintf(h->name, sizeof h->name, "%.20s-%05u", o->prefix ? o->prefix : "swarm",
		         h->index);
		if (RAND_bytes(rnd, sizeof rnd) != 1)
			return ATTEST_E_CRYPTO;
		hex_encode(rnd, sizeof rnd, h->boot_id);
		h->reset_count = resets;
	}
	if ((o->tamper && mark_hosts(sw, o->tamper, true)) ||
	    (o->uncertified && mark_hosts(sw, o->uncertified, false))) {
		log_error("--tamper-log/--uncertified: host numbers 1..%u, comma-separated", sw->n);
		return ATTEST_E_ARG;
	}
	if ((rc = load_eventlog(sw, o->eventlog)) != 0)
		return rc;
	if (mkdir(sw->dir, 0700) != 0 && errno != EEXIST) {
		log_error("cannot create %s: %s", sw->dir, strerror(errno));
		return ATTEST_E_IO;
	}
	uint64_t t0 = swarm_now_ns();
	if ((rc = swarm_cas_load(sw)) != 0 || (rc = swarm_hosts_keys(sw)) != 0) {
		log_error("cannot make the hosts' keys: %s", attest_strerror(rc));
		return rc;
	}
	uint64_t t1 = swarm_now_ns();
	if (o->prepare) {
		log_notice("%u hosts' keys ready in %.1f s; the test EK CA is %s/ca-cert.pem",
		           sw->n, (double)(t1 - t0) / 1e9, sw->dir);
		return 1; /* done, do not serve */
	}
	/* Primes for the RSA AKs: not kept in DIR, since a restarted swarm's
	 * AKs must be new ones (a verifier never accepts an AK twice). */
	uint64_t rsa_aks = o->rsa_aks >= 0 ? (uint64_t)o->rsa_aks : 2u * (uint64_t)sw->n;
	if ((rc = swarm_rsa_pool_new(rsa_aks, &sw->rsa)) != 0) {
		log_error("cannot make the RSA AK primes: %s", attest_strerror(rc));
		return rc;
	}
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned threads = o->sign_threads >= 0            ? (unsigned)o->sign_threads
	                   : cpus > SWARM_MAX_SIGN_THREADS ? SWARM_MAX_SIGN_THREADS
	                   : cpus > 2                      ? (unsigned)cpus
	                                                   : 2u;
	if ((rc = swarm_signer_new(sw, threads, &sw->signer)) != 0) {
		log_error("cannot start the signing threads: %s", attest_strerror(rc));
		return rc;
	}
	t1 = swarm_now_ns();
	if (sw->push)
		snprintf(sw->push_pin, sizeof sw->push_pin, "%s", sw->trusted[0]);
	if (!sw->push && (rc = swarm_listen(sw, o->port)) != 0)
		return rc;
	if ((rc = write_hosts_tsv(sw)) != 0) {
		log_error("cannot write %s/hosts.tsv", sw->dir);
		return rc;
	}
	log_notice("%u hosts: keys and AK primes in %.1f s, listening in %.1f s", sw->n,
	           (double)(t1 - t0) / 1e9, (double)(swarm_now_ns() - t1) / 1e9);
	printf("listening %u hosts\n", sw->n);
	fflush(stdout);
	if (o->reg_url)
		rc = swarm_register(sw, o->reg_url, token, sw->trusted[0], o->interval,
		                    o->parallel ? o->parallel : 16);
	return rc;
}

int main(int argc, char **argv)
{
	log_init("attest-swarm", LOG_LEVEL_NOTICE);
	struct swarm sw;
	struct opts o;
	memset(&sw, 0, sizeof sw);
	memset(&o, 0, sizeof o);
	o.rsa_aks = -1;
	o.sign_threads = -1;
	int rc = parse_args(argc, argv, &o, &sw);
	if (rc)
		return rc == 1 ? 0 : rc;
	fputs(WARNING, stderr);
	sw.dir = o.dir;
	sw.start_ms = swarm_now_ns() / 1000000u;
	char *token = NULL;
	if (o.token_file) {
		uint8_t *t = NULL;
		size_t tl = 0;
		if (fileio_read(o.token_file, 4096, &t, &tl) != 0) {
			log_error("cannot read %s: %s", o.token_file, strerror(errno));
			return 1;
		}
		token = (char *)t;
		token[strcspn(token, "\r\n")] = '\0';
	}
	raise_nofile(o.hosts);
	signal(SIGPIPE, SIG_IGN);
	sw.base = event_base_new();
	struct event *sigs[3] = {NULL, NULL, NULL};
	int signums[3] = {SIGTERM, SIGINT, SIGUSR1};
	for (int i = 0; sw.base && i < 3; i++) {
		sigs[i] = evsignal_new(sw.base, signums[i], on_signal, &sw);
		if (sigs[i])
			event_add(sigs[i], NULL);
	}
	rc = sw.base ? start(&sw, &o, token) : ATTEST_E_NOMEM;
	if (rc == 0)
		event_base_dispatch(sw.base);
	if (rc == 1)
		rc = 0; /* --prepare */
	else
		print_stats(&sw);
	for (int i = 0; i < 3; i++)
		if (sigs[i])
			event_free(sigs[i]);
	/* Signatures still in flight are dropped before their hosts and
	 * requests go. */
	swarm_signer_free(sw.signer);
	sw.signer = NULL;
	swarm_hosts_free(&sw);
	if (sw.base)
		event_base_free(sw.base);
	free(sw.log);
	free(sw.log_b64);
	free(sw.log_b64_tampered);
	if (token) {
		OPENSSL_cleanse(token, strlen(token));
		free(token);
	}
	return rc ? 1 : 0;
}
