/* Test target for uprobe/uretprobe/uprobe_multi/USDT tests (tests/kernel/test_links_tracing*.py).
 *
 * Build: gcc -O0 -g -o target target.c   (the tests compile it into a tmp dir)
 * Usage: target N  -> calls pybpf_target_func N times, pybpf_target_other N times,
 *                     fires the USDT probes N times, then prints "done".
 *        target wait -> waits for a line on stdin first (for pid-filtered probes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_include)
#if __has_include(<sys/sdt.h>) && !defined(PYBPF_OWN_SDT)
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
#define HAVE_SYS_SDT 1
#endif
#endif

#ifndef HAVE_SYS_SDT
/* A minimal stand-in for <sys/sdt.h> (systemtap-sdt-dev): one .note.stapsdt note per probe site,
 * in the same layout (version 3 notes: pc, base, semaphore, provider, name, args). */
#define _SDT_STR(x) #x
#define _SDT_XSTR(x) _SDT_STR(x)
#define _SDT_NOTE(provider, name, sem, args_fmt, ...)                                         \
    __asm__ __volatile__(                                                                    \
        "990: nop\n"                                                                         \
        ".pushsection .note.stapsdt,\"?\",\"note\"\n"                                        \
        ".balign 4\n"                                                                        \
        ".4byte 992f-991f, 994f-993f, 3\n"                                                   \
        "991: .asciz \"stapsdt\"\n"                                                          \
        "992: .balign 4\n"                                                                   \
        "993: .8byte 990b\n"                                                                 \
        ".8byte _.stapsdt.base\n"                                                            \
        ".8byte " sem "\n"                                                                   \
        ".asciz \"" #provider "\"\n"                                                         \
        ".asciz \"" #name "\"\n"                                                             \
        ".asciz \"" args_fmt "\"\n"                                                          \
        "994: .balign 4\n"                                                                   \
        ".popsection\n"                                                                      \
        ".ifndef _.stapsdt.base\n"                                                           \
        ".pushsection .stapsdt.base,\"aG\",\"progbits\",.stapsdt.base,comdat\n"              \
        ".weak _.stapsdt.base\n"                                                             \
        ".hidden _.stapsdt.base\n"                                                           \
        "_.stapsdt.base: .space 1\n"                                                         \
        ".size _.stapsdt.base, 1\n"                                                          \
        ".popsection\n"                                                                      \
        ".endif\n" :: __VA_ARGS__)
#define DTRACE_PROBE2(provider, name, a1, a2) \
    _SDT_NOTE(provider, name, "0", "-4@%0 8@%1", "nor"((int)(a1)), "nor"((long)(a2)))
#define DTRACE_PROBE(provider, name) _SDT_NOTE(provider, name, "0", "")
#endif

/* A semaphore-guarded probe: the kernel increments pybpf_test_tick_semaphore while a
 * uprobe with ref_ctr_offset is attached. */
#ifdef HAVE_SYS_SDT
__extension__ unsigned short pybpf_test_loop_semaphore __attribute__((unused)) __attribute__((section(".probes")));
__extension__ unsigned short pybpf_test_done_semaphore __attribute__((unused)) __attribute__((section(".probes")));
__extension__ unsigned short pybpf_test_tick_semaphore __attribute__((unused)) __attribute__((section(".probes")));
#define TICK_ENABLED() __builtin_expect(pybpf_test_tick_semaphore, 0)
#define FIRE_TICK(i) STAP_PROBE1(pybpf_test, tick, i)
#else
#define TICK_ENABLED() 0
#define FIRE_TICK(i) do { } while (0)
#endif

volatile long pybpf_sink;
volatile int pybpf_tick_seen;

__attribute__((noinline)) long pybpf_target_func(long x)
{
    pybpf_sink += x;
    return x * 2;
}

__attribute__((noinline)) long pybpf_target_other(long x)
{
    pybpf_sink -= x;
    return x + 1;
}

int main(int argc, char **argv)
{
    long n = argc > 1 && strcmp(argv[1], "wait") != 0 ? atol(argv[1]) : 0;
    if (argc > 1 && strcmp(argv[1], "wait") == 0) {
        char line[64];
        printf("ready\n");
        fflush(stdout);
        if (!fgets(line, sizeof line, stdin))
            return 1;
        n = atol(line);
    }
    for (long i = 0; i < n; i++) {
        pybpf_target_func(i);
        pybpf_target_other(i);
        DTRACE_PROBE2(pybpf_test, loop, (int)i, (long)pybpf_sink);
        if (TICK_ENABLED()) {
            pybpf_tick_seen++;
            FIRE_TICK(i);
        }
    }
    DTRACE_PROBE(pybpf_test, done);
    printf("done %d\n", pybpf_tick_seen);
    return 0;
}
