/* A TCP listener on 127.0.0.1 for the cmocka programs that stand up their own
 * raw server thread (test_https*.c). Include after <cmocka.h>. */
#ifndef ATTEST_TEST_LOOPBACK_H
#define ATTEST_TEST_LOOPBACK_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

/* A listening socket on 127.0.0.1 at a port the kernel picks, with that port
 * in *ret_port; fails the test if it cannot be had. The caller closes it. */
static inline int loopback_listener(uint16_t *ret_port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	socklen_t sl = sizeof sa;
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	*ret_port = ntohs(sa.sin_port);
	return fd;
}

#endif
