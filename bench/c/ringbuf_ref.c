/* libbpf reference for bench/ringbuf.py: drain a BPF ring buffer fed by a producer program.
 *
 * usage: ringbuf_ref MAP_FD PROG_FD TOTAL [poll|consume|drain] [CONSUMER_CPU PRODUCER_CPU]
 *   MAP_FD   a BPF_MAP_TYPE_RINGBUF map (inherited from the caller)
 *   PROG_FD  a BPF_PROG_TYPE_SYSCALL producer (pybpf.events._producers.ringbuf_producer),
 *            run with bpf_prog_test_run_opts in a second thread; its context is
 *            {u64 start, u64 count, u64 nr_loops} and it returns how many records it wrote
 *            (it retries while the ring is full, so nothing is lost)
 *   TOTAL    records to produce and drain
 *   poll     (default) ring_buffer__poll(rb, 100) loop; consume: busy ring_buffer__consume loop;
 *   drain    produce TOTAL records first (they must fit in the ring), then time only
 *            ring_buffer__consume until all were read (the consumer's own cost)
 * The main thread drains with ring_buffer__new + a callback that counts records.
 * Prints one JSON line: {"n": <records drained>, "ns": <wall ns from producer start to last record>}
 * (drain: ns from the first ring_buffer__consume call to the last record)
 * With CPU numbers, the consumer (main thread) and the producer thread are pinned there.
 * Built by bench/ringbuf.py with: cc -O2 ringbuf_ref.c -lbpf -lpthread
 */
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_LOOPS (1u << 23)

static int prog_fd, producer_cpu = -1;
static uint64_t total;
static volatile int prod_err;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void pin(int cpu)
{
	cpu_set_t set;
	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void *producer(void *arg)
{
	uint64_t done = 0, ctx[3];
	(void)arg;
	pin(producer_cpu);
	while (done < total) {
		LIBBPF_OPTS(bpf_test_run_opts, opts);
		ctx[0] = done;
		ctx[1] = total - done;
		ctx[2] = MAX_LOOPS;
		opts.ctx_in = ctx;
		opts.ctx_size_in = sizeof(ctx);
		if (bpf_prog_test_run_opts(prog_fd, &opts)) {
			prod_err = errno;
			return NULL;
		}
		done += opts.retval;
	}
	return NULL;
}

static int on_record(void *ctx, void *data, size_t size)
{
	(void)data;
	(void)size;
	(*(uint64_t *)ctx)++;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s MAP_FD PROG_FD TOTAL [poll|consume]\n", argv[0]);
		return 2;
	}
	int map_fd = atoi(argv[1]);
	prog_fd = atoi(argv[2]);
	total = strtoull(argv[3], NULL, 10);
	const char *mode = argc > 4 ? argv[4] : "poll";
	int busy = !strcmp(mode, "consume");
	uint64_t got = 0, t0, t1;
	pthread_t th;

	if (argc > 6) {
		pin(atoi(argv[5]));
		producer_cpu = atoi(argv[6]);
	}

	struct ring_buffer *rb = ring_buffer__new(map_fd, on_record, &got, NULL);
	if (!rb) {
		fprintf(stderr, "ringbuf_ref: ring_buffer__new: %s\n", strerror(errno));
		return 1;
	}
	if (!strcmp(mode, "drain")) {
		producer_cpu = -1;
		producer(NULL);
		if (prod_err) {
			fprintf(stderr, "ringbuf_ref: producer test run: %s\n", strerror(prod_err));
			return 1;
		}
		t0 = now_ns();
		while (got < total) {
			int err = ring_buffer__consume(rb);
			if (err < 0) {
				fprintf(stderr, "ringbuf_ref: consume: %s\n", strerror(-err));
				return 1;
			}
			if (err == 0)
				break;
		}
		t1 = now_ns();
		ring_buffer__free(rb);
		printf("{\"n\": %llu, \"ns\": %llu}\n", (unsigned long long)got, (unsigned long long)(t1 - t0));
		return 0;
	}
	t0 = now_ns();
	if (pthread_create(&th, NULL, producer, NULL)) {
		fprintf(stderr, "ringbuf_ref: pthread_create failed\n");
		return 1;
	}
	while (got < total && !prod_err) {
		int err = busy ? ring_buffer__consume(rb) : ring_buffer__poll(rb, 100);
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "ringbuf_ref: poll: %s\n", strerror(-err));
			return 1;
		}
	}
	t1 = now_ns();
	pthread_join(th, NULL);
	if (prod_err) {
		fprintf(stderr, "ringbuf_ref: producer test run: %s\n", strerror(prod_err));
		return 1;
	}
	ring_buffer__free(rb);
	printf("{\"n\": %llu, \"ns\": %llu}\n", (unsigned long long)got, (unsigned long long)(t1 - t0));
	return 0;
}
