/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Shared by hello-buffer-config.bpf.c and (through BTF) the Python runner. */
#ifndef HELLO_BUFFER_CONFIG_H
#define HELLO_BUFFER_CONFIG_H

#define TASK_COMM_LEN 16
#define MESSAGE_LEN 12
#define PATH_LEN 64

/* One event per execve(): sent through the perf buffer or the ring buffer. */
struct data_t {
	int pid;
	int ppid;
	int uid;
	char command[TASK_COMM_LEN];
	char message[MESSAGE_LEN];
	char path[PATH_LEN];
};

/* The value of the per-user config map: the greeting for that uid. */
struct msg_t {
	char message[MESSAGE_LEN];
};

#endif
