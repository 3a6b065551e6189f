/* libbpf reference for bench/maps.py: times map operations on an existing map.
 *
 * usage: maps_ref OP MAP_FD N [CHUNK]
 *   OP = lookup | update   N lookups/updates of u32 keys 0..N-1 (8-byte value)
 *        walk              bpf_map_get_next_key + bpf_map_lookup_elem over the map
 *        batch             bpf_map_lookup_batch into one contiguous key/value buffer
 *        fill              bpf_map_update_batch keys 0..N-1, value = key (setup helper)
 * MAP_FD is inherited from the caller (a 4-byte-key, 8-byte-value hash map).
 * Prints one JSON line: {"op":..,"n":<elements done>,"ns":<total ns>,"ns_per_op":..}
 * Built by bench/maps.py with: cc -O2 maps_ref.c -lbpf
 */
#include <bpf/bpf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int fail(const char *what, int err)
{
	fprintf(stderr, "maps_ref: %s: %s\n", what, strerror(err < 0 ? -err : err));
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s lookup|update|walk|batch|fill MAP_FD N [CHUNK]\n", argv[0]);
		return 2;
	}
	const char *op = argv[1];
	int fd = atoi(argv[2]);
	uint32_t n = (uint32_t)strtoul(argv[3], NULL, 10);
	uint32_t chunk = argc > 4 ? (uint32_t)strtoul(argv[4], NULL, 10) : 65536;
	uint64_t val = 0, done = 0, t0, t1;
	uint32_t key, next;
	volatile uint64_t sink = 0;
	int err;

	if (!strcmp(op, "lookup")) {
		t0 = now_ns();
		for (key = 0; key < n; key++) {
			if (bpf_map_lookup_elem(fd, &key, &val))
				return fail("lookup", errno);
			sink += val;
		}
		t1 = now_ns();
		done = n;
	} else if (!strcmp(op, "update")) {
		t0 = now_ns();
		for (key = 0; key < n; key++) {
			val = key;
			if (bpf_map_update_elem(fd, &key, &val, BPF_ANY))
				return fail("update", errno);
		}
		t1 = now_ns();
		done = n;
	} else if (!strcmp(op, "walk")) {
		t0 = now_ns();
		err = bpf_map_get_next_key(fd, NULL, &key);
		while (!err) {
			if (!bpf_map_lookup_elem(fd, &key, &val)) {
				sink += val;
				done++;
			}
			err = bpf_map_get_next_key(fd, &key, &next);
			key = next;
		}
		t1 = now_ns();
		if (errno != ENOENT)
			return fail("get_next_key", errno);
	} else if (!strcmp(op, "batch")) {
		/* n = capacity (max_entries): dump everything into two contiguous buffers */
		uint32_t *keys = malloc((size_t)n * 4 + (size_t)chunk * 4);
		uint64_t *vals = malloc((size_t)n * 8 + (size_t)chunk * 8);
		uint32_t in_b = 0, out_b = 0;
		void *in = NULL;
		if (!keys || !vals)
			return fail("malloc", ENOMEM);
		memset(keys, 0, (size_t)n * 4); /* fault the pages in before timing */
		memset(vals, 0, (size_t)n * 8);
		t0 = now_ns();
		for (;;) {
			uint32_t count = chunk;
			err = bpf_map_lookup_batch(fd, in, &out_b, keys + done, vals + done, &count, NULL);
			done += count;
			if (err) {
				if (errno == ENOENT)
					break;
				return fail("lookup_batch", errno);
			}
			in_b = out_b;
			in = &in_b;
		}
		t1 = now_ns();
		sink += keys[0] + vals[0];
		free(keys);
		free(vals);
	} else if (!strcmp(op, "fill")) {
		uint32_t *keys = malloc((size_t)n * 4);
		uint64_t *vals = malloc((size_t)n * 8);
		if (!keys || !vals)
			return fail("malloc", ENOMEM);
		for (key = 0; key < n; key++) {
			keys[key] = key;
			vals[key] = key;
		}
		uint32_t count = n;
		t0 = now_ns();
		if (bpf_map_update_batch(fd, keys, vals, &count, NULL))
			return fail("update_batch", errno);
		t1 = now_ns();
		done = count;
		free(keys);
		free(vals);
	} else {
		fprintf(stderr, "maps_ref: unknown op %s\n", op);
		return 2;
	}
	(void)sink;
	printf("{\"op\":\"%s\",\"n\":%llu,\"ns\":%llu,\"ns_per_op\":%.2f}\n", op, (unsigned long long)done,
	       (unsigned long long)(t1 - t0), done ? (double)(t1 - t0) / done : 0.0);
	return 0;
}
