/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The case runner the guest test programs share: run() prints
 * "KMOD-TEST PASS name" or "KMOD-TEST FAIL name reason" (the lines
 * guest-run.sh and the C# side read), fail() records the reason, sh() runs a
 * shell command.  Included once per program.
 */
#ifndef DT_HARNESS_H
#define DT_HARNESS_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

static int failed;
static char reason[512];

/* Records why the current case failed; returns -1 for "return fail(...)". */
static int fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	return -1;
}

static void run(const char *name, int (*fn)(void))
{
	reason[0] = 0;
	if (fn() == 0) {
		printf("KMOD-TEST PASS %s\n", name);
	} else {
		printf("KMOD-TEST FAIL %s %s\n", name, reason[0] ? reason : "(no reason)");
		failed++;
	}
	fflush(stdout);
}

static int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

#endif /* DT_HARNESS_H */
