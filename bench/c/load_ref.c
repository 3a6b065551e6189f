/* libbpf reference for bench/load.py: time open + CO-RE relocation + load of an object.
 *
 * usage: load_ref OBJ N      (or: load_ref --btf N, see time_vmlinux_btf)
 * Reads OBJ into memory once, then N times: bpf_object__open_mem() +
 * bpf_object__load() (which parses /sys/kernel/btf/vmlinux, applies the CO-RE
 * relocations, creates the maps and loads the programs) + bpf_object__close(),
 * each timed in-process with clock_gettime(CLOCK_MONOTONIC).
 * Prints one JSON line: {"ns":[<ns of iteration 1>, ...]}
 * Built by bench/load.py with: cc -O2 load_ref.c -lbpf
 */
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
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

static int quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_WARN)
		return vfprintf(stderr, fmt, args);
	return 0;
}

/* "load_ref --btf N": time btf__load_vmlinux_btf() + btf__free(), the vmlinux parse
 * that every bpf_object__load() of a CO-RE object does. */
static int time_vmlinux_btf(int n)
{
	printf("{\"ns\":[");
	for (int i = 0; i < n; i++) {
		uint64_t t0 = now_ns();
		struct btf *btf = btf__load_vmlinux_btf();
		int err = libbpf_get_error(btf);
		if (err) {
			fprintf(stderr, "load_ref: vmlinux BTF: %s\n", strerror(-err));
			return 1;
		}
		btf__free(btf);
		printf("%s%llu", i ? "," : "", (unsigned long long)(now_ns() - t0));
	}
	printf("]}\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s OBJ|--btf N\n", argv[0]);
		return 2;
	}
	int n = atoi(argv[2]);
	libbpf_set_print(quiet);
	if (strcmp(argv[1], "--btf") == 0)
		return time_vmlinux_btf(n);
	FILE *f = fopen(argv[1], "rb");
	if (!f) {
		fprintf(stderr, "load_ref: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	fseek(f, 0, SEEK_END);
	long sz = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc(sz);
	if (!buf || fread(buf, 1, sz, f) != (size_t)sz) {
		fprintf(stderr, "load_ref: cannot read %s\n", argv[1]);
		return 1;
	}
	fclose(f);

	uint64_t *ns = calloc(n > 0 ? n : 1, sizeof(*ns));
	for (int i = 0; i < n; i++) {
		uint64_t t0 = now_ns();
		struct bpf_object *obj = bpf_object__open_mem(buf, sz, NULL);
		int err = libbpf_get_error(obj);
		if (err) {
			fprintf(stderr, "load_ref: open: %s\n", strerror(-err));
			return 1;
		}
		err = bpf_object__load(obj);
		if (err) {
			fprintf(stderr, "load_ref: load: %s\n", strerror(-err));
			return 1;
		}
		bpf_object__close(obj);
		ns[i] = now_ns() - t0;
	}
	printf("{\"ns\":[");
	for (int i = 0; i < n; i++)
		printf("%s%llu", i ? "," : "", (unsigned long long)ns[i]);
	printf("]}\n");
	free(ns);
	free(buf);
	return 0;
}
