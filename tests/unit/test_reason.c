/* lib/reason.c: one table for every reason code the project emits, the one
 * the verifier serves (GET /api/v1/reasons) and the dashboard reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ekcert.h"
#include "reason.h"

static void test_every_spelled_code_is_in_the_table(void **state)
{
	const char *const codes[] = {
	    REASON_TPM_NOT_CERTIFIED,
	    REASON_AK_ACTIVATION_FAILED,
	    REASON_AK_NOT_ENROLLED,
	    REASON_HOST_RESTARTED_REENROLLING,
	    REASON_EVENT_CONTENT_MISMATCH,
	    REASON_SECURE_BOOT_DISABLED,
	    REASON_SHA256_BANK_MISSING,
	    REASON_PCR_BANK_MISSING,
	    REASON_NOT_UEFI,
	    REASON_TPM_INTERFACE_NOT_ALLOWED,
	    REASON_AGENT_VERSION_TOO_OLD,
	    REASON_CONFIGURATION_NOT_APPROVED,
	    REASON_VERIFIER_ERROR,
	    REASON_AGENT_ERROR,
	    REASON_AGENT_THUMBPRINT_MISMATCH,
	    REASON_EVIDENCE_MALFORMED,
	    REASON_EK_CERT_MISSING,
	    REASON_NOT_YET_ATTESTED,
	    REASON_HOST_DISCONNECTED,
	    REASON_EVIDENCE_EXPIRED,
	    REASON_TPM_NOT_PRESENT,
	    REASON_TPM_ADDED_RECONNECT_REQUIRED,
	    REASON_COVERAGE_LOW,
	    REASON_NO_RECENT_VERDICTS,
	};
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
		if (reason_sentence(codes[i]) == NULL)
			fail_msg("%s has no sentence", codes[i]);
	/* the EK certificate codes, spelled in ekcert.c */
	for (int s = EKCERT_OK + 1; s <= EKCERT_KEY_MISMATCH; s++)
		if (reason_sentence(ekcert_status_code((enum ekcert_status)s)) == NULL)
			fail_msg("%s has no sentence", ekcert_status_code((enum ekcert_status)s));
}

static void test_table_shape(void **state)
{
	size_t n = 0;
	const struct reason_info *t = reason_table(&n);
	size_t with_advice = 0;
	for (size_t i = 0; i < n; i++) {
		assert_non_null(t[i].code);
		assert_true(strlen(t[i].sentence) > 10);
		/* a sentence: a capital first, a full stop last */
		assert_true(t[i].sentence[0] >= 'A' && t[i].sentence[0] <= 'Z');
		assert_int_equal(t[i].sentence[strlen(t[i].sentence) - 1], '.');
		if (t[i].advice) {
			assert_true(strlen(t[i].advice) > 10);
			with_advice++;
		}
		for (size_t k = i + 1; k < n; k++)
			assert_string_not_equal(t[i].code, t[k].code);
	}
	assert_true(with_advice >= 16); /* what the dashboard showed before it read the table */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_spelled_code_is_in_the_table),
	    cmocka_unit_test(test_table_shape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
