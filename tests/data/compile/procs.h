/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PROCS_H
#define PROCS_H

#define COMM_LEN 16
#define PATH_LEN 127

/* one record per exec or exit, shared with user space */
struct procs_event {
	int pid;
	int ppid;
	unsigned exit_code;
	unsigned long long lifetime_ns;
	char comm[COMM_LEN];
	char path[PATH_LEN];
	bool is_exit;
};

#endif
