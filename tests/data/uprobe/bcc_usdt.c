/* Test target for pybpf.bcc's USDT support (tests/kernel/test_bcc_usdt.py); needs <sys/sdt.h>.
 *
 * Build: gcc -O2 -o bcc_usdt bcc_usdt.c   (the tests compile it into a tmp dir)
 * Usage: bcc_usdt N    -> fires the probes N times, then prints "done G" (G: guarded probe runs)
 *        bcc_usdt wait -> prints "ready", reads N from stdin, then as above
 *
 * Probes, for iteration i = 0..N-1:
 *   pybpf_bcc:args    (signed char) -(i+1), (unsigned short) 60000+i, (int) -100000*(i+1),
 *                     (unsigned long long) 0x8877665544332211+i, (char *) "msg <i>", (short) -7
 *   pybpf_dup:args    (long) i                      same probe name, another provider
 *   pybpf_bcc:guarded (int) i, guarded by a semaphore: only fired while someone attaches it
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>

/* With _SDT_HAS_SEMAPHORES every probe has one; only pybpf_bcc:guarded's is read. */
#define SEMAPHORE(p, n) \
    __extension__ unsigned short p##_##n##_semaphore __attribute__((unused)) __attribute__((section(".probes")))
SEMAPHORE(pybpf_bcc, args);
SEMAPHORE(pybpf_dup, args);
SEMAPHORE(pybpf_bcc, guarded);

static volatile int guarded_runs;

__attribute__((noinline)) static void fire(long i)
{
    char msg[32];
    signed char c = -(signed char)(i + 1);
    unsigned short us = 60000 + i;
    int neg = -100000 * (int)(i + 1);
    unsigned long long big = 0x8877665544332211ULL + i;

    snprintf(msg, sizeof msg, "msg %ld", i);
    DTRACE_PROBE6(pybpf_bcc, args, c, us, neg, big, msg, (short)-7);
    DTRACE_PROBE1(pybpf_dup, args, i);
    if (__builtin_expect(pybpf_bcc_guarded_semaphore, 0)) {
        guarded_runs++;
        DTRACE_PROBE1(pybpf_bcc, guarded, (int)i);
    }
}

int main(int argc, char **argv)
{
    long n = 0;
    char line[64];

    if (argc > 1 && strcmp(argv[1], "wait") == 0) {
        printf("ready\n");
        fflush(stdout);
        if (!fgets(line, sizeof line, stdin))
            return 1;
        n = atol(line);
    } else if (argc > 1) {
        n = atol(argv[1]);
    }
    for (long i = 0; i < n; i++)
        fire(i);
    printf("done %d\n", guarded_runs);
    return 0;
}
