/* attest-agent daemon internals (docs/agent.md): the HTTPS side (daemon.c,
 * on the event loop thread) and the TPM worker (daemon_worker.c, one thread
 * that runs one TPM job at a time). The network side never touches the TPM
 * or the AK files: it validates a request, hands a job to the worker, and
 * answers with what the worker produced. */
#ifndef ATTEST_AGENT_DAEMON_H
#define ATTEST_AGENT_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "tlsid.h"
#include "tpmdev.h"

#define AGENTD_MAX_BODY          (64u * 1024u) /* request body cap (docs/protocol.md) */
#define AGENTD_MAX_QUEUED        16u           /* TPM jobs waiting; beyond: 503 BUSY */
#define AGENTD_MAX_CONNECTIONS   64u
#define AGENTD_MAX_PER_PEER      16u  /* connections from one address: others keep room */
#define AGENTD_SESSION_CACHE     256u /* TLS sessions of its verifiers kept to resume */
#define AGENTD_DEFAULT_TIMEOUT_S 10u  /* idle connection timeout */
/* A verifier's connection is kept this long after an answer, so that its
 * next attestation (60 s apart by default, +10 % jitter) needs no new TLS
 * handshake; announced as "Keep-Alive: timeout=150" (docs/protocol.md). */
#define AGENTD_KEEPALIVE_S 150u
/* Per TPM command. Discrete chips take up to tens of seconds for an RSA key
 * (TPM2_CreatePrimary, TPM2_Create) on a bad day; the kernel allows 300 s
 * for its longest commands. 120 s passes every healthy chip with room and
 * still ends a hang within two minutes (docs/agent-tpm.md). */
#define AGENTD_DEFAULT_TPM_TIMEOUT_S 120u
/* Push mode: how long the verifier may hold a poll (?wait=S) before it
 * answers 204. Longer than the 60 s attestation interval with its jitter,
 * so an idle agent's poll is answered by its next request, not by a 204
 * and a new poll; lower it where a proxy or NAT cuts quieter connections. */
#define AGENTD_DEFAULT_PUSH_WAIT_S 110u
#define AGENTD_PUSH_WAIT_MAX_S     300u /* the verifier holds no longer */
#define AGENTD_MAX_VERIFIERS       64u  /* thumbprints in DATA_DIR/verifiers */
#define AGENTD_VERIFIERS_FILE_MAX  (16u * 1024u)
#define AGENTD_AK_FILE_MAX         (16u * 1024u)
#define AGENTD_NAME_MAX            68u /* TPM2B_NAME contents: 2-byte alg + SHA-512 */
#define AGENTD_MSG_SIZE            384u
#define AGENTD_PATH_MAX            4096u

/* Settings shared by both sides; read-only once the daemon runs. */
struct agentd_config {
	const char *tcti;
	const char *eventlog;
	const char *data_dir;
	unsigned tpm_timeout_ms;                /* --tpm-timeout, per TPM command */
	unsigned push_wait_s;                   /* --push-wait: a poll's ?wait= */
	char thumbprint[TLSID_THUMBPRINT_SIZE]; /* the agent's own certificate */
};

enum agentd_job_kind {
	AGENTD_JOB_IDENTITY = 0,
	AGENTD_JOB_AK,
	AGENTD_JOB_ACTIVATE,
	AGENTD_JOB_QUOTE,
};

/* One request for the TPM. Inputs are filled (and validated) by the loop
 * thread, outputs by the worker; the worker never touches req. */
struct agentd_job {
	enum agentd_job_kind kind;
	void *req;         /* the https_request, opaque to the worker */
	uint64_t start_ns; /* when the request arrived (for timing.total_ms) */
	/* inputs */
	enum tpmdev_ak_alg ak_alg;        /* AK */
	uint8_t ak_name[AGENTD_NAME_MAX]; /* ACTIVATE */
	size_t ak_name_len;
	uint8_t *cred; /* TPM2B_ID_OBJECT, malloc'd */
	size_t cred_len;
	uint8_t *secret; /* TPM2B_ENCRYPTED_SECRET, malloc'd */
	size_t secret_len;
	uint8_t nonce[64]; /* QUOTE */
	size_t nonce_len;
	struct pcrsel sel;
	bool have_log_sha256; /* QUOTE: the verifier holds this log memoized */
	uint8_t log_sha256[32];
	/* outputs: status 200 and answer, or an error status, code and message */
	int status;
	const char *code;
	char message[AGENTD_MSG_SIZE];
	json_t *answer;
	bool log_unchanged; /* QUOTE: the log was left out (eventlog_unchanged) */
	uint64_t tpm_ns;    /* time spent talking to the TPM */
	struct agentd_job *next;
};

/* Free a job and what it owns (NULL accepted); wipes the credential. */
void agentd_job_free(struct agentd_job *j);

struct agentd_worker;
struct event_base;

/* Called on the event loop thread for every finished job; takes the job. */
typedef void (*agentd_done_fn)(struct agentd_job *job, void *arg);

/* Load the saved AKs (DATA_DIR/ak-pending.json, ak-current.json; a file
 * that does not parse is reported on stderr and ignored), start the worker
 * thread and hook its completions into base. cfg must outlive the worker.
 * ATTEST_E_NOMEM or ATTEST_E_IO (thread, eventfd) on failure. */
int agentd_worker_start(const struct agentd_config *cfg, struct event_base *base,
                        agentd_done_fn done, void *arg, struct agentd_worker **ret);

/* Queue a job (the worker owns it from here; it comes back through done).
 * ATTEST_E_LIMIT if AGENTD_MAX_QUEUED jobs already wait (job not taken). */
int agentd_worker_submit(struct agentd_worker *w, struct agentd_job *job);

/* Let the running job finish, stop the thread and free every job not yet
 * handed back, without calling done (NULL accepted). */
void agentd_worker_stop(struct agentd_worker *w);

/* "rsa2048", "ecc_p256", "ecc_p384": the EK kind as the API names it. */
const char *agentd_ek_kind_api_name(enum tpmdev_ek_kind kind);

#endif
