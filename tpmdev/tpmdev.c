/* tpmdev, the TPM module (see tpmdev.h for the contract, docs/agent-tpm.md for
 * the why). tpm2-tss ESAPI over tctildr. */
#include "tpmdev.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <netdb.h>
#include <pthread.h>
#include <sys/socket.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>
#include <unistd.h>

#include "alg.h"
#include "err.h"
#include "tpmdev_templates.h"

/* The TCTI ESAPI talks to: a thin layer over the real one (tctildr) that
 * bounds every wait for a response (tpmdev_set_timeout). tpm2-tss's
 * synchronous calls would wait for ever, and the swtpm/mssim TCTIs refuse a
 * receive timeout; so before handing the receive to the real TCTI, this
 * layer polls its poll handles with the time left. When the deadline passes
 * the context is marked timed out and every later command fails at once:
 * the caller closes it and opens a new one (docs/agent-tpm.md). */
struct deadline_tcti {
	TSS2_TCTI_CONTEXT_COMMON_V2 common; /* must be first: ESAPI casts */
	TSS2_TCTI_CONTEXT *inner;
	struct tpmdev *t;
	bool awaiting; /* a command went out, its response not yet polled for */
	/* swtpm with a deadline: our own socket to its data port (its TCTI
	 * offers neither poll handles nor receive timeouts); -1 otherwise. */
	int fd;
	uint8_t hdr[10]; /* a response header read by a size query */
	bool have_hdr;
};

struct tpmdev {
	ESYS_CONTEXT *esys;
	TSS2_TCTI_CONTEXT *tcti; /* the real TCTI */
	struct deadline_tcti dl;
	unsigned timeout_ms; /* 0: wait as long as the TPM takes */
	bool timed_out;
	bool ek_persistent; /* t->ek is a persistent handle: close it, never flush */
	uint32_t ek_handle;
	char *tcti_conf;
	char err[TPMDEV_ERRMSG_SIZE];
	UINT16 nv_buffer_max;

	bool have_ek;
	ESYS_TR ek;
	TPMI_ALG_HASH ek_name_alg;
	enum ek_policy ek_policy;
	const char *ek_template_used;
	uint8_t ek_pub[sizeof(TPM2B_PUBLIC)];
	size_t ek_pub_len;

	bool have_ak;
	ESYS_TR ak;
	uint8_t ak_pub[sizeof(TPM2B_PUBLIC)];
	size_t ak_pub_len;
	uint8_t ak_priv[sizeof(TPM2B_PRIVATE)];
	size_t ak_priv_len;
	uint8_t ak_name[sizeof(TPMU_NAME)];
	size_t ak_name_len;
};

__attribute__((format(printf, 3, 4))) static int fail(struct tpmdev *t, int code, const char *fmt,
                                                      ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->err, sizeof t->err, fmt, ap);
	va_end(ap);
	return code;
}

/* The one place a TSS2_RC becomes an attest error. */
static int fail_rc(struct tpmdev *t, const char *what, TSS2_RC rc)
{
	if (t->timed_out)
		return fail(t, ATTEST_E_TPM, "%s: the TPM did not answer within %u ms", what,
		            t->timeout_ms);
	return fail(t, ATTEST_E_TPM, "%s: %s (0x%08x)", what, Tss2_RC_Decode(rc), (unsigned)rc);
}

/* TPM warnings that mean "ask again": TPM_RC_RETRY, TPM_RC_YIELDED and
 * TPM_RC_TESTING, from the TPM itself or relayed by a resource manager. */
static bool rc_retryable(TSS2_RC rc)
{
	TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;
	if (layer != TSS2_TPM_RC_LAYER && layer != TSS2_RESMGR_TPM_RC_LAYER)
		return false;
	TSS2_RC base = rc & 0xFFFFu;
	return base == TPM2_RC_RETRY || base == TPM2_RC_YIELDED || base == TPM2_RC_TESTING;
}

/* Called after each attempt: true (after a short pause) if the command
 * should be sent again. Bounded, so a TPM stuck in self-test fails in about
 * two seconds instead of hanging the caller. */
static bool retry_again(TSS2_RC rc, unsigned *attempt)
{
	if (!rc_retryable(rc) || *attempt + 1 >= TPMDEV_RETRIES)
		return false;
	(*attempt)++;
	long ms = (rc & 0xFFFFu) == TPM2_RC_TESTING ? 100 : 5L * *attempt;
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	return true;
}

static void flush(struct tpmdev *t, ESYS_TR *h)
{
	if (*h == ESYS_TR_NONE)
		return;
	if (h == &t->ek && t->ek_persistent) {
		/* A persistent EK stays in the TPM: only the ESAPI object goes. */
		(void)Esys_TR_Close(t->esys, h);
		*h = ESYS_TR_NONE;
		t->ek_persistent = false;
		t->ek_handle = 0;
		return;
	}
	/* Flushing can only fail if the handle is already gone; nothing else
	 * to do then. */
	(void)Esys_FlushContext(t->esys, *h);
	*h = ESYS_TR_NONE;
}

const char *tpmdev_ek_kind_name(enum tpmdev_ek_kind kind)
{
	switch (kind) {
	case TPMDEV_EK_RSA2048: return "rsa2048";
	case TPMDEV_EK_ECC_P256: return "ecc-p256";
	case TPMDEV_EK_RSA2048_H: return "rsa2048-h";
	case TPMDEV_EK_ECC_P256_H: return "ecc-p256-h";
	case TPMDEV_EK_ECC_P384_H: return "ecc-p384-h";
	default: return "unknown";
	}
}

uint32_t tpmdev_ek_cert_index(enum tpmdev_ek_kind kind)
{
	switch (kind) {
	case TPMDEV_EK_RSA2048: return TPMDEV_NV_RSA2048_EKCERT;
	case TPMDEV_EK_ECC_P256: return TPMDEV_NV_ECC_P256_EKCERT;
	case TPMDEV_EK_RSA2048_H: return TPMDEV_NV_RSA2048_HI_EKCERT;
	case TPMDEV_EK_ECC_P256_H: return TPMDEV_NV_ECC_P256_HI_EKCERT;
	case TPMDEV_EK_ECC_P384_H: return TPMDEV_NV_ECC_P384_HI_EKCERT;
	default: return 0;
	}
}

/* ---- PCR selections ---------------------------------------------------- */

static size_t alg_size(uint16_t alg)
{
	const struct alg_hash *h = alg_bank_by_id(alg);
	return h ? h->size : 0;
}

static const char *bank_name(uint16_t alg)
{
	const struct alg_hash *h = alg_bank_by_id(alg);
	return h ? h->name : "unknown";
}

static void to_tpml_selection(const struct pcrsel *sel, TPML_PCR_SELECTION *out)
{
	memset(out, 0, sizeof *out);
	out->count = sel->count;
	for (uint32_t b = 0; b < sel->count; b++) {
		out->pcrSelections[b].hash = sel->banks[b].alg;
		out->pcrSelections[b].sizeofSelect = 3;
		for (unsigned p = 0; p < TPMDEV_NUM_PCRS; p++)
			if (sel->banks[b].mask & (1u << p))
				out->pcrSelections[b].pcrSelect[p / 8] |= (uint8_t)(1u << (p % 8));
	}
}

/* ---- the deadline TCTI ------------------------------------------------ */

static struct deadline_tcti *dl_of(TSS2_TCTI_CONTEXT *c)
{
	return (struct deadline_tcti *)c;
}

/* Milliseconds left before the deadline that started at *start. */
static long long ms_left(const struct deadline_tcti *d, const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long long spent =
	    (now.tv_sec - start->tv_sec) * 1000LL + (now.tv_nsec - start->tv_nsec) / 1000000LL;
	return (long long)d->t->timeout_ms - spent;
}

/* Read or write exactly n bytes on d->fd before the deadline; 0, or
 * TSS2_TCTI_RC_IO_ERROR (with timed_out set when the time ran out). */
static TSS2_RC sock_io(struct deadline_tcti *d, bool out, uint8_t *buf, size_t n,
                       const struct timespec *start)
{
	size_t done = 0;
	while (done < n) {
		long long left = ms_left(d, start);
		if (left <= 0) {
			d->t->timed_out = true;
			return TSS2_TCTI_RC_IO_ERROR;
		}
		struct pollfd p = {.fd = d->fd, .events = out ? POLLOUT : POLLIN};
		int pr = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			return TSS2_TCTI_RC_IO_ERROR;
		if (pr == 0)
			continue; /* the deadline check above ends it */
		ssize_t k = out ? send(d->fd, buf + done, n - done, MSG_NOSIGNAL)
		                : recv(d->fd, buf + done, n - done, 0);
		if (k < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (k <= 0)
			return TSS2_TCTI_RC_IO_ERROR;
		done += (size_t)k;
	}
	return TSS2_RC_SUCCESS;
}

static TSS2_RC own_transmit(struct deadline_tcti *d, size_t size, const uint8_t *cmd)
{
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	d->have_hdr = false;
	return sock_io(d, true, (uint8_t *)cmd, size, &start);
}

/* TCTI receive semantics: resp NULL asks for the size (the header is read
 * and kept); then the whole response. */
static TSS2_RC own_receive(struct deadline_tcti *d, size_t *size, uint8_t *resp)
{
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	if (!d->have_hdr) {
		TSS2_RC r = sock_io(d, false, d->hdr, sizeof d->hdr, &start);
		if (r != TSS2_RC_SUCCESS)
			return r;
		d->have_hdr = true;
	}
	uint32_t total = (uint32_t)d->hdr[2] << 24 | (uint32_t)d->hdr[3] << 16 |
	                 (uint32_t)d->hdr[4] << 8 | d->hdr[5];
	if (total < sizeof d->hdr || total > 65536u)
		return TSS2_TCTI_RC_MALFORMED_RESPONSE;
	if (!resp) {
		*size = total;
		return TSS2_RC_SUCCESS;
	}
	if (*size < total)
		return TSS2_TCTI_RC_INSUFFICIENT_BUFFER;
	memcpy(resp, d->hdr, sizeof d->hdr);
	TSS2_RC r = sock_io(d, false, resp + sizeof d->hdr, total - sizeof d->hdr, &start);
	if (r != TSS2_RC_SUCCESS)
		return r;
	d->have_hdr = false;
	*size = total;
	return TSS2_RC_SUCCESS;
}

/* "swtpm:host=H,port=P" (either order, defaults localhost and 2321): connect
 * to the data port within the deadline. -1 if conf is not that or the
 * connection fails (errmsg says why). */
static int own_connect(const char *conf, unsigned ms, char *err, size_t errcap)
{
	char host[256] = "localhost", port[16] = "2321";
	const char *p = conf + 5;
	if (*p == ':')
		p++;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n > 5 && strncmp(p, "host=", 5) == 0 && n - 5 < sizeof host)
			snprintf(host, sizeof host, "%.*s", (int)(n - 5), p + 5);
		else if (n > 5 && strncmp(p, "port=", 5) == 0 && n - 5 < sizeof port)
			snprintf(port, sizeof port, "%.*s", (int)(n - 5), p + 5);
		else {
			snprintf(err, errcap, "TCTI \"%s\": unknown swtpm option \"%.*s\"", conf,
			         (int)n, p);
			return -1;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai = NULL;
	int e = getaddrinfo(host, port, &hints, &ai);
	if (e != 0) {
		snprintf(err, errcap, "TCTI \"%s\": %s", conf, gai_strerror(e));
		return -1;
	}
	int fd = -1;
	for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		struct pollfd pf = {.fd = fd, .events = POLLOUT};
		int soerr = 0;
		socklen_t sl = sizeof soerr;
		if (errno != EINPROGRESS || poll(&pf, 1, ms > INT_MAX ? INT_MAX : (int)ms) != 1 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(ai);
	if (fd < 0)
		snprintf(err, errcap, "cannot connect to swtpm at %s port %s", host, port);
	return fd;
}

static TSS2_RC dl_transmit(TSS2_TCTI_CONTEXT *c, size_t size, const uint8_t *cmd)
{
	struct deadline_tcti *d = dl_of(c);
	if (d->t->timed_out)
		return TSS2_TCTI_RC_IO_ERROR;
	if (d->fd >= 0)
		return own_transmit(d, size, cmd);
	TSS2_RC r = Tss2_Tcti_Transmit(d->inner, size, cmd);
	d->awaiting = r == TSS2_RC_SUCCESS;
	return r;
}

/* Wait until the real TCTI has something to read, at most timeout_ms:
 * 1 if it has, 0 if the time is up, -1 if it offers no handle to wait on. */
static int dl_wait(struct deadline_tcti *d)
{
	size_t n = 0;
	TSS2_TCTI_POLL_HANDLE h[4];
	if (Tss2_Tcti_GetPollHandles(d->inner, NULL, &n) != TSS2_RC_SUCCESS || n == 0 ||
	    n > sizeof h / sizeof h[0] ||
	    Tss2_Tcti_GetPollHandles(d->inner, h, &n) != TSS2_RC_SUCCESS)
		return -1;
	for (size_t i = 0; i < n; i++)
		h[i].events = POLLIN;
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		long long spent = (now.tv_sec - start.tv_sec) * 1000LL +
		                  (now.tv_nsec - start.tv_nsec) / 1000000LL;
		long long left = (long long)d->t->timeout_ms - spent;
		if (left <= 0)
			return 0;
		int pr = poll(h, (nfds_t)n, left > INT_MAX ? INT_MAX : (int)left);
		if (pr > 0)
			return 1;
		if (pr < 0 && errno != EINTR)
			return 1; /* let the real receive report the error */
	}
}

static TSS2_RC dl_receive(TSS2_TCTI_CONTEXT *c, size_t *size, uint8_t *resp, int32_t timeout)
{
	struct deadline_tcti *d = dl_of(c);
	if (d->t->timed_out)
		return TSS2_TCTI_RC_IO_ERROR;
	if (d->fd >= 0)
		return own_receive(d, size, resp);
	if (!d->awaiting || d->t->timeout_ms == 0)
		return Tss2_Tcti_Receive(d->inner, size, resp, timeout);
	/* Bound the wait once per command (a second receive, after a size
	 * query, reads what has already arrived): with the TCTI's poll handles
	 * when it has them (device), else with its own receive timeout (swtpm:
	 * it polls its socket and answers TRY_AGAIN when the time is up). */
	d->awaiting = false;
	int w = dl_wait(d);
	if (w == 0) {
		d->t->timed_out = true;
		return TSS2_TCTI_RC_IO_ERROR;
	}
	if (w == 1)
		return Tss2_Tcti_Receive(d->inner, size, resp, timeout);
	int32_t ms = d->t->timeout_ms > INT32_MAX ? INT32_MAX : (int32_t)d->t->timeout_ms;
	TSS2_RC r = Tss2_Tcti_Receive(d->inner, size, resp, ms);
	if ((r & TSS2_RC_LAYER_MASK) == TSS2_TCTI_RC_LAYER &&
	    (r & 0xffffu) == TSS2_BASE_RC_TRY_AGAIN) {
		d->t->timed_out = true;
		return TSS2_TCTI_RC_IO_ERROR;
	}
	if (r == TSS2_TCTI_RC_BAD_VALUE) /* a TCTI without receive timeouts */
		return Tss2_Tcti_Receive(d->inner, size, resp, timeout);
	return r;
}

static void dl_finalize(TSS2_TCTI_CONTEXT *c)
{
	(void)c; /* the real TCTI is finalized by tpmdev_close() */
}

static TSS2_RC dl_cancel(TSS2_TCTI_CONTEXT *c)
{
	struct deadline_tcti *d = dl_of(c);
	return d->inner ? Tss2_Tcti_Cancel(d->inner) : TSS2_TCTI_RC_NOT_IMPLEMENTED;
}

static TSS2_RC dl_poll_handles(TSS2_TCTI_CONTEXT *c, TSS2_TCTI_POLL_HANDLE *h, size_t *n)
{
	struct deadline_tcti *d = dl_of(c);
	return d->inner ? Tss2_Tcti_GetPollHandles(d->inner, h, n) : TSS2_TCTI_RC_NOT_IMPLEMENTED;
}

static TSS2_RC dl_set_locality(TSS2_TCTI_CONTEXT *c, uint8_t locality)
{
	struct deadline_tcti *d = dl_of(c);
	return d->inner ? Tss2_Tcti_SetLocality(d->inner, locality) : TSS2_TCTI_RC_NOT_IMPLEMENTED;
}

static TSS2_RC dl_make_sticky(TSS2_TCTI_CONTEXT *c, TPM2_HANDLE *h, uint8_t sticky)
{
	struct deadline_tcti *d = dl_of(c);
	return d->inner ? Tss2_Tcti_MakeSticky(d->inner, h, sticky) : TSS2_TCTI_RC_NOT_IMPLEMENTED;
}

void tpmdev_set_timeout(struct tpmdev *t, unsigned ms)
{
	t->timeout_ms = ms;
}

bool tpmdev_timed_out(const struct tpmdev *t)
{
	return t && t->timed_out;
}

/* ---- open / close ---------------------------------------------------- */

/* Some TCTIs talk to the TPM while they start (swtpm's asks its control
 * channel for its capabilities) and would wait for ever on a hung one. With
 * a deadline, the start runs on a helper thread; if the deadline passes the
 * helper is left to finish on its own and finalize what it made. While one
 * such start is still hanging, later opens fail at once instead of piling
 * up threads. */
struct tcti_start {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *conf;
	TSS2_TCTI_CONTEXT *tcti;
	TSS2_RC r;
	bool done, abandoned;
};

static pthread_mutex_t hung_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned hung_starts;

static void tcti_start_free(struct tcti_start *st)
{
	pthread_mutex_destroy(&st->mu);
	pthread_cond_destroy(&st->cv);
	free(st->conf);
	free(st);
}

static void *tcti_start_main(void *arg)
{
	struct tcti_start *st = arg;
	TSS2_TCTI_CONTEXT *tc = NULL;
	TSS2_RC r = Tss2_TctiLdr_Initialize(st->conf[0] ? st->conf : NULL, &tc);
	pthread_mutex_lock(&st->mu);
	st->done = true;
	st->r = r;
	st->tcti = tc;
	bool abandoned = st->abandoned;
	pthread_cond_signal(&st->cv);
	pthread_mutex_unlock(&st->mu);
	if (abandoned) {
		if (r == TSS2_RC_SUCCESS)
			Tss2_TctiLdr_Finalize(&tc);
		tcti_start_free(st);
		pthread_mutex_lock(&hung_mu);
		hung_starts--;
		pthread_mutex_unlock(&hung_mu);
	}
	return NULL;
}

/* Tss2_TctiLdr_Initialize within ms (0: no bound). *ret_timed_out says
 * whether the deadline passed. */
static TSS2_RC tcti_start(const char *conf, unsigned ms, TSS2_TCTI_CONTEXT **ret,
                          bool *ret_timed_out)
{
	*ret_timed_out = false;
	if (ms == 0)
		return Tss2_TctiLdr_Initialize(conf[0] ? conf : NULL, ret);
	pthread_mutex_lock(&hung_mu);
	unsigned hung = hung_starts;
	pthread_mutex_unlock(&hung_mu);
	if (hung) {
		*ret_timed_out = true;
		return TSS2_TCTI_RC_IO_ERROR;
	}
	struct tcti_start *st = calloc(1, sizeof *st);
	if (!st || !(st->conf = strdup(conf))) {
		free(st);
		return TSS2_TCTI_RC_MEMORY;
	}
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cv, NULL);
	/* Joinable: a start that ends in time is joined, so its stack is free
	 * for the next one and the agent's memory does not depend on how fast
	 * the machine retires threads; a hung one is detached and cleans up
	 * after itself. */
	pthread_t th;
	int e = pthread_create(&th, NULL, tcti_start_main, st);
	if (e != 0) {
		tcti_start_free(st);
		return TSS2_TCTI_RC_GENERAL_FAILURE;
	}
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += ms / 1000;
	dl.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&st->mu);
	while (!st->done)
		if (pthread_cond_timedwait(&st->cv, &st->mu, &dl) == ETIMEDOUT)
			break;
	if (!st->done) {
		st->abandoned = true;
		pthread_mutex_lock(&hung_mu);
		hung_starts++;
		pthread_mutex_unlock(&hung_mu);
		pthread_mutex_unlock(&st->mu);
		pthread_detach(th);
		*ret_timed_out = true;
		return TSS2_TCTI_RC_IO_ERROR;
	}
	pthread_mutex_unlock(&st->mu);
	pthread_join(th, NULL);
	TSS2_RC r = st->r;
	*ret = st->tcti;
	tcti_start_free(st);
	return r;
}

int tpmdev_open(const char *tcti, struct tpmdev **ret, char errmsg[TPMDEV_ERRMSG_SIZE])
{
	bool to;
	return tpmdev_open_timeout(tcti, 0, ret, errmsg, &to);
}

int tpmdev_open_timeout(const char *tcti, unsigned ms, struct tpmdev **ret,
                        char errmsg[TPMDEV_ERRMSG_SIZE], bool *ret_timed_out)
{
	*ret_timed_out = false;
	struct tpmdev *t = calloc(1, sizeof *t);
	if (!t) {
		if (errmsg)
			snprintf(errmsg, TPMDEV_ERRMSG_SIZE, "out of memory");
		return ATTEST_E_NOMEM;
	}
	t->ek = t->ak = ESYS_TR_NONE;
	t->dl.fd = -1;
	/* tpm2-tss logs every TPM error on stderr by default; we report each
	 * failure once, with its decoded text, so keep the library quiet
	 * unless the user asked for its log. */
	setenv("TSS2_LOG", "all+none", 0);
	t->tcti_conf = strdup(tcti ? tcti : "");
	int rc = ATTEST_E_NOMEM;
	if (!t->tcti_conf) {
		fail(t, rc, "out of memory");
		goto err;
	}
	t->timeout_ms = ms;
	t->dl.fd = -1;
	bool to = false;
	TSS2_RC r = TSS2_RC_SUCCESS;
	if (ms > 0 && strncmp(t->tcti_conf, "swtpm", 5) == 0 &&
	    (t->tcti_conf[5] == '\0' || t->tcti_conf[5] == ':')) {
		t->dl.fd = own_connect(t->tcti_conf, ms, t->err, sizeof t->err);
		if (t->dl.fd < 0) {
			rc = ATTEST_E_TPM;
			goto err;
		}
	} else {
		r = tcti_start(t->tcti_conf, ms, &t->tcti, &to);
	}
	if (to) {
		*ret_timed_out = true;
		rc = fail(t, ATTEST_E_TPM,
		          "cannot open TCTI \"%s\": the TPM did not answer within %u ms",
		          t->tcti_conf, ms);
		goto err;
	}
	if (r != TSS2_RC_SUCCESS) {
		rc = fail(t, ATTEST_E_TPM, "cannot open TCTI \"%s\": %s (0x%08x)", t->tcti_conf,
		          Tss2_RC_Decode(r), (unsigned)r);
		goto err;
	}
	t->dl.common.v1.magic = 0x61747465737464ULL; /* "attestd": ours, not tctildr's */
	t->dl.common.v1.version = 2;
	t->dl.common.v1.transmit = dl_transmit;
	t->dl.common.v1.receive = dl_receive;
	t->dl.common.v1.finalize = dl_finalize;
	t->dl.common.v1.cancel = dl_cancel;
	t->dl.common.v1.getPollHandles = dl_poll_handles;
	t->dl.common.v1.setLocality = dl_set_locality;
	t->dl.common.makeSticky = dl_make_sticky;
	t->dl.inner = t->tcti;
	t->dl.t = t;
	r = Esys_Initialize(&t->esys, (TSS2_TCTI_CONTEXT *)&t->dl, NULL);
	if (r != TSS2_RC_SUCCESS) {
		rc = fail_rc(t, "Esys_Initialize", r);
		goto err;
	}
	*ret = t;
	return 0;
err:
	if (errmsg)
		snprintf(errmsg, TPMDEV_ERRMSG_SIZE, "%s", t->err);
	tpmdev_close(t);
	return rc;
}

void tpmdev_close(struct tpmdev *t)
{
	if (!t)
		return;
	if (t->esys) {
		flush(t, &t->ak);
		flush(t, &t->ek);
		Esys_Finalize(&t->esys);
	}
	if (t->tcti)
		Tss2_TctiLdr_Finalize(&t->tcti);
	if (t->dl.fd >= 0)
		close(t->dl.fd);
	OPENSSL_cleanse(t->ak_priv, sizeof t->ak_priv);
	free(t->tcti_conf);
	free(t);
}

const char *tpmdev_last_error(const struct tpmdev *t)
{
	return t ? t->err : "";
}

const char *tpmdev_tcti(const struct tpmdev *t)
{
	return t->tcti_conf;
}

/* ---- capabilities ---------------------------------------------------- */

static int get_cap(struct tpmdev *t, TPM2_CAP cap, UINT32 prop, UINT32 count,
                   TPMS_CAPABILITY_DATA **ret)
{
	TSS2_RC r;
	unsigned attempt = 0;
	TPMI_YES_NO more = TPM2_NO;
	do {
		r = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, cap, prop,
		                       count, &more, ret);
	} while (r != TSS2_RC_SUCCESS && retry_again(r, &attempt));
	if (r != TSS2_RC_SUCCESS)
		return fail_rc(t, "TPM2_GetCapability", r);
	return 0;
}

/* Value of one TPM property; ATTEST_E_NOTFOUND if the TPM does not list it. */
static int get_prop(struct tpmdev *t, TPM2_PT pt, UINT32 *ret)
{
	TPMS_CAPABILITY_DATA *cd = NULL;
	int rc = get_cap(t, TPM2_CAP_TPM_PROPERTIES, pt, 1, &cd);
	if (rc)
		return rc;
	rc = ATTEST_E_NOTFOUND;
	if (cd->data.tpmProperties.count >= 1 &&
	    cd->data.tpmProperties.tpmProperty[0].property == pt) {
		*ret = cd->data.tpmProperties.tpmProperty[0].value;
		rc = 0;
	}
	Esys_Free(cd);
	return rc;
}

/* Whether a handle (NV index, persistent, ...) exists. */
static int handle_exists(struct tpmdev *t, TPM2_HANDLE h, bool *ret)
{
	TPMS_CAPABILITY_DATA *cd = NULL;
	int rc = get_cap(t, TPM2_CAP_HANDLES, h, 1, &cd);
	if (rc)
		return rc;
	*ret = cd->data.handles.count >= 1 && cd->data.handles.handle[0] == h;
	Esys_Free(cd);
	return 0;
}

static int count_handles(struct tpmdev *t, TPM2_HANDLE first, uint32_t *ret)
{
	TPMS_CAPABILITY_DATA *cd = NULL;
	int rc = get_cap(t, TPM2_CAP_HANDLES, first, TPM2_MAX_CAP_HANDLES, &cd);
	if (rc)
		return rc;
	/* The TPM lists only handles of the type first names. */
	uint32_t n = cd->data.handles.count;
	Esys_Free(cd);
	*ret = n;
	return 0;
}

int tpmdev_loaded_counts(struct tpmdev *t, uint32_t *ret_transient, uint32_t *ret_sessions)
{
	uint32_t tr, lo, sa;
	/* Literal handle ranges: tss2's TPM2_TRANSIENT_FIRST shifts into the
	 * sign bit of an int. Transient objects, loaded sessions, saved
	 * sessions. */
	int rc = count_handles(t, 0x80000000u, &tr);
	if (!rc)
		rc = count_handles(t, 0x02000000u, &lo);
	if (!rc)
		rc = count_handles(t, 0x03000000u, &sa);
	if (rc)
		return rc;
	*ret_transient = tr;
	/* Loaded and saved sessions share the TPM's session slots. */
	*ret_sessions = lo + sa;
	return 0;
}

static void prop_chars(UINT32 v, char *out)
{
	for (int i = 0; i < 4; i++) {
		char c = (char)((v >> (24 - 8 * i)) & 0xFF);
		out[i] = (c >= 0x20 && c < 0x7f) ? c : '\0';
	}
}

/* Four chars, NULs and trailing spaces cut (TPMs pad either way). */
static void trim(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && s[n - 1] == ' ')
		s[--n] = '\0';
}

int tpmdev_info(struct tpmdev *t, struct tpmdev_info *ret)
{
	struct tpmdev_info info;
	memset(&info, 0, sizeof info);
	UINT32 v;
	int rc = get_prop(t, TPM2_PT_MANUFACTURER, &v);
	if (rc)
		return rc == ATTEST_E_NOTFOUND ? fail(t, rc, "TPM does not report its manufacturer")
		                               : rc;
	info.manufacturer_id = v;
	prop_chars(v, info.manufacturer);
	/* Strings with embedded NULs are cut at the first one. */
	info.manufacturer[4] = '\0';
	trim(info.manufacturer);

	char vend[17] = {0};
	size_t vn = 0;
	for (TPM2_PT pt = TPM2_PT_VENDOR_STRING_1; pt <= TPM2_PT_VENDOR_STRING_4; pt++) {
		if (get_prop(t, pt, &v) != 0)
			break;
		char c4[4];
		prop_chars(v, c4);
		for (int i = 0; i < 4; i++)
			if (c4[i] && vn < 16)
				vend[vn++] = c4[i];
	}
	vend[vn] = '\0';
	trim(vend);
	memcpy(info.vendor, vend, sizeof info.vendor);

	if (get_prop(t, TPM2_PT_FIRMWARE_VERSION_1, &v) == 0)
		info.firmware_version_1 = v;
	if (get_prop(t, TPM2_PT_FIRMWARE_VERSION_2, &v) == 0)
		info.firmware_version_2 = v;
	if (get_prop(t, TPM2_PT_REVISION, &v) == 0)
		info.spec_revision = v;

	TPMS_CAPABILITY_DATA *cd = NULL;
	rc = get_cap(t, TPM2_CAP_PCRS, 0, 1, &cd);
	if (rc)
		return rc;
	const TPML_PCR_SELECTION *ps = &cd->data.assignedPCR;
	for (UINT32 i = 0; i < ps->count; i++) {
		bool any = false;
		for (int j = 0; j < ps->pcrSelections[i].sizeofSelect; j++)
			any |= ps->pcrSelections[i].pcrSelect[j] != 0;
		if (any && info.bank_count < sizeof info.banks / sizeof info.banks[0])
			info.banks[info.bank_count++] = ps->pcrSelections[i].hash;
	}
	Esys_Free(cd);
	tpmdev_interface(t->tcti_conf, info.interface, sizeof info.interface);
	*ret = info;
	return 0;
}

void tpmdev_interface(const char *tcti, char *out, size_t cap)
{
	snprintf(out, cap, "unknown");
	if (!tcti)
		return;
	const char *dev;
	if (strcmp(tcti, "device") == 0)
		dev = "/dev/tpm0";
	else if (strncmp(tcti, "device:", 7) == 0)
		dev = tcti + 7;
	else
		return; /* emulator, tabrmd, ...: no Linux driver to name */
	const char *base = strrchr(dev, '/');
	base = base ? base + 1 : dev;
	/* /dev/tpmrmN is the kernel resource manager in front of tpmN. */
	char name[32];
	if (strncmp(base, "tpmrm", 5) == 0)
		snprintf(name, sizeof name, "tpm%s", base + 5);
	else
		snprintf(name, sizeof name, "%s", base);
	if (strncmp(name, "tpm", 3) != 0 || strchr(name, '/') || strstr(name, ".."))
		return;
	char path[128], link[PATH_MAX];
	snprintf(path, sizeof path, "/sys/class/tpm/%s/device/driver", name);
	ssize_t n = readlink(path, link, sizeof link - 1);
	if (n <= 0)
		return;
	link[n] = '\0';
	const char *drv = strrchr(link, '/');
	snprintf(out, cap, "%s", drv ? drv + 1 : link);
}

/* ---- NV -------------------------------------------------------------- */

int tpmdev_nv_read(struct tpmdev *t, uint32_t index, uint8_t **ret, size_t *ret_len)
{
	bool exists = false;
	int rc = handle_exists(t, index, &exists);
	if (rc)
		return rc;
	if (!exists)
		return fail(t, ATTEST_E_NOTFOUND, "NV index 0x%08x is not defined", index);
	if (t->nv_buffer_max == 0) {
		UINT32 v = 0;
		/* 512 is a size every TPM accepts if it does not say. */
		t->nv_buffer_max =
		    (get_prop(t, TPM2_PT_NV_BUFFER_MAX, &v) == 0 && v > 0 && v <= 4096) ? (UINT16)v
		                                                                        : 512;
	}

	ESYS_TR nv = ESYS_TR_NONE;
	TPM2B_NV_PUBLIC *nvpub = NULL;
	TPM2B_NAME *nvname = NULL;
	uint8_t *buf = NULL;
	TSS2_RC r =
	    Esys_TR_FromTPMPublic(t->esys, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nv);
	if (r != TSS2_RC_SUCCESS) {
		rc = fail_rc(t, "TPM2_NV_ReadPublic", r);
		goto out;
	}
	r = Esys_NV_ReadPublic(t->esys, nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nvpub,
	                       &nvname);
	if (r != TSS2_RC_SUCCESS) {
		rc = fail_rc(t, "TPM2_NV_ReadPublic", r);
		goto out;
	}
	size_t size = nvpub->nvPublic.dataSize;
	if (size > TPMDEV_EK_CERT_MAX) {
		rc = fail(t, ATTEST_E_LIMIT, "NV index 0x%08x holds %zu bytes, more than %u", index,
		          size, TPMDEV_EK_CERT_MAX);
		goto out;
	}
	/* EK certificate indices are readable with their own (empty) auth or
	 * the owner's (empty on a provisioned server), per the profile. */
	ESYS_TR auth = (nvpub->nvPublic.attributes & TPMA_NV_AUTHREAD) ? nv : ESYS_TR_RH_OWNER;
	buf = malloc(size ? size : 1);
	if (!buf) {
		rc = fail(t, ATTEST_E_NOMEM, "out of memory");
		goto out;
	}
	size_t off = 0;
	while (off < size) {
		UINT16 chunk =
		    (UINT16)(size - off < t->nv_buffer_max ? size - off : t->nv_buffer_max);
		TPM2B_MAX_NV_BUFFER *data = NULL;
		unsigned attempt = 0;
		do {
			r = Esys_NV_Read(t->esys, auth, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			                 ESYS_TR_NONE, chunk, (UINT16)off, &data);
		} while (r != TSS2_RC_SUCCESS && retry_again(r, &attempt));
		if (r != TSS2_RC_SUCCESS) {
			rc = fail_rc(t, "TPM2_NV_Read", r);
			goto out;
		}
		if (data->size != chunk) {
			Esys_Free(data);
			rc = fail(t, ATTEST_E_TPM, "TPM2_NV_Read returned %u bytes, asked %u",
			          (unsigned)data->size, (unsigned)chunk);
			goto out;
		}
		memcpy(buf + off, data->buffer, chunk);
		off += chunk;
		Esys_Free(data);
	}
	*ret = buf;
	*ret_len = size;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	Esys_Free(nvpub);
	Esys_Free(nvname);
	/* NV handles are not transient: close the ESAPI object, do not flush. */
	if (nv != ESYS_TR_NONE)
		(void)Esys_TR_Close(t->esys, &nv);
	return rc;
}

/* ---- EK -------------------------------------------------------------- */

/* Start a policy session in the EK's name algorithm and satisfy the EK's
 * policy. continueSession is set so the session survives its use; the
 * caller flushes it on every path. */
static int ek_policy_session(struct tpmdev *t, ESYS_TR *ret)
{
	TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_NULL};
	ESYS_TR s = ESYS_TR_NONE;
	unsigned attempt = 0;
	TSS2_RC r;
	do {
		r = Esys_StartAuthSession(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
		                          ESYS_TR_NONE, ESYS_TR_NONE, NULL, TPM2_SE_POLICY, &sym,
		                          t->ek_name_alg, &s);
	} while (r != TSS2_RC_SUCCESS && retry_again(r, &attempt));
	if (r != TSS2_RC_SUCCESS)
		return fail_rc(t, "TPM2_StartAuthSession", r);

	int rc = 0;
	TPM2B_TIMEOUT *timeout = NULL;
	TPMT_TK_AUTH *ticket = NULL;
	attempt = 0;
	do {
		r = Esys_PolicySecret(t->esys, ESYS_TR_RH_ENDORSEMENT, s, ESYS_TR_PASSWORD,
		                      ESYS_TR_NONE, ESYS_TR_NONE, NULL, NULL, NULL, 0, &timeout,
		                      &ticket);
	} while (r != TSS2_RC_SUCCESS && retry_again(r, &attempt));
	Esys_Free(timeout);
	Esys_Free(ticket);
	if (r != TSS2_RC_SUCCESS) {
		rc = fail_rc(t, "TPM2_PolicySecret(TPM_RH_ENDORSEMENT)", r);
		goto err;
	}
	if (t->ek_policy == EK_POLICY_B) {
		TPML_DIGEST branches = {.count = 2};
		if (!ek_policy_branches(t->ek_name_alg, &branches.digests[0],
		                        &branches.digests[1])) {
			rc = fail(t, ATTEST_E_UNSUPPORTED, "no PolicyB branches for hash 0x%04x",
			          t->ek_name_alg);
			goto err;
		}
		r = Esys_PolicyOR(t->esys, s, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &branches);
		if (r != TSS2_RC_SUCCESS) {
			rc = fail_rc(t, "TPM2_PolicyOR", r);
			goto err;
		}
	}
	r = Esys_TRSess_SetAttributes(t->esys, s, TPMA_SESSION_CONTINUESESSION, 0xff);
	if (r != TSS2_RC_SUCCESS) {
		rc = fail_rc(t, "Esys_TRSess_SetAttributes", r);
		goto err;
	}
	*ret = s;
	return 0;
err:
	flush(t, &s);
	return rc;
}

/* Big-endian bytes of the certificate's key in the TPM's layout: the RSA
 * modulus, or X||Y of the EC point. Returns false for other keys. */
static bool cert_key_bytes(EVP_PKEY *pk, uint8_t *out, size_t cap, size_t *ret_len)
{
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA) {
		BIGNUM *n = NULL;
		if (!EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &n))
			return false;
		int nb = BN_num_bytes(n);
		bool ok = nb > 0 && (size_t)nb <= cap && BN_bn2bin(n, out) == nb;
		BN_free(n);
		*ret_len = ok ? (size_t)nb : 0;
		return ok;
	}
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC) {
		uint8_t pt[1 + 2 * 66];
		size_t n = 0;
		if (!EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt,
		                                     sizeof pt, &n) ||
		    n < 3 || pt[0] != 0x04 || n - 1 > cap)
			return false;
		memcpy(out, pt + 1, n - 1);
		*ret_len = n - 1;
		return true;
	}
	return false;
}

static bool tpm_key_matches(const TPMT_PUBLIC *p, const uint8_t *key, size_t key_len)
{
	if (p->type == TPM2_ALG_RSA)
		return p->unique.rsa.size == key_len &&
		       memcmp(p->unique.rsa.buffer, key, key_len) == 0;
	if (p->type == TPM2_ALG_ECC) {
		size_t xs = p->unique.ecc.x.size, ys = p->unique.ecc.y.size;
		return xs == ys && xs + ys == key_len &&
		       memcmp(p->unique.ecc.x.buffer, key, xs) == 0 &&
		       memcmp(p->unique.ecc.y.buffer, key + xs, ys) == 0;
	}
	return false;
}

/* A TPMT_PUBLIC stored in an EK template NV index (vendor-provisioned),
 * with the L-range nonce applied. false if there is none or it does not
 * unmarshal exactly. */
static bool nv_template(struct tpmdev *t, enum tpmdev_ek_kind kind, TPM2B_PUBLIC *ret)
{
	uint32_t idx = ek_template_index(kind);
	uint8_t *buf = NULL;
	size_t len = 0;
	if (!idx || tpmdev_nv_read(t, idx, &buf, &len) != 0)
		return false;
	TPM2B_PUBLIC p;
	memset(&p, 0, sizeof p);
	size_t off = 0;
	bool ok = Tss2_MU_TPMT_PUBLIC_Unmarshal(buf, len, &off, &p.publicArea) == TSS2_RC_SUCCESS &&
	          off == len;
	free(buf);
	if (!ok)
		return false;
	uint32_t nidx = ek_nonce_index(kind);
	uint8_t *nonce = NULL;
	size_t nlen = 0;
	if (nidx && tpmdev_nv_read(t, nidx, &nonce, &nlen) == 0) {
		if (p.publicArea.type == TPM2_ALG_RSA && nlen <= 256) {
			memset(p.publicArea.unique.rsa.buffer, 0, 256);
			memcpy(p.publicArea.unique.rsa.buffer, nonce, nlen);
			p.publicArea.unique.rsa.size = 256;
		} else if (p.publicArea.type == TPM2_ALG_ECC && nlen <= 32) {
			memset(&p.publicArea.unique.ecc, 0, sizeof p.publicArea.unique.ecc);
			memcpy(p.publicArea.unique.ecc.x.buffer, nonce, nlen);
			p.publicArea.unique.ecc.x.size = 32;
			p.publicArea.unique.ecc.y.size = 32;
		}
		free(nonce);
	}
	*ret = p;
	return true;
}

/* CreatePrimary under the endorsement hierarchy. */
static int create_primary(struct tpmdev *t, const TPM2B_PUBLIC *tmpl, ESYS_TR *ret_h,
                          TPM2B_PUBLIC **ret_pub)
{
	TPM2B_SENSITIVE_CREATE sens;
	memset(&sens, 0, sizeof sens);
	TPM2B_DATA outside = {.size = 0};
	TPML_PCR_SELECTION pcrs = {.count = 0};
	TPM2B_CREATION_DATA *cd = NULL;
	TPM2B_DIGEST *ch = NULL;
	TPMT_TK_CREATION *ct = NULL;
	TSS2_RC r;
	unsigned attempt = 0;
	do {
		r = Esys_CreatePrimary(t->esys, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD,
		                       ESYS_TR_NONE, ESYS_TR_NONE, &sens, tmpl, &outside, &pcrs,
		                       ret_h, ret_pub, &cd, &ch, &ct);
	} while (r != TSS2_RC_SUCCESS && retry_again(r, &attempt));
	Esys_Free(cd);
	Esys_Free(ch);
	Esys_Free(ct);
	if (r != TSS2_RC_SUCCESS)
		return fail_rc(t, "TPM2_CreatePrimary(EK)", r);
	return 0;
}

int tpmdev_ek_create(struct tpmdev *t, enum tpmdev_ek_kind kind, const uint8_t *cert,
                     size_t cert_len)
{
	if ((unsigned)kind >= TPMDEV_EK_KIND_COUNT)
		return fail(t, ATTEST_E_ARG, "unknown EK kind %d", (int)kind);

	uint8_t key[512];
	size_t key_len = 0;
	if (cert) {
		const unsigned char *p = cert;
		X509 *x = d2i_X509(NULL, &p, (long)cert_len);
		EVP_PKEY *pk = x ? X509_get0_pubkey(x) : NULL;
		bool ok = pk && cert_key_bytes(pk, key, sizeof key, &key_len);
		X509_free(x);
		if (!ok)
			return fail(t, ATTEST_E_FORMAT,
			            "EK certificate (%s) does not parse or holds no RSA/EC key",
			            tpmdev_ek_kind_name(kind));
	}

	/* Candidates in order: the vendor's template from NV, the profile's
	 * template, the profile's template with the other unique form. */
	TPM2B_PUBLIC cand[3];
	const char *cand_name[3];
	size_t nc = 0;
	if (nv_template(t, kind, &cand[nc]))
		cand_name[nc++] = "nv";
	bool high = kind == TPMDEV_EK_RSA2048_H || kind == TPMDEV_EK_ECC_P256_H ||
	            kind == TPMDEV_EK_ECC_P384_H;
	ek_template(kind, !high, &cand[nc]);
	cand_name[nc++] = "profile";
	if (cert) {
		ek_template(kind, high, &cand[nc]);
		cand_name[nc++] = high ? "profile-zero-unique" : "profile-empty-unique";
	}

	for (size_t i = 0; i < nc; i++) {
		ESYS_TR h = ESYS_TR_NONE;
		TPM2B_PUBLIC *pub = NULL;
		int rc = create_primary(t, &cand[i], &h, &pub);
		if (rc)
			return rc;
		if (cert && !tpm_key_matches(&pub->publicArea, key, key_len)) {
			Esys_Free(pub);
			flush(t, &h);
			continue;
		}
		enum ek_policy pol =
		    ek_policy_of(pub->publicArea.nameAlg, &pub->publicArea.authPolicy);
		size_t off = 0;
		uint8_t m[sizeof t->ek_pub];
		TSS2_RC r = Tss2_MU_TPM2B_PUBLIC_Marshal(pub, m, sizeof m, &off);
		TPMI_ALG_HASH name_alg = pub->publicArea.nameAlg;
		Esys_Free(pub);
		if (r != TSS2_RC_SUCCESS || pol == 0) {
			flush(t, &h);
			return r != TSS2_RC_SUCCESS ? fail_rc(t, "marshal EK public", r)
			                            : fail(t, ATTEST_E_UNSUPPORTED,
			                                   "EK authPolicy is neither the profile's "
			                                   "PolicyA nor PolicyB");
		}
		/* Replace the EK: an AK loaded under the old one goes too. */
		flush(t, &t->ak);
		t->have_ak = false;
		flush(t, &t->ek);
		t->ek = h;
		t->have_ek = true;
		t->ek_name_alg = name_alg;
		t->ek_policy = pol;
		t->ek_template_used = cand_name[i];
		memcpy(t->ek_pub, m, off);
		t->ek_pub_len = off;
		return 0;
	}
	return fail(t, ATTEST_E_VERIFY,
	            "no %s EK template gives the key in the EK certificate (tried %zu)",
	            tpmdev_ek_kind_name(kind), nc);
}

int tpmdev_ek_public(const struct tpmdev *t, const uint8_t **ret, size_t *ret_len)
{
	if (!t->have_ek)
		return ATTEST_E_STATE;
	*ret = t->ek_pub;
	*ret_len = t->ek_pub_len;
	return 0;
}

const char *tpmdev_ek_template_used(const struct tpmdev *t)
{
	return t->have_ek ? t->ek_template_used : "none";
}

/* ---- AK -------------------------------------------------------------- */

static int ak_store(struct tpmdev *t, ESYS_TR h, const TPM2B_PUBLIC *pub, const TPM2B_PRIVATE *priv)
{
	size_t po = 0, so = 0;
	uint8_t pm[sizeof t->ak_pub], sm[sizeof t->ak_priv];
	TSS2_RC r = Tss2_MU_TPM2B_PUBLIC_Marshal(pub, pm, sizeof pm, &po);
	if (r == TSS2_RC_SUCCESS)
		r = Tss2_MU_TPM2B_PRIVATE_Marshal(priv, sm, sizeof sm, &so);
	TPM2B_NAME *name = NULL;
	if (r == TSS2_RC_SUCCESS)
		r = Esys_TR_GetName(t->esys, h, &name);
	if (r != TSS2_RC_SUCCESS) {
		OPENSSL_cleanse(sm, sizeof sm);
		return fail_rc(t, "store AK", r);
	}
	flush(t, &t->ak);
	t->ak = h;
	t->have_ak = true;
	memcpy(t->ak_pub, pm, po);
	t->ak_pub_len = po;
	memcpy(t->ak_priv, sm, so);
	t->ak_priv_len = so;
	OPENSSL_cleanse(sm, sizeof sm);
	memcpy(t->ak_name, name->name, name->size);
	t->ak_name_len = name->size;
	Esys_Free(name);
	return 0;
}

static int ak_load(struct tpmdev *t, const TPM2B_PUBLIC *pub, const TPM2B_PRIVATE *priv,
                   ESYS_TR *ret)
{
	ESYS_TR s = ESYS_TR_NONE;
	int rc = ek_policy_session(t, &s);
	if (rc)
		return rc;
	TSS2_RC r;
	unsigned attempt = 0;
	do {
		r = Esys_Load(t->esys, t->ek, s, ESYS_TR_NONE, ESYS_TR_NONE, priv, pub, ret);
	} while (r != TSS2_RC_SUCCESS && retry_again(r, &attempt));
	flush(t, &s);
	if (r != TSS2_RC_SUCCESS)
		return fail_rc(t, "TPM2_Load(AK)", r);
	return 0;
}

int tpmdev_ak_create(struct tpmdev *t, enum tpmdev_ak_alg alg)
{
	if (!t->have_ek)
		return fail(t, ATTEST_E_STATE, "no EK loaded: create the EK before the AK");
	TPM2B_PUBLIC tmpl;
	ak_template(alg, &tmpl);
	TPM2B_SENSITIVE_CREATE sens;
	memset(&sens, 0, sizeof sens);
	TPM2B_DATA outside = {.size = 0};
	TPML_PCR_SELECTION pcrs = {.count = 0};
	TPM2B_PRIVATE *priv = NULL;
	TPM2B_PUBLIC *pub = NULL;
	TPM2B_CREATION_DATA *cd = NULL;
	TPM2B_DIGEST *ch = NULL;
	TPMT_TK_CREATION *ct = NULL;
	ESYS_TR s = ESYS_TR_NONE, h = ESYS_TR_NONE;

	int rc = ek_policy_session(t, &s);
	if (rc)
		return rc;
	TSS2_RC r;
	unsigned attempt = 0;
	do {
		r = Esys_Create(t->esys, t->ek, s, ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl,
		                &outside, &pcrs, &priv, &pub, &cd, &ch, &ct);
	} while (r != TSS2_RC_SUCCESS && retry_again(r, &attempt));
	flush(t, &s);
	if (r != TSS2_RC_SUCCESS) {
		rc = fail_rc(t, "TPM2_Create(AK under EK)", r);
		goto out;
	}
	rc = ak_load(t, pub, priv, &h);
	if (rc)
		goto out;
	rc = ak_store(t, h, pub, priv);
	if (rc)
		flush(t, &h);
out:
	if (priv)
		OPENSSL_cleanse(priv, sizeof *priv);
	Esys_Free(priv);
	Esys_Free(pub);
	Esys_Free(cd);
	Esys_Free(ch);
	Esys_Free(ct);
	return rc;
}

int tpmdev_ak_load(struct tpmdev *t, const uint8_t *pub_m, size_t pub_len, const uint8_t *priv_m,
                   size_t priv_len)
{
	if (!t->have_ek)
		return fail(t, ATTEST_E_STATE, "no EK loaded: create the EK before loading the AK");
	TPM2B_PUBLIC pub;
	TPM2B_PRIVATE priv;
	memset(&pub, 0, sizeof pub);
	memset(&priv, 0, sizeof priv);
	size_t po = 0, so = 0;
	if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(pub_m, pub_len, &po, &pub) != TSS2_RC_SUCCESS ||
	    po != pub_len ||
	    Tss2_MU_TPM2B_PRIVATE_Unmarshal(priv_m, priv_len, &so, &priv) != TSS2_RC_SUCCESS ||
	    so != priv_len)
		return fail(t, ATTEST_E_FORMAT, "saved AK blobs do not unmarshal exactly");
	ESYS_TR h = ESYS_TR_NONE;
	int rc = ak_load(t, &pub, &priv, &h);
	if (!rc) {
		rc = ak_store(t, h, &pub, &priv);
		if (rc)
			flush(t, &h);
	}
	OPENSSL_cleanse(&priv, sizeof priv);
	return rc;
}

int tpmdev_ak_public(const struct tpmdev *t, const uint8_t **ret, size_t *ret_len)
{
	if (!t->have_ak)
		return ATTEST_E_STATE;
	*ret = t->ak_pub;
	*ret_len = t->ak_pub_len;
	return 0;
}

int tpmdev_ak_private(const struct tpmdev *t, const uint8_t **ret, size_t *ret_len)
{
	if (!t->have_ak)
		return ATTEST_E_STATE;
	*ret = t->ak_priv;
	*ret_len = t->ak_priv_len;
	return 0;
}

int tpmdev_ak_name(const struct tpmdev *t, const uint8_t **ret, size_t *ret_len)
{
	if (!t->have_ak)
		return ATTEST_E_STATE;
	*ret = t->ak_name;
	*ret_len = t->ak_name_len;
	return 0;
}

int tpmdev_activate_credential(struct tpmdev *t, const uint8_t *id_object, size_t id_object_len,
                               const uint8_t *enc_secret, size_t enc_secret_len, uint8_t **ret,
                               size_t *ret_len)
{
	if (!t->have_ek || !t->have_ak)
		return fail(t, ATTEST_E_STATE,
		            "credential activation needs the EK and an AK loaded");
	TPM2B_ID_OBJECT cred;
	TPM2B_ENCRYPTED_SECRET sec;
	memset(&cred, 0, sizeof cred);
	memset(&sec, 0, sizeof sec);
	size_t o1 = 0, o2 = 0;
	if (Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(id_object, id_object_len, &o1, &cred) !=
	        TSS2_RC_SUCCESS ||
	    o1 != id_object_len ||
	    Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(enc_secret, enc_secret_len, &o2, &sec) !=
	        TSS2_RC_SUCCESS ||
	    o2 != enc_secret_len)
		return fail(t, ATTEST_E_FORMAT,
		            "credential is not one TPM2B_ID_OBJECT and one TPM2B_ENCRYPTED_SECRET");

	ESYS_TR s = ESYS_TR_NONE;
	int rc = ek_policy_session(t, &s);
	if (rc)
		return rc;
	TPM2B_DIGEST *out = NULL;
	TSS2_RC r;
	unsigned attempt = 0;
	do {
		r = Esys_ActivateCredential(t->esys, t->ak, t->ek, ESYS_TR_PASSWORD, s,
		                            ESYS_TR_NONE, &cred, &sec, &out);
	} while (r != TSS2_RC_SUCCESS && retry_again(r, &attempt));
	flush(t, &s);
	if (r != TSS2_RC_SUCCESS)
		return fail_rc(t, "TPM2_ActivateCredential", r);
	uint8_t *buf = malloc(out->size ? out->size : 1);
	if (!buf) {
		OPENSSL_cleanse(out, sizeof *out);
		Esys_Free(out);
		return fail(t, ATTEST_E_NOMEM, "out of memory");
	}
	memcpy(buf, out->buffer, out->size);
	*ret_len = out->size;
	*ret = buf;
	OPENSSL_cleanse(out, sizeof *out);
	Esys_Free(out);
	return 0;
}

/* ---- PCRs and quotes ------------------------------------------------- */

int tpmdev_pcr_read(struct tpmdev *t, const struct pcrsel *sel, struct tpmdev_pcr_values *ret)
{
	struct tpmdev_pcr_values *v = calloc(1, sizeof *v);
	if (!v)
		return fail(t, ATTEST_E_NOMEM, "out of memory");
	struct pcrsel left = *sel;
	v->count = sel->count;
	for (uint32_t b = 0; b < sel->count; b++) {
		v->banks[b].alg = sel->banks[b].alg;
		v->banks[b].size = (uint16_t)alg_size(sel->banks[b].alg);
	}
	int rc = 0;
	/* TPM2_PCR_Read answers at most 8 digests per call and says which in
	 * pcrSelectionOut; ask again for what is left until nothing is. */
	for (;;) {
		bool any = false;
		for (uint32_t b = 0; b < left.count; b++)
			any |= left.banks[b].mask != 0;
		if (!any)
			break;
		TPML_PCR_SELECTION in;
		to_tpml_selection(&left, &in);
		UINT32 counter;
		TPML_PCR_SELECTION *out = NULL;
		TPML_DIGEST *dig = NULL;
		TSS2_RC r;
		unsigned attempt = 0;
		do {
			r = Esys_PCR_Read(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &in,
			                  &counter, &out, &dig);
		} while (r != TSS2_RC_SUCCESS && retry_again(r, &attempt));
		if (r != TSS2_RC_SUCCESS) {
			rc = fail_rc(t, "TPM2_PCR_Read", r);
			goto out;
		}
		UINT32 di = 0;
		bool progress = false;
		for (UINT32 i = 0; i < out->count && rc == 0; i++) {
			uint32_t b = 0;
			while (b < left.count && left.banks[b].alg != out->pcrSelections[i].hash)
				b++;
			for (unsigned p = 0; p < TPMDEV_NUM_PCRS && rc == 0; p++) {
				if (p / 8 >= out->pcrSelections[i].sizeofSelect ||
				    !(out->pcrSelections[i].pcrSelect[p / 8] & (1u << (p % 8))))
					continue;
				if (b == left.count || di >= dig->count ||
				    dig->digests[di].size != v->banks[b].size) {
					rc = fail(
					    t, ATTEST_E_TPM,
					    "TPM2_PCR_Read answered a selection it was not asked");
					break;
				}
				memcpy(v->banks[b].pcr[p], dig->digests[di].buffer,
				       v->banks[b].size);
				v->banks[b].mask |= 1u << p;
				left.banks[b].mask &= ~(1u << p);
				di++;
				progress = true;
			}
		}
		Esys_Free(out);
		Esys_Free(dig);
		if (rc)
			goto out;
		if (!progress) {
			for (uint32_t b = 0; b < left.count; b++)
				if (left.banks[b].mask) {
					rc = fail(
					    t, ATTEST_E_NOTFOUND,
					    "the TPM has no %s PCRs in 0x%06x (bank not active?)",
					    bank_name(left.banks[b].alg),
					    (unsigned)left.banks[b].mask);
					break;
				}
			goto out;
		}
	}
	*ret = *v;
out:
	free(v);
	return rc;
}

/* SHA-256 (the AK's signing hash) over the PCR values in the order of the
 * quote's own selection; false if a value the quote covers is missing. */
static bool pcr_digest(const TPML_PCR_SELECTION *qs, const struct tpmdev_pcr_values *v,
                       uint8_t out[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (UINT32 i = 0; ok && i < qs->count; i++) {
		uint32_t b = 0;
		while (b < v->count && v->banks[b].alg != qs->pcrSelections[i].hash)
			b++;
		for (unsigned p = 0; ok && p < TPMDEV_NUM_PCRS; p++) {
			if (p / 8 >= qs->pcrSelections[i].sizeofSelect ||
			    !(qs->pcrSelections[i].pcrSelect[p / 8] & (1u << (p % 8))))
				continue;
			ok = b < v->count && (v->banks[b].mask & (1u << p)) &&
			     EVP_DigestUpdate(ctx, v->banks[b].pcr[p], v->banks[b].size);
		}
	}
	unsigned n = 0;
	ok = ok && EVP_DigestFinal_ex(ctx, out, &n) && n == 32;
	EVP_MD_CTX_free(ctx);
	return ok;
}

#define QUOTE_ATTEMPTS 5

int tpmdev_quote(struct tpmdev *t, const struct pcrsel *sel, const uint8_t *qualifying,
                 size_t qualifying_len, uint8_t **ret_attest, size_t *ret_attest_len,
                 uint8_t **ret_sig, size_t *ret_sig_len, struct tpmdev_pcr_values *ret_pcrs)
{
	if (!t->have_ak)
		return fail(t, ATTEST_E_STATE, "no AK loaded");
	TPM2B_DATA qd = {.size = 0};
	if (qualifying_len > sizeof qd.buffer)
		return fail(t, ATTEST_E_ARG, "qualifying data of %zu bytes (at most %zu)",
		            qualifying_len, sizeof qd.buffer);
	memcpy(qd.buffer, qualifying, qualifying_len);
	qd.size = (UINT16)qualifying_len;
	TPML_PCR_SELECTION in;
	to_tpml_selection(sel, &in);
	TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_NULL}; /* the AK's own */

	struct tpmdev_pcr_values *v = calloc(1, sizeof *v);
	if (!v)
		return fail(t, ATTEST_E_NOMEM, "out of memory");
	int rc = 0;
	for (int attempt = 0; attempt < QUOTE_ATTEMPTS; attempt++) {
		TPM2B_ATTEST *quoted = NULL;
		TPMT_SIGNATURE *sig = NULL;
		TSS2_RC r;
		unsigned ra = 0;
		do {
			r = Esys_Quote(t->esys, t->ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
			               &qd, &scheme, &in, &quoted, &sig);
		} while (r != TSS2_RC_SUCCESS && retry_again(r, &ra));
		if (r != TSS2_RC_SUCCESS) {
			rc = fail_rc(t, "TPM2_Quote", r);
			break;
		}
		TPMS_ATTEST att;
		size_t off = 0;
		memset(&att, 0, sizeof att);
		rc = 0;
		if (Tss2_MU_TPMS_ATTEST_Unmarshal(quoted->attestationData, quoted->size, &off,
		                                  &att) != TSS2_RC_SUCCESS ||
		    off != quoted->size || att.type != TPM2_ST_ATTEST_QUOTE)
			rc = fail(t, ATTEST_E_TPM, "TPM2_Quote returned an unreadable TPMS_ATTEST");
		if (!rc)
			rc = tpmdev_pcr_read(t, sel, v);
		uint8_t d[32];
		if (!rc && !pcr_digest(&att.attested.quote.pcrSelect, v, d))
			rc = fail(t, ATTEST_E_TPM, "quote covers PCRs that could not be read");
		if (!rc && (att.attested.quote.pcrDigest.size != 32 ||
		            memcmp(att.attested.quote.pcrDigest.buffer, d, 32) != 0)) {
			/* A PCR moved between the quote and the read: take both again. */
			Esys_Free(quoted);
			Esys_Free(sig);
			rc = fail(t, ATTEST_E_STATE, "PCRs kept changing during %d quotes",
			          QUOTE_ATTEMPTS);
			continue;
		}
		uint8_t sm[sizeof(TPMT_SIGNATURE)];
		size_t so = 0;
		if (!rc &&
		    Tss2_MU_TPMT_SIGNATURE_Marshal(sig, sm, sizeof sm, &so) != TSS2_RC_SUCCESS)
			rc = fail(t, ATTEST_E_TPM, "cannot marshal the quote's signature");
		uint8_t *a = NULL, *s = NULL;
		if (!rc) {
			a = malloc(quoted->size);
			s = malloc(so);
			if (!a || !s) {
				free(a);
				free(s);
				rc = fail(t, ATTEST_E_NOMEM, "out of memory");
			}
		}
		if (!rc) {
			memcpy(a, quoted->attestationData, quoted->size);
			memcpy(s, sm, so);
			*ret_attest = a;
			*ret_attest_len = quoted->size;
			*ret_sig = s;
			*ret_sig_len = so;
			if (ret_pcrs)
				*ret_pcrs = *v;
		}
		Esys_Free(quoted);
		Esys_Free(sig);
		break;
	}
	free(v);
	return rc;
}

int tpmdev_clock(struct tpmdev *t, uint32_t *ret_reset_count, uint32_t *ret_restart_count)
{
	TPMS_TIME_INFO *ti = NULL;
	TSS2_RC r;
	unsigned attempt = 0;
	do {
		r = Esys_ReadClock(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &ti);
	} while (r != TSS2_RC_SUCCESS && retry_again(r, &attempt));
	if (r != TSS2_RC_SUCCESS)
		return fail_rc(t, "TPM2_ReadClock", r);
	*ret_reset_count = ti->clockInfo.resetCount;
	*ret_restart_count = ti->clockInfo.restartCount;
	Esys_Free(ti);
	return 0;
}

/* ---- simulated hosts --------------------------------------------------- */

int tpmdev_startup(struct tpmdev *t, uint8_t locality)
{
	if (locality > 4)
		return fail(t, ATTEST_E_ARG, "locality %u (0-4)", locality);
	TSS2_RC r;
	if (locality != 0 && !t->tcti)
		return fail(t, ATTEST_E_UNSUPPORTED, "this TPM connection cannot set localities");
	if (locality != 0) {
		r = Tss2_Tcti_SetLocality(t->tcti, locality);
		if (r != TSS2_RC_SUCCESS)
			return fail(t, ATTEST_E_UNSUPPORTED,
			            "TCTI \"%s\" cannot set locality %u: %s", t->tcti_conf,
			            locality, Tss2_RC_Decode(r));
	}
	unsigned attempt = 0;
	do {
		r = Esys_Startup(t->esys, TPM2_SU_CLEAR);
	} while (r != TSS2_RC_SUCCESS && retry_again(r, &attempt));
	int rc = 0;
	if (r != TSS2_RC_SUCCESS)
		rc = fail_rc(t, "TPM2_Startup(CLEAR)", r);
	if (locality != 0) {
		TSS2_RC r2 = Tss2_Tcti_SetLocality(t->tcti, 0);
		if (r2 != TSS2_RC_SUCCESS && !rc)
			rc = fail(t, ATTEST_E_TPM, "cannot return to locality 0: %s",
			          Tss2_RC_Decode(r2));
	}
	return rc;
}

int tpmdev_shutdown(struct tpmdev *t)
{
	TSS2_RC r;
	unsigned attempt = 0;
	do {
		r = Esys_Shutdown(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_SU_CLEAR);
	} while (r != TSS2_RC_SUCCESS && retry_again(r, &attempt));
	return r == TSS2_RC_SUCCESS ? 0 : fail_rc(t, "TPM2_Shutdown(CLEAR)", r);
}

int tpmdev_pcr_extend(struct tpmdev *t, uint32_t pcr, size_t n, const uint16_t *algs,
                      const uint8_t *const *digests)
{
	TPML_DIGEST_VALUES dv;
	memset(&dv, 0, sizeof dv);
	if (pcr >= TPMDEV_NUM_PCRS || n == 0 || n > TPM2_NUM_PCR_BANKS)
		return fail(t, ATTEST_E_ARG, "PCR %u with %zu digests", pcr, n);
	for (size_t i = 0; i < n; i++) {
		size_t sz = alg_size(algs[i]);
		if (!sz)
			return fail(t, ATTEST_E_UNSUPPORTED, "hash algorithm 0x%04x", algs[i]);
		dv.digests[i].hashAlg = algs[i];
		memcpy(&dv.digests[i].digest, digests[i], sz);
	}
	dv.count = (UINT32)n;
	TSS2_RC r;
	unsigned attempt = 0;
	do {
		r = Esys_PCR_Extend(t->esys, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
		                    ESYS_TR_NONE, &dv);
	} while (r != TSS2_RC_SUCCESS && retry_again(r, &attempt));
	if (r != TSS2_RC_SUCCESS)
		return fail_rc(t, "TPM2_PCR_Extend", r);
	return 0;
}

/* ---- keeping keys between requests -------------------------------------- */

int tpmdev_context_save(struct tpmdev *t, bool ak, uint8_t **ret, size_t *ret_len)
{
	ESYS_TR h = ak ? t->ak : t->ek;
	if ((ak && !t->have_ak) || (!ak && !t->have_ek) || h == ESYS_TR_NONE)
		return fail(t, ATTEST_E_STATE, "no %s loaded to save", ak ? "AK" : "EK");
	if (!ak && t->ek_persistent)
		return fail(t, ATTEST_E_STATE, "the EK is persistent: nothing to save");
	TPMS_CONTEXT *ctx = NULL;
	TSS2_RC r;
	unsigned attempt = 0;
	do {
		r = Esys_ContextSave(t->esys, h, &ctx);
	} while (r != TSS2_RC_SUCCESS && retry_again(r, &attempt));
	if (r != TSS2_RC_SUCCESS)
		return fail_rc(t, ak ? "TPM2_ContextSave(AK)" : "TPM2_ContextSave(EK)", r);
	uint8_t *buf = malloc(sizeof *ctx);
	size_t off = 0;
	int rc = 0;
	if (!buf)
		rc = fail(t, ATTEST_E_NOMEM, "out of memory");
	else if ((r = Tss2_MU_TPMS_CONTEXT_Marshal(ctx, buf, sizeof *ctx, &off)) != TSS2_RC_SUCCESS)
		rc = fail_rc(t, "marshal a saved context", r);
	Esys_Free(ctx);
	if (rc) {
		free(buf);
		return rc;
	}
	*ret = buf;
	*ret_len = off;
	return 0;
}

static int context_load(struct tpmdev *t, const uint8_t *blob, size_t len, const char *what,
                        ESYS_TR *ret)
{
	TPMS_CONTEXT ctx;
	memset(&ctx, 0, sizeof ctx);
	size_t off = 0;
	if (Tss2_MU_TPMS_CONTEXT_Unmarshal(blob, len, &off, &ctx) != TSS2_RC_SUCCESS || off != len)
		return fail(t, ATTEST_E_FORMAT, "saved %s context does not unmarshal exactly",
		            what);
	TSS2_RC r;
	unsigned attempt = 0;
	do {
		r = Esys_ContextLoad(t->esys, &ctx, ret);
	} while (r != TSS2_RC_SUCCESS && retry_again(r, &attempt));
	if (r != TSS2_RC_SUCCESS) {
		char m[64];
		snprintf(m, sizeof m, "TPM2_ContextLoad(%s)", what);
		return fail_rc(t, m, r);
	}
	return 0;
}

/* Take an EK public (marshalled TPM2B_PUBLIC) as the context's EK. */
static int ek_adopt(struct tpmdev *t, ESYS_TR h, const uint8_t *pub, size_t pub_len,
                    const char *how)
{
	TPM2B_PUBLIC p;
	memset(&p, 0, sizeof p);
	size_t off = 0;
	if (pub_len > sizeof t->ek_pub ||
	    Tss2_MU_TPM2B_PUBLIC_Unmarshal(pub, pub_len, &off, &p) != TSS2_RC_SUCCESS ||
	    off != pub_len)
		return fail(t, ATTEST_E_FORMAT, "EK public does not unmarshal exactly");
	enum ek_policy pol = ek_policy_of(p.publicArea.nameAlg, &p.publicArea.authPolicy);
	if (pol == 0)
		return fail(t, ATTEST_E_UNSUPPORTED,
		            "EK authPolicy is neither the profile's PolicyA nor PolicyB");
	flush(t, &t->ak);
	t->have_ak = false;
	flush(t, &t->ek);
	t->ek = h;
	t->have_ek = true;
	t->ek_name_alg = p.publicArea.nameAlg;
	t->ek_policy = pol;
	t->ek_template_used = how;
	memcpy(t->ek_pub, pub, pub_len);
	t->ek_pub_len = pub_len;
	return 0;
}

int tpmdev_ek_load_context(struct tpmdev *t, const uint8_t *ctx, size_t ctx_len, const uint8_t *pub,
                           size_t pub_len)
{
	ESYS_TR h = ESYS_TR_NONE;
	int rc = context_load(t, ctx, ctx_len, "EK", &h);
	if (rc)
		return rc;
	/* The TPM checked the context's integrity; make sure it is the EK we
	 * think it is before trusting the public we were given for it. */
	TPM2B_PUBLIC *out = NULL;
	TSS2_RC r =
	    Esys_ReadPublic(t->esys, h, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &out, NULL, NULL);
	uint8_t m[sizeof(TPM2B_PUBLIC)];
	size_t off = 0;
	if (r == TSS2_RC_SUCCESS)
		r = Tss2_MU_TPM2B_PUBLIC_Marshal(out, m, sizeof m, &off);
	Esys_Free(out);
	if (r != TSS2_RC_SUCCESS) {
		flush(t, &h);
		return fail_rc(t, "TPM2_ReadPublic(EK)", r);
	}
	if (off != pub_len || memcmp(m, pub, off) != 0) {
		flush(t, &h);
		return fail(t, ATTEST_E_VERIFY, "the saved EK context holds another key");
	}
	rc = ek_adopt(t, h, pub, pub_len, "saved");
	if (rc)
		flush(t, &h);
	return rc;
}

int tpmdev_ak_load_context(struct tpmdev *t, const uint8_t *ctx, size_t ctx_len, const uint8_t *pub,
                           size_t pub_len)
{
	if (pub_len > sizeof t->ak_pub)
		return fail(t, ATTEST_E_ARG, "AK public of %zu bytes", pub_len);
	ESYS_TR h = ESYS_TR_NONE;
	int rc = context_load(t, ctx, ctx_len, "AK", &h);
	if (rc)
		return rc;
	TPM2B_NAME *name = NULL;
	TSS2_RC r = Esys_TR_GetName(t->esys, h, &name);
	if (r != TSS2_RC_SUCCESS || name->size > sizeof t->ak_name) {
		Esys_Free(name);
		flush(t, &h);
		return fail_rc(t, "Esys_TR_GetName(AK)", r);
	}
	flush(t, &t->ak);
	t->ak = h;
	t->have_ak = true;
	memcpy(t->ak_pub, pub, pub_len);
	t->ak_pub_len = pub_len;
	memcpy(t->ak_name, name->name, name->size);
	t->ak_name_len = name->size;
	Esys_Free(name);
	/* The private blob stays with the caller: the context replaces it. */
	t->ak_priv_len = 0;
	return 0;
}

void tpmdev_ak_unload(struct tpmdev *t)
{
	flush(t, &t->ak);
	t->have_ak = false;
}

void tpmdev_ek_unload(struct tpmdev *t)
{
	tpmdev_ak_unload(t);
	flush(t, &t->ek);
	t->have_ek = false;
}

/* Whether a persistent object is an EK of kind: the profile's shape
 * (restricted decrypt key of the kind's algorithm with PolicyA or PolicyB)
 * and, with a certificate, the certificate's key. */
static bool persistent_is_ek(const TPMT_PUBLIC *p, enum tpmdev_ek_kind kind, const uint8_t *key,
                             size_t key_len)
{
	TPM2B_PUBLIC tmpl;
	if (!ek_template(kind, true, &tmpl) || p->type != tmpl.publicArea.type ||
	    p->nameAlg != tmpl.publicArea.nameAlg ||
	    (p->objectAttributes & (TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT)) !=
	        (TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT) ||
	    ek_policy_of(p->nameAlg, &p->authPolicy) == 0)
		return false;
	if (p->type == TPM2_ALG_ECC &&
	    p->parameters.eccDetail.curveID != tmpl.publicArea.parameters.eccDetail.curveID)
		return false;
	if (p->type == TPM2_ALG_RSA &&
	    p->parameters.rsaDetail.keyBits != tmpl.publicArea.parameters.rsaDetail.keyBits)
		return false;
	return key ? tpm_key_matches(p, key, key_len) : true;
}

int tpmdev_ek_persistent(struct tpmdev *t, enum tpmdev_ek_kind kind, const uint8_t *cert,
                         size_t cert_len)
{
	uint8_t key[512];
	size_t key_len = 0;
	if (cert) {
		const unsigned char *p = cert;
		X509 *x = d2i_X509(NULL, &p, (long)cert_len);
		EVP_PKEY *pk = x ? X509_get0_pubkey(x) : NULL;
		bool ok = pk && cert_key_bytes(pk, key, sizeof key, &key_len);
		X509_free(x);
		if (!ok)
			return fail(t, ATTEST_E_FORMAT, "EK certificate does not parse");
	}
	/* The profile's EK handles are 0x81010001 (RSA 2048), 0x81010002 (ECC
	 * P-256) and further ones in 0x810100xx for the other templates: look
	 * at every persistent object of that range, the kind's usual handle
	 * first. */
	TPMS_CAPABILITY_DATA *cd = NULL;
	int rc = get_cap(t, TPM2_CAP_HANDLES, 0x81010000u, TPM2_MAX_CAP_HANDLES, &cd);
	if (rc)
		return rc;
	uint32_t want = kind == TPMDEV_EK_ECC_P256 ? 0x81010002u : 0x81010001u;
	uint32_t list[TPM2_MAX_CAP_HANDLES + 1];
	size_t n = 0;
	list[n++] = want;
	for (UINT32 i = 0; i < cd->data.handles.count && n < TPM2_MAX_CAP_HANDLES + 1; i++) {
		uint32_t h = cd->data.handles.handle[i];
		if (h >= 0x81010000u && h <= 0x810100ffu && h != want)
			list[n++] = h;
	}
	bool want_present = false;
	for (UINT32 i = 0; i < cd->data.handles.count; i++)
		want_present |= cd->data.handles.handle[i] == want;
	Esys_Free(cd);
	for (size_t i = want_present ? 0 : 1; i < n; i++) {
		ESYS_TR h = ESYS_TR_NONE;
		TPM2B_PUBLIC *out = NULL;
		TSS2_RC r = Esys_TR_FromTPMPublic(t->esys, list[i], ESYS_TR_NONE, ESYS_TR_NONE,
		                                  ESYS_TR_NONE, &h);
		if (r == TSS2_RC_SUCCESS)
			r = Esys_ReadPublic(t->esys, h, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
			                    &out, NULL, NULL);
		if (r != TSS2_RC_SUCCESS) {
			if (h != ESYS_TR_NONE)
				(void)Esys_TR_Close(t->esys, &h);
			if (t->timed_out)
				return fail_rc(t, "TPM2_ReadPublic(persistent EK)", r);
			continue;
		}
		bool match = persistent_is_ek(&out->publicArea, kind, cert ? key : NULL, key_len);
		uint8_t m[sizeof(TPM2B_PUBLIC)];
		size_t off = 0;
		if (match &&
		    Tss2_MU_TPM2B_PUBLIC_Marshal(out, m, sizeof m, &off) != TSS2_RC_SUCCESS)
			match = false;
		Esys_Free(out);
		if (!match) {
			(void)Esys_TR_Close(t->esys, &h);
			continue;
		}
		rc = ek_adopt(t, h, m, off, "persistent");
		if (rc) {
			(void)Esys_TR_Close(t->esys, &h);
			return rc;
		}
		t->ek_persistent = true;
		t->ek_handle = list[i];
		return 0;
	}
	return fail(t, ATTEST_E_NOTFOUND, "no persistent %s EK%s", tpmdev_ek_kind_name(kind),
	            cert ? " with the certificate's key" : "");
}

uint32_t tpmdev_ek_handle(const struct tpmdev *t)
{
	return t->have_ek && t->ek_persistent ? t->ek_handle : 0;
}

int tpmdev_flush_all(struct tpmdev *t, uint32_t *ret_flushed)
{
	uint32_t flushed = 0;
	static const uint32_t firsts[] = {0x80000000u, 0x02000000u};
	for (size_t k = 0; k < 2; k++) {
		TPMS_CAPABILITY_DATA *cd = NULL;
		int rc = get_cap(t, TPM2_CAP_HANDLES, firsts[k], TPM2_MAX_CAP_HANDLES, &cd);
		if (rc)
			return rc;
		for (UINT32 i = 0; i < cd->data.handles.count; i++) {
			TPM2_HANDLE h = cd->data.handles.handle[i];
			if ((h & 0xff000000u) != (firsts[k] & 0xff000000u))
				continue;
			ESYS_TR e = ESYS_TR_NONE;
			if (Esys_TR_FromTPMPublic(t->esys, h, ESYS_TR_NONE, ESYS_TR_NONE,
			                          ESYS_TR_NONE, &e) != TSS2_RC_SUCCESS)
				continue;
			if (Esys_FlushContext(t->esys, e) == TSS2_RC_SUCCESS)
				flushed++;
			else
				(void)Esys_TR_Close(t->esys, &e);
		}
		Esys_Free(cd);
	}
	if (ret_flushed)
		*ret_flushed = flushed;
	return 0;
}

int tpmdev_nv_list(struct tpmdev *t, uint32_t first, uint32_t last, uint32_t *out, size_t cap,
                   size_t *ret_n)
{
	TPMS_CAPABILITY_DATA *cd = NULL;
	int rc = get_cap(t, TPM2_CAP_HANDLES, first, TPM2_MAX_CAP_HANDLES, &cd);
	if (rc)
		return rc;
	size_t n = 0;
	for (UINT32 i = 0; i < cd->data.handles.count && n < cap; i++) {
		uint32_t h = cd->data.handles.handle[i];
		if (h >= first && h <= last)
			out[n++] = h;
	}
	Esys_Free(cd);
	*ret_n = n;
	return 0;
}
